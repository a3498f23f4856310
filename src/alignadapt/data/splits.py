"""Train/validation/test splits without leaks: every line of one recording (and, when lines
carry a `speaker`, every line of one speaker) lands in the same split, so a test never hears
what training heard. Splits are filled by audio duration, close to the shares asked for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .audio import audio_duration
from .manifest import ManifestError, write_jsonl


class _Groups:
    """Union-find over recordings and speakers."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _records(path: Path):
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                audio = record.get("audio_path") or record["audio_filepath"]
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise ManifestError(
                    path, number, "not a manifest line", "run alignadapt validate on it first"
                ) from None
            yield number, record, audio


def assign_groups(sizes: dict[str, float], shares: list[float], seed: int) -> dict[str, int]:
    """Group -> split index: largest groups first, each to the split furthest below its share."""
    names = sorted(sizes)
    order = np.random.default_rng(seed).permutation(len(names))
    ranked = sorted((names[i] for i in order), key=lambda g: -sizes[g])  # ties in seeded order
    total = sum(sizes.values())
    targets = [s / sum(shares) * total for s in shares]
    filled = [0.0] * len(shares)
    out = {}
    for group in ranked:
        k = max(range(len(shares)), key=lambda i: (targets[i] - filled[i], -i))
        out[group] = k
        filled[k] += sizes[group]
    return out


def split_manifest(
    manifest: str | Path,
    out_dir: str | Path,
    names: list[str],
    shares: list[float],
    seed: int = 0,
    force: bool = False,
) -> dict[str, tuple[int, float]]:
    """Write one manifest per name into `out_dir`; returns name -> (lines, seconds)."""
    manifest, out_dir = Path(manifest), Path(out_dir)
    if len(names) != len(shares) or any(s < 0 for s in shares) or not sum(shares):
        raise ValueError("give one non-negative share per split name")
    outputs = {name: out_dir / f"{name}.jsonl" for name in names}
    for path in outputs.values():
        if path.exists() and path.resolve() == manifest.resolve():
            raise ValueError(f"{path} is the input; write the splits to another folder")
    existing = [str(p) for p in outputs.values() if p.exists()]
    if existing and not force:  # checked before writing any, so no half-replaced set
        raise FileExistsError(f"{', '.join(existing)} exist(s); pass --force to replace them")
    groups = _Groups()
    sizes: dict[str, float] = {}
    line_group: list[tuple[int, str, float]] = []
    for number, record, audio in _records(manifest):
        recording = os.path.normpath(os.path.join(manifest.parent, audio))
        node = "rec:" + recording
        groups.find(node)
        if record.get("speaker") is not None:
            groups.union(node, f"spk:{record['speaker']}")
        seconds = record.get("duration")
        if seconds is None:
            try:
                seconds = audio_duration(recording)
            except ValueError:
                seconds = 1.0  # unreadable audio: validate reports it; count it as one second
        line_group.append((number, node, float(seconds)))
        sizes[node] = sizes.get(node, 0.0) + float(seconds)
    root_sizes: dict[str, float] = {}
    for node, seconds in sizes.items():
        root = groups.find(node)
        root_sizes[root] = root_sizes.get(root, 0.0) + seconds
    assignment = assign_groups(root_sizes, shares, seed)
    which = {n: assignment[groups.find(node)] for n, node, _ in line_group}
    seconds_of = {n: sec for n, _, sec in line_group}
    result = {}
    for k, name in enumerate(names):
        totals = [0, 0.0]

        def lines(k=k, totals=totals):
            for number, record, audio in _records(manifest):
                if which[number] != k:
                    continue
                if not os.path.isabs(audio):  # keep it pointing at the same file
                    record = dict(record)
                    key = "audio_path" if "audio_path" in record else "audio_filepath"
                    record[key] = os.path.relpath(
                        os.path.abspath(os.path.join(manifest.parent, audio)),
                        os.path.abspath(out_dir),
                    )
                totals[0] += 1
                totals[1] += seconds_of[number]
                yield record

        write_jsonl(outputs[name], lines(), force=force)
        result[name] = (totals[0], totals[1])
    return result
