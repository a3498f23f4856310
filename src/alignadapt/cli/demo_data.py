"""alignadapt demo-data [OUT_DIR]: the espeak-ng demo sets, made once and kept.

alignadapt demo-data                        # make train's domain sets (~1 min)
alignadapt demo-data --tests                # + the generalisation tests: 5 languages x
                                            #   4 length buckets in unseen voices, long recordings
alignadapt demo-data --tests --per-cell 4 --long 0   # smaller
"""

from __future__ import annotations

import argparse
import time

from ..demo.testsets import domain_splits, make_splits, test_splits

DOMAIN_SIZES = (
    "domain_train",
    "domain_val",
    "domain_test",
    "general_test",
    "general_replay",
    "general_val",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", nargs="?", default="data/demo")
    defaults = domain_splits()
    for split in defaults:
        parser.add_argument(
            f"--{split.name.replace('_', '-')}",
            type=int,
            default=split.count,
            help=f"utterances (default {split.count}; 0 skips the split)",
        )
    parser.add_argument(
        "--tests",
        action="store_true",
        help="also the generalisation tests (tests/<language>_<bucket>.jsonl, tests/long_en.jsonl)",
    )
    parser.add_argument("--per-cell", type=int, default=10, help="utterances per language x bucket")
    parser.add_argument("--long", type=int, default=2, help="recordings of 3-10 min (0: none)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--force", action="store_true", help="re-synthesise splits that exist")


def run(args: argparse.Namespace) -> int:
    sizes = {name: getattr(args, name) for name in DOMAIN_SIZES}
    splits = [s for s in domain_splits(**_renamed(sizes)) if s.count > 0]
    if args.tests:
        splits += [s for s in test_splits(args.per_cell, args.long) if s.count > 0]
    started = time.perf_counter()
    made = make_splits(args.out_dir, splits, args.seed, args.force, progress=not args.quiet)
    for name, path in made.items():
        print(f"{name}: {path}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def _renamed(sizes: dict[str, int]) -> dict[str, int]:
    return {
        "train": sizes["domain_train"],
        "val": sizes["domain_val"],
        "test": sizes["domain_test"],
        "general": sizes["general_test"],
        "replay": sizes["general_replay"],
        "general_val": sizes["general_val"],
    }
