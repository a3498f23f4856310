"""alignadapt split MANIFEST OUT_DIR [--shares 0.8 0.1 0.1]: train/val/test without leaks.

    alignadapt split all.jsonl data/ --shares 0.8 0.1 0.1 --seed 0
    alignadapt split all.jsonl data/ --names train test --shares 0.9 0.1

Every line of one recording, and of one speaker when lines carry a `speaker`, goes to the
same split; splits are filled by audio duration. Writes OUT_DIR/<name>.jsonl (atomically;
--force to replace existing ones).
"""

from __future__ import annotations

import argparse

from ..data.splits import split_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest")
    parser.add_argument("out_dir")
    parser.add_argument("--names", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--shares", nargs="+", type=float, default=[0.8, 0.1, 0.1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace existing split files")


def run(args: argparse.Namespace) -> int:
    result = split_manifest(
        args.manifest, args.out_dir, args.names, args.shares, seed=args.seed, force=args.force
    )
    total = sum(seconds for _, seconds in result.values()) or 1.0
    for name, (lines, seconds) in result.items():
        print(f"{name}: {lines} lines, {seconds / 3600:.3f} h ({seconds / total:.0%})")
    empty = [name for name, (lines, _) in result.items() if lines == 0]
    if empty:
        print(f"warning: {', '.join(empty)} got no line: too few recordings/speakers to split")
        return 1
    return 0
