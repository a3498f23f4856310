"""Data at scale benchmark: JSONL + FLAC files against Lhotse Shar shards, local and from an
S3-compatible server on 127.0.0.1. Prints the figures; needs no GPU and no download.

    .venv/bin/python bench/shar_pipeline.py            # or: make bench-shar
    .venv/bin/python bench/shar_pipeline.py --quick    # smaller corpora and manifests

1. Throughput per worker: audio seconds delivered per second by one process (one torch
   thread) doing everything a worker does: read (file, shard tar, or S3 GET), decode,
   resample, features, prompt, collate with labels. The same corpus three ways: JSONL +
   16 kHz FLAC files (the data=manifest path), local Shar shards, and the same shards on
   moto's S3 server on 127.0.0.1 (real HTTP, no network latency: a remote store adds its
   round trips, hidden by the workers' prefetching). Also the padding share of the batches.
2. Peak memory of the shard stream against corpus size: the stream holds `buffer_size`
   cuts of metadata plus the audio of the batches in flight, so it should stay flat.
3. Batches per rank on 2 ranks: what each rank's own shards give in one pass over the
   corpus; training runs by steps on the endless stream, so both ranks step equally.
4. Start-up over a 1,000,000-line manifest (100,000 with --quick): the first check, and a
   second start of the unchanged manifest from the index cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from data_pipeline import make_corpus, tiny_model, write_manifest  # noqa: E402


def splitter(processor):
    from alignadapt.model.prompt import split_units

    return lambda text, language: split_units(processor, text, language)


def padding(batches: list[list[float]]) -> float:
    padded = sum(max(b) * len(b) for b in batches)
    return 1.0 - sum(sum(b) for b in batches) / padded


def jsonl_throughput(processor, collate, manifest: Path, budget: float) -> tuple[float, float]:
    from alignadapt.data.datamodule import ManifestDataset
    from alignadapt.data.sampling import BatchPlan

    dataset = ManifestDataset(manifest, processor, index_cache=False)
    dataset.check(require_labels=True, max_duration=30.0, progress=False)
    plan = BatchPlan(dataset.durations, max_seconds=budget, shuffle=True, seed=0)
    collate(dataset[next(iter(plan))])  # warm up
    seconds, start, lengths = 0.0, time.perf_counter(), []
    for key in plan:
        examples = dataset[key]
        lengths.append([len(e.audio) / 16000 for e in examples])
        seconds += collate(examples)["audio_seconds"]
    return seconds / (time.perf_counter() - start), padding(lengths)


def shar_throughput(processor, collate, location: str, budget: float, total: float):
    from alignadapt.data.shar import read_index
    from alignadapt.data.shar_stream import ShardStream

    # a buffer of half the corpus: a real corpus is far larger than the buffer (2000 cuts by
    # default); a buffer larger than this tiny corpus would re-read it dozens of times over
    index = read_index(location)
    stream = ShardStream(index, processor, max_seconds=budget, buffer_size=sum(index.counts) // 2)
    seconds, lengths, start = 0.0, [], None
    for batch in stream:
        if start is None:  # the first batch warms up like the JSONL run's
            collate(batch)
            start = time.perf_counter()
            continue
        lengths.append([len(e.audio) / 16000 for e in batch])
        seconds += collate(batch)["audio_seconds"]
        if seconds >= total:
            break
    return seconds / (time.perf_counter() - start), padding(lengths)


MEMORY_CHILD = r"""
import json, sys, threading, time
sys.path.insert(0, {src!r})
import torch
torch.set_num_threads(1)
from transformers import Qwen3ASRProcessor
from alignadapt.data.shar import read_index
from alignadapt.data.shar_stream import ShardStream
processor = Qwen3ASRProcessor.from_pretrained({model!r})
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
stream = ShardStream(read_index({location!r}), processor, max_seconds=16.0, buffer_size=500)
it = iter(stream)
for _ in range(20):
    next(it)  # warm: imports, first shards, allocator pools
