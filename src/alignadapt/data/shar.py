"""Lhotse Shar shards of a manifest, in a local folder or an object store, and back.

    write_shards(manifest, "s3://bucket/corpus/train", split, shard_size=1000)
    read_shards("s3://bucket/corpus/train", "train.jsonl", split)

A shard is a pair of files, `cuts.NNNNNN.jsonl.gz` (the cuts: transcript, language, speaker,
word times as `supervision.alignment["word"]`, provenance `file:line`) and
`recording.NNNNNN.tar` (the audio of those cuts, 16-bit FLAC at the source's rate: lossless
for 16-bit sources). Beside them `alignadapt_shards.json` lists the shards with their cut
counts and audio seconds and a summary of the durations; it is written last, so a reader
never sees a half-written set, and the training stream reads it instead of listing the
bucket. Every line gets the checks of `alignadapt validate` (headers only) first; bad lines
are reported with file and line and left out.

Paths are local folders or URLs that smart_open opens (`s3://`, `gs://`, ...). Credentials
come from the storage client's standard chain (environment, `~/.aws`, instance roles); a
URL that carries a key is refused, so no key is ever logged. `AWS_ENDPOINT_URL` points the
S3 client at an S3-compatible server.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from .cuts import cut_record, line_cut, read_raw
from .importers import ImportProblem, Splitter, _Recorded
from .validation import Issue, inspect_manifest

log = logging.getLogger(__name__)
INDEX = "alignadapt_shards.json"
FIELDS = {"recording": "flac"}  # lossless; Lhotse encodes 16-bit PCM


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def check_location(location: str | Path) -> str:
    """The location as a string; ValueError for a URL that carries credentials."""
    location = str(location)
    if is_url(location):
        parts = urlsplit(location)
        if parts.username or parts.password:
            raise ValueError(
                f"{parts.scheme}://{parts.hostname}/...: the URL carries credentials; give them "
                "through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) "
                "or the client's config files instead, so they are never logged"
            )
    return location.rstrip("/")


def join(location: str, name: str) -> str:
    return f"{location}/{name}" if is_url(location) else str(Path(location) / name)


def open_location(path: str, mode: str = "rb"):
    """Open a local path or a URL (smart_open, with the client's own credential chain)."""
    if not is_url(path):
        return open(path, mode)
    from smart_open import open as smart_open

    return smart_open(path, mode)


@dataclass
class ShardIndex:
    """What `alignadapt_shards.json` holds."""

    location: str
    cuts: list[str]  # full paths or URLs, one per shard
    recordings: list[str]
    counts: list[int]  # cuts per shard
    seconds: list[float]  # audio seconds per shard
    quantiles: list[float]  # durations at 0%, 1%, ..., 100%
    source: str

    @property
    def num_shards(self) -> int:
        return len(self.cuts)

    def duration_bins(self, num_buckets: int) -> list[float]:
        """Bucket edges (seconds) for `num_buckets` equally filled buckets."""
        q = np.asarray(self.quantiles)
        points = np.linspace(0, 100, num_buckets + 1)[1:-1]
        bins = sorted({float(np.interp(p, np.arange(len(q)), q)) for p in points})
        return bins or [float(np.median(q))]  # one bucket: Lhotse still wants an edge


def read_index(location: str | Path) -> ShardIndex:
    """The shard list of a shard folder or URL; FileNotFoundError saying what to do."""
    location = check_location(location)
    path = join(location, INDEX)
    try:
        with open_location(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError) as err:
        if "NoSuchKey" in repr(err) or isinstance(err, FileNotFoundError) or "404" in str(err):
            raise FileNotFoundError(
                f"{path} not found: {location} holds no alignadapt shards (write them with "
                "`alignadapt shards write MANIFEST LOCATION`)"
            ) from None
        raise OSError(f"cannot read {path}: {err}") from err
    return ShardIndex(
        location,
        [join(location, s["cuts"]) for s in data["shards"]],
        [join(location, s["recording"]) for s in data["shards"]],
        [int(s["cuts_count"]) for s in data["shards"]],
        [float(s["seconds"]) for s in data["shards"]],
        [float(x) for x in data["duration_quantiles"]],
        data.get("source", ""),
    )


def _exists(location: str) -> bool:
    if not is_url(location):
        return Path(location).exists() and any(Path(location).iterdir())
    try:
        read_index(location)
    except FileNotFoundError:
        return False
    return True


def write_shards(
    manifest: str | Path,
    location: str | Path,
    split: Splitter,
    shard_size: int = 1000,
    force: bool = False,
    progress: bool = True,
) -> tuple[ShardIndex, list[Issue]]:
    """Check the manifest's lines and write the good ones as Shar shards of `shard_size` cuts.

    A local folder is written under a temporary name and renamed when complete; in an
    object store the index is written last. An existing set is replaced only with `force`.
    Returns the index and every problem found (lines left out) and warning.
    """
    from lhotse.shar import SharWriter

    manifest, location = Path(manifest), check_location(location)
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    if _exists(location) and not force:
        raise FileExistsError(f"{location} exists; pass --force (force=True) to replace it")
    target = location
    if not is_url(location):  # write beside, rename when done: never a half-written folder
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        target = tempfile.mkdtemp(prefix=f".{Path(location).name}-", dir=Path(location).parent)
    issues: list[Issue] = []
    durations: list[float] = []
    shard_stats: list[tuple[int, float]] = []
    try:
        with SharWriter(target, fields=FIELDS, shard_size=shard_size) as writer:
            for report in inspect_manifest(manifest, split, progress=progress):
                issues += report.issues
                if not report.ok:
                    continue
                cut = line_cut(report, read_raw(manifest, report.offset), manifest)
                writer.write(cut)
                shard = (len(durations)) // shard_size
                if shard == len(shard_stats):
                    shard_stats.append((0, 0.0))
                count, seconds = shard_stats[shard]
                shard_stats[shard] = (count + 1, seconds + cut.duration)
                durations.append(cut.duration)
            paths = writer.output_paths
        if not durations:
            raise ValueError(f"{manifest}: no line passed the checks; nothing was written")
        index = {
            "version": 1,
            "source": str(manifest),
            "fields": {"recording": FIELDS["recording"]},
            "shards": [
                {
                    "cuts": os.path.basename(c),
                    "recording": os.path.basename(r),
                    "cuts_count": n,
                    "seconds": round(s, 3),
                }
                for c, r, (n, s) in zip(paths["cuts"], paths["recording"], shard_stats, strict=True)
            ],
            "duration_quantiles": [
                round(float(x), 4) for x in np.quantile(durations, np.linspace(0, 1, 101))
            ],
        }
        with open_location(join(target, INDEX), "w") as f:
            f.write(json.dumps(index, indent=1))
        if target != location:
            if Path(location).exists():
                shutil.rmtree(location)
            os.replace(target, location)
    except BaseException:
        if target != location:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return read_index(location), issues


def iter_cuts(index: ShardIndex, shards: list[int] | None = None, audio: bool = True):
    """The cuts of the given shards (all by default), in order; with `audio`, each carries its
    audio in memory (read from the tar, nothing written to disk)."""
    from lhotse import CutSet

    chosen = range(index.num_shards) if shards is None else shards
    fields = {"cuts": [index.cuts[i] for i in chosen]}
    if audio:
        fields["recording"] = [index.recordings[i] for i in chosen]
    return CutSet.from_shar(fields=fields)


def read_shards(
    location: str | Path,
    out_dir: Path,
    audio_dir: Path,
    split: Splitter,
    problems: list[ImportProblem],
) -> Iterator[dict]:
    """Manifest records of every cut in the shards, audio written under `audio_dir` as stored."""
    from tqdm import tqdm

    index = read_index(location)
    for cut in tqdm(iter_cuts(index), total=sum(index.counts), desc="reading", unit=" cuts"):
        where = f"{index.location} (cut {cut.id}, {cut.custom.get('source', '?')})"
        with _Recorded(problems, where, where) as item:
            record = cut_record(cut, split, audio_dir, out_dir)
        if not item.failed:
            yield record
