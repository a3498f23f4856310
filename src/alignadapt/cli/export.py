"""alignadapt export SOURCE OUT_DIR [--merge --dtype bfloat16]: the adapter, or a merged model."""

from __future__ import annotations

import argparse

from ..inference.export import DTYPES, export_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="adapter directory (a run's adapter/) or train.py .ckpt")
    parser.add_argument(
        "out_dir", help="directory to write (refused if it holds files, unless --force)"
    )
    parser.add_argument(
        "--merge", action="store_true", help="write a standalone model: LoRA merged in float32"
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="dtype of the merged weights"
    )
    parser.add_argument(
        "--base", help="base model to load the adapter onto (default: the one it names)"
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty directory")


def run(args: argparse.Namespace) -> int:
    out = export_model(args.source, args.out_dir, args.merge, args.dtype, args.base, args.force)
    kind = f"merged model ({args.dtype})" if args.merge else "adapter"
    print(f"{kind} written to {out}")
    return 0
