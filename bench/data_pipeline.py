"""Data pipeline benchmark: throughput per worker, padding with and without length buckets,
and peak memory against manifest size. Prints the figures; needs no GPU and no download.

    .venv/bin/python bench/data_pipeline.py            # or: make bench
    .venv/bin/python bench/data_pipeline.py --quick    # smaller memory sizes (10k, 100k lines)

1. Throughput: audio seconds delivered per second by one worker (one process, one torch
   thread) for everything a worker does per batch: decode, resample to 16 kHz, log-mel
   features, prompt (chat template + tokenizer) and collate with labels. Input: the same
   corpus as 16 kHz FLAC and as 44.1 kHz WAV. Batches come from the audio-seconds budget
   plan, so the processor runs once per batch. The tiny model's processor is used: its
   feature extractor is the real one; its tokenizer is smaller than the real one.
2. Padding: share of the padded audio that is padding, for a realistic spread of durations,
   batching by utterance count (random) versus by an audio budget with length buckets.
3. Memory: peak resident memory added by checking and indexing a manifest (the data
   module's setup) of 10k, 100k and 1M lines, each size in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alignadapt.data.audio import SAMPLE_RATE  # noqa: E402
from alignadapt.data.sampling import BatchPlan, padding_share  # noqa: E402
from alignadapt.demo.synthetic import SyntheticSpec, render_utterance  # noqa: E402


def tiny_model(work: Path) -> Path:
    from alignadapt.demo.tiny import build_tiny_aligner

    cached = ROOT / ".cache" / "tiny-aligner"
    return cached if (cached / "config.json").exists() else build_tiny_aligner(work / "tiny")


def make_corpus(
    n: int, seconds: tuple[float, float] = (4.0, 20.0), seed: int = 0
) -> list[tuple[np.ndarray, list, str]]:
    """n recordings of about `seconds` (low, high): synthetic words joined end to end, with
    exact word times."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        target = rng.uniform(*seconds)
        audio, words, spans, t = [], [], [], 0.0
        while t < target:
            clip, text, clip_spans = render_utterance(rng, SyntheticSpec())
            audio.append(clip)
            words += text.split()
            spans += [(s + t, e + t) for s, e in clip_spans]
            t += len(clip) / SAMPLE_RATE
        out.append((np.concatenate(audio), list(zip(words, spans, strict=True)), ""))
    return out


def write_manifest(work: Path, corpus, rate: int, fmt: str, name: str = "") -> Path:
    folder = work / f"{fmt}_{rate}{name}"
    folder.mkdir()
    lines = []
    for i, (audio, words, _) in enumerate(corpus):
        name = f"{i:04d}.{fmt}"
        if rate != SAMPLE_RATE:
            import torchaudio.functional as AF

            audio = AF.resample(torch.from_numpy(audio), SAMPLE_RATE, rate).numpy()
        sf.write(folder / name, audio, rate, subtype="PCM_16")
        lines.append(
            {
                "audio_path": name,
                "text": " ".join(w for w, _ in words),
                "language": "English",
                "words": [{"word": w, "start": s, "end": e} for w, (s, e) in words],
            }
        )
    path = folder / "m.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def throughput(
    model: Path, manifest: Path, budget: float, repeats: int = 2, per_utterance: bool = False
) -> float:
    """Audio seconds per second for one worker over the whole manifest; `per_utterance`
    calls the processor once per utterance instead of once per batch (for comparison)."""
    from transformers import AutoConfig, Qwen3ASRProcessor

    from alignadapt.data.datamodule import Collator, ManifestDataset

    processor = Qwen3ASRProcessor.from_pretrained(model)
    config = AutoConfig.from_pretrained(model)
    collate = Collator(processor, config.timestamp_token_id, 80.0, 10_000)
    dataset = ManifestDataset(manifest, processor)
    dataset.check(require_labels=True, max_duration=30.0, progress=False)
    plan = BatchPlan(dataset.durations, max_seconds=budget, shuffle=True, seed=0)
    collate(dataset[next(iter(plan))])  # warm up (template compile, allocator)
    seconds, start = 0.0, time.perf_counter()
    for epoch in range(repeats):
        plan.set_epoch(epoch)
        for key in plan:
            examples = dataset[key]
            for group in [[e] for e in examples] if per_utterance else [examples]:
                seconds += collate(group)["audio_seconds"]
    return seconds / (time.perf_counter() - start)


