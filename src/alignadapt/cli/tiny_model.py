"""alignadapt tiny-model OUT_DIR: a tiny aligner of the real architecture (no download)."""

from __future__ import annotations

import argparse

from ..demo.tiny import TinySpec, build_tiny_aligner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", help="directory to create (must not exist)")
    parser.add_argument(
        "--num-labels", type=int, default=TinySpec.num_labels, help="timestamp classes (x 80 ms)"
    )
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.out_dir).exists():
        raise FileExistsError(f"{args.out_dir} exists; choose a new directory")
    out = build_tiny_aligner(args.out_dir, TinySpec(num_labels=args.num_labels, seed=args.seed))
    print(f"tiny aligner written to {out}")
    return 0
