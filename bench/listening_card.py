"""The model card's listening rows: AAS with a model's own audio, with another recording's, and
with silence, on unseen voices and sentences.

    PYTHONPATH=src python bench/listening_card.py                      # models/demo-base
    PYTHONPATH=src python bench/listening_card.py --model logs/x/adapter --count 8

Utterances are those of `tests/test_listening.py::test_shipped_base_listens` (English, test
voices and sentences, seeds [7, i], 3 + i seconds), made twice: with silences that text and
length cannot predict (0-3 s at the ends, pauses to 2.5 s: "wide") and with the fixed test
sets' narrow ones (0.05-0.5 s ends, 0.1-1 s pauses). Each is aligned with its own audio, with
the next recording's audio in its place (`evaluation.listening.donor_audios`) and with zeros.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def aas(aligner, played: list[np.ndarray], units: list, refs: list[np.ndarray]) -> float:
    """AAS in ms over every start and end of `units` aligned on `played`."""
    done = aligner.align(played, units)
    errors = [np.abs(a.decoded["argmax"].times - r) for a, r in zip(done, refs, strict=True)]
    return 1000 * float(np.concatenate(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "demo-base"))
    parser.add_argument("--count", type=int, default=8, help="utterances per row")
    args = parser.parse_args()

    from alignadapt.demo.broad import Timing, make_utterance
    from alignadapt.demo.espeak import IsolatedEspeak
    from alignadapt.evaluation.listening import donor_audios
    from alignadapt.inference.aligner import Aligner
    from alignadapt.model.prompt import split_units

    aligner = Aligner.load(args.model)
    engine = IsolatedEspeak()
    rows = {
        "wide": Timing(
            lead_s=(0.0, 3.0), tail_s=(0.0, 3.0), pause_s=(0.1, 2.5), max_edge_share=0.34
        ),
        "narrow": Timing(),
    }
    print(f"model {args.model}: AAS over starts and ends, {args.count} unseen English utterances")
    print("| silences | own audio | another recording's | silence |")
    print("|---|---|---|---|")
    for name, timing in rows.items():
        audios, units, refs = [], [], []
        for i in range(args.count):
            utt = make_utterance(
                engine, np.random.default_rng([7, i]), "en", 3.0 + i, split="test", timing=timing
            )
            u = split_units(aligner.processor, utt.text, utt.language)
            if len(u) != len(utt.words):
                continue
            audios.append(utt.audio)
            units.append(u)
            refs.append(np.asarray([(s, e) for _, s, e in utt.words]).ravel())

        own = aas(aligner, audios, units, refs)
        swapped = aas(aligner, donor_audios(audios), units, refs)
        silent = aas(aligner, [np.zeros_like(a) for a in audios], units, refs)
        print(
            f"| {name} ({len(audios)} utterances) | {own:.0f} ms | {swapped:.0f} ms "
            f"({swapped / own:.2f}x) | {silent:.0f} ms ({silent / own:.1f}x) |"
        )


if __name__ == "__main__":
    main()