MEMORY_CHILD = r"""
import json, sys, threading, time
sys.path.insert(0, {src!r})
from transformers import Qwen3ASRProcessor
from alignadapt.data.datamodule import ManifestDataset
from alignadapt.data.sampling import BatchPlan
processor = Qwen3ASRProcessor.from_pretrained({model!r})
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
def setup(path):
    ds = ManifestDataset(path, processor)
    ds.check(require_labels=True, max_duration=30.0, progress=False)
    return ds, BatchPlan(ds.durations, max_seconds=120.0, shuffle=True, seed=0)
setup({warmup!r})  # the same code once on 1,000 lines: imports, caches, allocator pools
before, peak, done = rss(), [0], threading.Event()
def watch():  # resident memory sampled every 5 ms while setup runs
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
watcher = threading.Thread(target=watch)
watcher.start()
start = time.perf_counter()
ds, plan = setup({manifest!r})
seconds = time.perf_counter() - start
done.set()
watcher.join()
index = sum(a.nbytes for a in (ds.offsets, ds.lines, ds.durations, ds.segments))
print(json.dumps({{"lines": len(ds), "peak": max(peak[0], rss()) - before, "kept": rss() - before,
                  "index": index, "seconds": seconds}}))
"""


def memory(model: Path, work: Path, sizes: list[int], audio: Path) -> list[dict]:
    rows = []
    text = "the patient presents with acute chest pain"
    line = {
        "audio_path": str(audio),
        "text": text,
        "language": "English",
        "duration": 4.0,
        "words": [
            {"word": w, "start": 0.1 + 0.5 * i, "end": 0.4 + 0.5 * i}
            for i, w in enumerate(text.split())
        ],
    }
    raw = (json.dumps(line) + "\n").encode()
    warmup = work / "mem_warmup.jsonl"
    warmup.write_bytes(raw * 1000)
    for size in sizes:
        manifest = work / f"mem_{size}.jsonl"
        with open(manifest, "wb") as f:
            for _ in range(size // 10_000):
                f.write(raw * 10_000)
        code = MEMORY_CHILD.format(
            src=str(ROOT / "src"), model=str(model), manifest=str(manifest), warmup=str(warmup)
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["manifest_bytes"] = manifest.stat().st_size
        rows.append(row)
        manifest.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="memory at 10k and 100k lines only")
    parser.add_argument("--recordings", type=int, default=48, help="throughput corpus size")
    parser.add_argument("--budget", type=float, default=120.0, help="padded seconds per batch")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one worker = one process with one thread
    with tempfile.TemporaryDirectory(prefix="alignadapt-bench-") as tmp:
        work = Path(tmp)
        model = tiny_model(work)
        corpus = make_corpus(args.recordings)
        hours = sum(len(a) for a, _, _ in corpus) / SAMPLE_RATE / 3600
        print(f"corpus: {len(corpus)} recordings, {hours * 3600:.0f} s of audio (4-20 s each)")
        print(f"torch threads: {torch.get_num_threads()}, batches of <= {args.budget:g} padded s")
        print("\n1. throughput per worker (decode + resample + features + prompt + collate)")
        for rate, fmt in ((16_000, "flac"), (44_100, "wav")):
            manifest = write_manifest(work, corpus, rate, fmt)
            speed = throughput(model, manifest, args.budget)
            print(f"   {rate / 1000:g} kHz {fmt.upper():5s} {speed:8.0f} audio s/s per worker")
            if fmt == "flac":
                single = throughput(model, manifest, args.budget, repeats=1, per_utterance=True)
                print(f"   16 kHz FLAC, processor called per utterance: {single:5.0f} audio s/s")
        short = write_manifest(
            work, make_corpus(4 * args.recordings, (1.0, 3.0)), 16_000, "flac", "s"
        )
        batched = throughput(model, short, args.budget)
        single = throughput(model, short, args.budget, repeats=1, per_utterance=True)
        print(
            f"   short clips (1-4 s) 16 kHz FLAC: {batched:.0f} audio s/s batched, "
            f"{single:.0f} with the processor called per utterance"
        )

        print("\n2. padding share (10,000 durations, log-normal, median 6 s, 1-30 s)")
        rng = np.random.default_rng(0)
        d = np.clip(rng.lognormal(np.log(6.0), 0.6, 10_000), 1.0, 30.0).astype(np.float32)
        bucketed = BatchPlan(d, max_seconds=args.budget, shuffle=True, seed=0)
        mean = round(len(d) / len(bucketed))
        counted = BatchPlan(d, batch_size=mean, shuffle=True, seed=0)
        for name, plan in (
            (f"count, {mean} a batch, random", counted),
            ("budget + buckets", bucketed),
        ):
            batches = [b for _, b in plan]
            print(f"   {name:28s} {padding_share(batches, d):6.1%} padding, {len(batches)} batches")

        print("\n3. peak memory of setup (check + index) against manifest size, fresh process each")
        sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
        audio = work / "flac_16000" / "0000.flac"
        for row in memory(model, work, sizes, audio):
            print(
                f"   {row['lines']:>9,} lines ({row['manifest_bytes'] / 1e6:7.1f} MB manifest): "
                f"peak +{row['peak'] / 1e6:6.1f} MB, kept +{row['kept'] / 1e6:6.1f} MB, "
                f"index {row['index'] / 1e6:5.1f} MB ({row['index'] / row['lines']:.0f} B/line), "
                f"setup {row['seconds']:.0f} s"
            )


if __name__ == "__main__":
    main()
