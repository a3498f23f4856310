"""The model card's listening rows: AAS with a model's own audio, with another recording's, and
with silence, on unseen voices and sentences.

    PYTHONPATH=src python bench/listening_card.py                      # models/demo-base
    PYTHONPATH=src python bench/listening_card.py --model logs/x/adapter --count 8

Utterances are those of `tests/test_listening.py::test_shipped_base_listens`
(`alignadapt.demo.listening_probe`: English, test voices and sentences, seeds [7, i], 3 + i
seconds), made twice: with silences that text and length cannot predict (0-3 s at the ends,
pauses to 2.5 s: "wide") and with the fixed test sets' narrow ones (0.05-0.5 s ends, 0.1-1 s
pauses). Each is aligned with its own audio, with the next recording's audio in its place
(`evaluation.listening.donor_audios`) and with zeros.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "demo-base"))
    parser.add_argument("--count", type=int, default=8, help="utterances per row")
    args = parser.parse_args()

    from alignadapt.demo.espeak import IsolatedEspeak
    from alignadapt.demo.listening_probe import NARROW, WIDE, listening_errors, probe_set
    from alignadapt.inference.aligner import Aligner

    aligner = Aligner.load(args.model)
    engine = IsolatedEspeak()
    print(f"model {args.model}: AAS over starts and ends, {args.count} unseen English utterances")
    print("| silences | own audio | another recording's | silence |")
    print("|---|---|---|---|")
    for name, timing in {"wide": WIDE, "narrow": NARROW}.items():
        probe = probe_set(engine, aligner.processor, args.count, timing)
        aas = {k: 1000 * float(v.mean()) for k, v in listening_errors(aligner, probe).items()}
        own, swapped, silent = aas["own"], aas["swapped"], aas["silence"]
        print(
            f"| {name} ({len(probe.audios)} utterances) | {own:.0f} ms | {swapped:.0f} ms "
            f"({swapped / own:.2f}x) | {silent:.0f} ms ({silent / own:.1f}x) |"
        )


if __name__ == "__main__":
    main()
