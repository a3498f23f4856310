"""Long-recording alignment: AAS against sentence by sentence, wall time and peak memory.

    PYTHONPATH=src python bench/long_recordings.py --minutes 10 --model models/demo-base --window 6

Builds a recording of held-out espeak-ng test sentences with pauses (tests/longform.py),
writes it to a FLAC file, aligns it from disk with `Aligner.align_file` (block-wise energy
pass, piece-wise reads), aligns the same sentences one by one, and prints AAS for both,
wall time, and the process's peak resident memory (ru_maxrss) before and after.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from alignadapt.evaluation.metrics import slot_errors_ms  # noqa: E402
from alignadapt.inference.aligner import Aligner, AlignerSettings  # noqa: E402
from alignadapt.model.prompt import SAMPLE_RATE, split_units  # noqa: E402
from tests.longform import spoken_recording  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default="models/demo-base")
    parser.add_argument("--window", type=float, default=6.0, help="demo base: short calls")
    parser.add_argument("--overlap", type=float, default=0.0)
    parser.add_argument("--skip-one-by-one", action="store_true")
    args = parser.parse_args()
    rec = spoken_recording(args.minutes * 60)
    settings = AlignerSettings(window=args.window, overlap=args.overlap)
    aligner = Aligner.load(args.model, settings=settings)
    units = split_units(aligner.processor, rec.text, "English")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "talk.flac"
        sf.write(path, rec.audio, SAMPLE_RATE, subtype="PCM_16")
        del rec.audio
        before = peak_mib()
        t0 = time.perf_counter()
        result = aligner.align_file(path, units)
        wall = time.perf_counter() - t0
    err = slot_errors_ms(result.decoded["argmax"].times, rec.reference.ravel())
    print(f"{args.minutes:g} min, {len(units)} units, {len(result.pieces)} pieces")
    print(
        f"long: AAS {err.mean():.1f} ms, wall {wall:.1f} s, peak RSS {before:.0f} -> {peak_mib():.0f} MiB"
    )
    print(f"gaps: {len(result.gaps)}")
    if not args.skip_one_by_one:
        res = aligner.align(
            rec.clips, [split_units(aligner.processor, t, "English") for t in rec.texts]
        )
        one = np.concatenate(
            [
                slot_errors_ms(r.decoded["argmax"].times, s.ravel())
                for r, s in zip(res, rec.spans, strict=True)
            ]
        )
        print(f"sentence by sentence: AAS {one.mean():.1f} ms")


if __name__ == "__main__":
    main()
