"""Long-recording alignment: AAS against sentence by sentence, wall time and peak memory.

    PYTHONPATH=src python bench/long_recordings.py --minutes 3                 # demo base
    PYTHONPATH=src python bench/long_recordings.py --minutes 60 --stand-in     # pipeline only
    PYTHONPATH=src python bench/long_recordings.py --minutes 3 --unspoken      # + a sentence
                                                          # in the transcript nobody says
    PYTHONPATH=src python bench/long_recordings.py --minutes 3 --music         # + 30 s of
                                                          # music nobody speaks over
    PYTHONPATH=src python bench/long_recordings.py --minutes 3 --other-speaker # + 30 s of
                                                          # a second voice not in the transcript
    PYTHONPATH=src python bench/long_recordings.py --minutes 1 --save times.json  # + every
                                                          # run's times and gaps, for a compare

Also prints the naive baseline's AAS on the same recording, over the whole of it and
sentence by sentence.

Builds a recording of held-out espeak-ng test sentences with pauses (tests/longform.py),
writes it to a FLAC file, then aligns it from disk (`Aligner.align_many`: block-wise energy
pass, piece-wise reads) in a fresh process, so the peak resident memory printed is that of
aligning alone. `--stand-in` replaces the model with a call that spreads each piece's units
evenly (no forward pass): it times and sizes everything around the model. Without it the
demo base runs with `--window 6` (its error grows with the place in a call: short calls), and the
same sentences are also aligned one by one, each in one call of its own whatever `--window`
says, for the AAS comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MUSIC_S = 30.0
OTHER_S = 30.0
UNSPOKEN = "the committee approved the new budget after a long and difficult debate"


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss, which a
    child started from a big parent inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def align_from_disk(args: argparse.Namespace) -> None:
    """The measured part, in its own process: prints times and peak memory as JSON."""
    from alignadapt.inference.aligner import Aligner, AlignerSettings, AlignRequest
    from alignadapt.model.decoding import Decoded

    settings = AlignerSettings(window=args.window, overlap=0.0)
    aligner = Aligner.load(args.model, settings=settings)
    request = AlignRequest(args.align[0], Path(args.align[1]).read_text(), language="English")
    if args.stand_in:

        def spread(batch):
            out = []
            for _, audio, unit_list in batch:
                edges = np.linspace(0, len(audio) / 16000, 2 * len(unit_list) + 1)[:-1]
                n = len(edges)
                out.append({"argmax": Decoded(edges, 0, np.ones(n), np.zeros(n, bool))})
            return out

        aligner.run_pieces = spread
    loaded = peak_mib()
    start = time.perf_counter()
    ((_, done),) = aligner.align_many([request])
    wall = time.perf_counter() - start
    result = done.alignment
    np.save(args.align[2], result.decoded["argmax"].times)
    peak = peak_mib()
    print(
        json.dumps(
            {
                "wall_s": wall,
                "loaded_mib": loaded,
                "peak_mib": peak,
                "pieces": len(result.pieces),
                "gaps": [vars(g) for g in result.gaps],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--model", default=str(ROOT / "models" / "demo-base"))
    parser.add_argument("--window", type=float, default=6.0, help="demo base: short calls")
    parser.add_argument("--stand-in", action="store_true", help="no model: the pipeline alone")
    parser.add_argument(
        "--unspoken", action="store_true", help="also align with a sentence nobody says inserted"
    )
    parser.add_argument(
        "--music", action="store_true", help="also align with 30 s of music put in the middle"
    )
    parser.add_argument(
        "--other-speaker",
        action="store_true",
        help="also align with 30 s of a second voice the transcript leaves out put in the middle",
    )
    parser.add_argument(
        "--save", type=Path, help="write every run's times and gaps as JSON (same_outputs.py)"
    )
    parser.add_argument("--align", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.align:
        return align_from_disk(args)
    sys.path.insert(0, str(ROOT))
    from alignadapt.evaluation.metrics import slot_errors_ms
    from alignadapt.evaluation.naive import naive_align
    from alignadapt.inference.aligner import Aligner, AlignerSettings, AlignRequest
    from alignadapt.inference.batching import in_input_order
    from alignadapt.model.prompt import SAMPLE_RATE, split_units
    from tests.longform import music, other_speaker, spoken_recording, with_sound

    rec = spoken_recording(args.minutes * 60)
    aligner = Aligner.load(args.model, settings=AlignerSettings(window=args.window))
    units = split_units(aligner.processor, rec.text, "English")
    with tempfile.TemporaryDirectory() as tmp:
        audio, text, times = Path(tmp) / "talk.flac", Path(tmp) / "units.txt", Path(tmp) / "t.npy"
        sf.write(audio, rec.audio, SAMPLE_RATE, subtype="PCM_16")
        text.write_text(rec.text)  # punctuation places unspoken text

        def in_process() -> tuple[dict, np.ndarray]:
            command = [sys.executable, __file__, "--align", str(audio), str(text), str(times)]
            command += ["--model", args.model, "--window", str(args.window)]
            command += ["--stand-in"] if args.stand_in else []
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            return json.loads(done.stdout.strip().splitlines()[-1]), np.load(times)

        stats, predicted = in_process()
        if args.unspoken and not args.stand_in:  # the transcript with a sentence nobody says
            middle = len(rec.texts) // 2
            text.write_text(". ".join([*rec.texts[:middle], UNSPOKEN, *rec.texts[middle:]]) + ".")
            first = len(split_units(aligner.processor, ". ".join(rec.texts[:middle]), "English"))
            extra = len(split_units(aligner.processor, UNSPOKEN, "English"))
            with_extra, extra_times = in_process()
        # sound nobody in the transcript makes, put in the middle; the same transcript
        sounds = [("music", "the music", args.music, lambda: music(MUSIC_S))]
        sounds += [("other speaker", "them", args.other_speaker, lambda: other_speaker(OTHER_S))]
        inserted = []
        for name, without, wanted, make in sounds:
            if not wanted or args.stand_in:
                continue
            text.write_text(rec.text)
            played, reference, place = with_sound(rec, make())
            sf.write(audio, played, SAMPLE_RATE, subtype="PCM_16")
            inserted.append((name, without, reference, place, *in_process()))
    if args.save:  # what a refactor must not change: times and gaps, not wall time or memory
        runs = {"long": (stats, predicted)}
        if args.unspoken and not args.stand_in:
            runs["unspoken"] = (with_extra, extra_times)
        runs |= {name: (found, times) for name, _, _, _, found, times in inserted}
        saved = {k: {"times": t.tolist(), "gaps": s["gaps"]} for k, (s, t) in runs.items()}
        args.save.write_text(json.dumps(saved, indent=1))
    hours = len(rec.audio) / SAMPLE_RATE / 3600
    print(f"{args.minutes:g} min, {len(units)} units, {stats['pieces']} pieces")
    print(
        f"from disk: wall {stats['wall_s']:.1f} s ({stats['wall_s'] / hours / 60:.1f} min per "
        f"hour of audio), peak RSS {stats['loaded_mib']:.0f} MiB with the model loaded, "
        f"{stats['peak_mib']:.0f} MiB after aligning"
    )
    if args.stand_in:
        return
    long_aas = slot_errors_ms(predicted, rec.reference.ravel()).mean()
    # the reference: each sentence's clip in one call of its own (the model's whole window),
    # whatever --window cuts the long recording into; the loaded model, default settings
    whole_calls = Aligner(aligner.model, aligner.processor, label=aligner.label)
    clips = [AlignRequest(clip, text) for clip, text in zip(rec.clips, rec.texts, strict=True)]
    singles = in_input_order(whole_calls.align_many(clips), len(clips))
    one = np.concatenate(
        [
            slot_errors_ms(r.decoded.times, s.ravel())
            for r, s in zip(singles, rec.spans, strict=True)
        ]
    )
    print(
        f"AAS: long {long_aas:.1f} ms, sentence by sentence {one.mean():.1f} ms "
        f"({long_aas / one.mean():.2f}x; each sentence in one call)"
    )
    # the naive baseline (units spread over the voiced span by length): over the whole
    # recording, which is what a user without a model has, and over each sentence's own clip,
    # which needs the sentence boundaries a user does not have
    naive_long = slot_errors_ms(naive_align(rec.audio, units), rec.reference.ravel()).mean()
    naive_one = np.concatenate(
        [
            slot_errors_ms(
                naive_align(clip, split_units(aligner.processor, text, "English")), s.ravel()
            )
            for clip, text, s in zip(rec.clips, rec.texts, rec.spans, strict=True)
        ]
    )
    print(
        f"naive: long {naive_long:.1f} ms, sentence by sentence {naive_one.mean():.1f} ms "
        f"(given each sentence's clip)"
    )
    if args.unspoken:
        slots = extra_times.reshape(-1, 2)
        rest = np.concatenate([slots[:first], slots[first + extra :]]).ravel()
        rest_aas = slot_errors_ms(rest, rec.reference.ravel()).mean()
        flagged = [g for g in with_extra["gaps"] if g["kind"] == "words not in the audio"]
        where = [
            (g["first"], g["count"], round(g["start"], 2), round(g["end"], 2)) for g in flagged
        ]
        print(
            f"unspoken sentence (units {first}-{first + extra - 1}, between "
            f"{rec.offsets[middle - 1] + rec.spans[middle - 1][-1, 1]:.2f} and "
            f"{rec.offsets[middle] + rec.spans[middle][0, 0]:.2f} s): flagged (first unit, count, "
            f"start, end) {where}; AAS of the other words {rest_aas:.1f} ms "
            f"(without the sentence: {long_aas:.1f} ms)"
        )

    for name, without, reference, (start, end), found, times in inserted:
        aas = slot_errors_ms(times, reference.ravel()).mean()
        heard = [
            (round(g["start"], 2), round(g["end"], 2))
            for g in found["gaps"]
            if g["kind"] == "audio without words"
        ]
        print(
            f"{name} ({start:.2f}-{end:.2f} s): flagged audio without words {heard}; AAS of "
            f"the words {aas:.1f} ms (without {without}: {long_aas:.1f} ms)"
        )


if __name__ == "__main__":
    main()
