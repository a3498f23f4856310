"""Inference throughput with length-sorted batches against batches in input order.

    python bench/inference_batching.py                        # tiny model, synthetic mixed lengths
    python bench/inference_batching.py --model models/demo-base --manifest data/demo/domain_test.jsonl
    python bench/inference_batching.py --model Qwen/Qwen3-ForcedAligner-0.6B-hf --device cuda \
        --dtype bfloat16 --manifest test.jsonl --batch-size 16

Runs the aligner over every line twice, through the one batching helper evaluate,
pseudo-labelling and align use (alignadapt.inference.batching), once sorted by length and
once in input order, and prints audio seconds per second and the share of the batched audio
that is padding. Without --manifest it synthesises a manifest of mixed lengths (tone words,
1 to about 25 s: the synthetic corpus, not speech) in a temporary folder. It also checks the
two orders give the same timestamps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from alignadapt.data.audio import load_audio
from alignadapt.data.manifest import Utterance, iter_manifest, to_record, write_jsonl
from alignadapt.data.sampling import padding_share
from alignadapt.demo.synthetic import SyntheticSpec, render_utterance
from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
from alignadapt.inference.aligner import Aligner, AlignerSettings, AlignRequest
from alignadapt.inference.batching import (
    in_input_order,
    length_sorted_batches,
)
from alignadapt.model.prompt import SAMPLE_RATE


def mixed_manifest(folder: Path, n: int, seed: int = 0) -> Path:
    """n synthetic utterances of 2 to 60 words (about 1 to 25 s), shuffled."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        words = int(rng.integers(2, 61))
        audio, text, spans = render_utterance(rng, SyntheticSpec(min_words=words, max_words=words))
        path = folder / f"mixed_{i:03d}.wav"
        sf.write(path, audio, SAMPLE_RATE)
        utt = Utterance(path, text, [tuple(s) for s in spans], "English", len(audio) / SAMPLE_RATE)
        records.append(to_record(utt, text.split(), relative_to=folder))
    return write_jsonl(folder / "mixed.jsonl", records, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir or hub id (default: tiny model)")
    parser.add_argument("--manifest", default=None, help="default: a synthetic mixed-length one")
    parser.add_argument("--lines", type=int, default=64, help="synthetic lines (no --manifest)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    model = args.model or str(build_tiny_aligner(".cache/tiny-aligner", TinySpec()))
    settings = AlignerSettings(batch_size=args.batch_size, device=args.device, dtype=args.dtype)
    aligner = Aligner.load(model, settings=settings)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(args.manifest) if args.manifest else mixed_manifest(Path(tmp), args.lines)
        utts = list(iter_manifest(manifest))
        audios = [load_audio(u.audio_path, channel=u.channel) for u in utts]
    requests = [
        aligner.prepare(AlignRequest(a, u.text, language=u.language))
        for a, u in zip(audios, utts, strict=True)
    ]
    lengths = [r.seconds for r in requests]

    in_input_order(aligner.align_many(requests[:2]), min(2, len(requests)))  # warm-up
    print(
        f"{manifest if args.manifest else 'synthetic mixed lengths'}: {len(utts)} recordings, "
        f"{sum(lengths):.0f} s, {min(lengths):.1f} to {max(lengths):.1f} s; model {model} on "
        f"{args.device}, batch {args.batch_size}"
    )
    times = {}
    for label, sort in (("input order", False), ("sorted", True)):
        batches = length_sorted_batches(lengths, args.batch_size, sort)
        share = padding_share(batches, np.asarray(lengths))
        started = time.perf_counter()
        results = in_input_order(aligner.align_many(requests, sort=sort), len(utts))
        seconds = time.perf_counter() - started
        times[label] = [r.decoded.times for r in results]
        print(
            f"{label:>12}: {sum(lengths) / seconds:8.1f} audio s/s, padding {share:6.1%} of the "
            f"batched audio ({seconds:.1f} s)"
        )
    same = all(
        np.array_equal(a, b) for a, b in zip(times["sorted"], times["input order"], strict=True)
    )
    print(f"identical timestamps in both orders: {same}")


if __name__ == "__main__":
    main()