before, peak, done = rss(), [0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
watcher = threading.Thread(target=watch)
watcher.start()
cuts = 0
for _ in range({batches}):
    cuts += len(next(it))
done.set()
watcher.join()
print(json.dumps({{"peak": max(peak[0], rss()) - before, "cuts": cuts, "rss": rss()}}))
"""


def shard_memory(model: Path, work: Path, processor, sizes: list[int]) -> list[dict]:
    """Peak memory added while streaming 300 batches, for corpora of `sizes` cuts (1 s clips)."""
    from alignadapt.data.shar import write_shards

    corpus = make_corpus(50, (0.8, 1.2), seed=3)
    base = write_manifest(work, corpus, 16_000, "flac", "_mem")
    lines = base.read_text().splitlines()
    rows = []
    for size in sizes:
        manifest = base.parent / f"mem_{size}.jsonl"
        manifest.write_text("".join(lines[i % len(lines)] + "\n" for i in range(size)))
        location = str(work / f"shar_mem_{size}")
        write_shards(manifest, location, splitter(processor), shard_size=500, progress=False)
        code = MEMORY_CHILD.format(
            src=str(ROOT / "src"), model=str(model), location=location, batches=300
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["size"] = size
        rows.append(row)
    return rows


def startup(processor, work: Path, lines: int, audio: Path) -> tuple[float, float]:
    from alignadapt.data.datamodule import ManifestDataset

    text = "the patient presents with acute chest pain"
    line = {
        "audio_path": str(audio),
        "text": text,
        "language": "English",
        "words": [
            {"word": w, "start": 0.1 + 0.1 * i, "end": 0.15 + 0.1 * i}
            for i, w in enumerate(text.split())
        ],
    }
    manifest = work / f"start_{lines}.jsonl"
    raw = (json.dumps(line) + "\n").encode()
    with open(manifest, "wb") as f:
        for _ in range(lines // 10_000):
            f.write(raw * 10_000)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        ManifestDataset(manifest, processor).check(require_labels=True, progress=False)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpora and manifests")
    parser.add_argument("--recordings", type=int, default=48, help="throughput corpus size")
    parser.add_argument("--budget", type=float, default=120.0, help="audio seconds per batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="alignadapt-bench-") as tmp:
        work = Path(tmp)
        os.environ["ALIGNADAPT_CACHE_DIR"] = str(work / "cache")  # not the user's cache
        from transformers import AutoConfig, Qwen3ASRProcessor

        from alignadapt.data.datamodule import Collator
        from alignadapt.data.shar import write_shards

        model = tiny_model(work)
        processor = Qwen3ASRProcessor.from_pretrained(model)
        config = AutoConfig.from_pretrained(model)
        collate = Collator(processor, config.timestamp_token_id, 80.0, 10_000)
        corpus = make_corpus(args.recordings)
        total = sum(len(a) for a, _, _ in corpus) / 16000
        manifest = write_manifest(work, corpus, 16_000, "flac")
        print(f"corpus: {len(corpus)} recordings, {total:.0f} s of audio (4-20 s each)")

        print("\n1. throughput per worker (read + decode + features + prompt + collate)")
        speed, pad = jsonl_throughput(processor, collate, manifest, args.budget)
        print(f"   JSONL + FLAC files      {speed:7.0f} audio s/s   padding {pad:5.1%}")
        local = work / "shar_local"
        write_shards(manifest, local, splitter(processor), shard_size=8, progress=False)
        speed, pad = shar_throughput(processor, collate, str(local), args.budget, total)
        print(f"   Shar, local folder      {speed:7.0f} audio s/s   padding {pad:5.1%}")
        from tests.s3_server import S3Server

        with S3Server() as s3:
            s3.make_bucket("bench")
            write_shards(manifest, "s3://bench/train", splitter(processor), 8, progress=False)
            speed, pad = shar_throughput(processor, collate, "s3://bench/train", args.budget, total)
        print(f"   Shar, S3 on 127.0.0.1   {speed:7.0f} audio s/s   padding {pad:5.1%}")

        print("\n2. shard stream: peak memory while streaming 300 batches, by corpus size")
        sizes = [1_000, 4_000] if args.quick else [1_000, 4_000, 16_000]
        for row in shard_memory(model, work, processor, sizes):
            print(
                f"   {row['size']:>7,} cuts: peak +{row['peak'] / 1e6:6.1f} MB over the warm "
                f"stream (resident {row['rss'] / 1e6:6.0f} MB, {row['cuts']} cuts read)"
            )

        print("\n3. batches per rank on 2 ranks, one pass over the corpus (shards of 8 cuts)")
        from alignadapt.data.shar import read_index
        from alignadapt.data.shar_stream import ShardStream

        index = read_index(local)
        for rank in (0, 1):
            stream = ShardStream(index, processor, args.budget, buffer_size=len(corpus) // 4)
            stream.rank, stream.world_size = rank, 2
            shards = stream.shards_of_pass(0, rank, 2)
            cuts = sum(index.counts[s] for s in shards)
            seconds = sum(index.seconds[s] for s in shards)
            batches = 0
            for batch in stream:  # count this pass's batches: until the cuts are used up
                batches += 1
                cuts -= len(batch)
                if cuts <= 0:
                    break
            print(
                f"   rank {rank}: {len(shards)} shards, {seconds:6.0f} s of audio, "
                f"{batches} batches in its first pass"
            )

        lines = 100_000 if args.quick else 1_000_000
        first, second = startup(processor, work, lines, work / "flac_16000" / "0000.flac")
        print(f"\n4. start-up over a {lines:,}-line manifest")
        print(f"   first check {first:6.1f} s; unchanged, from the index cache {second:5.2f} s")


if __name__ == "__main__":
    main()
