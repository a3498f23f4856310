"""alignadapt demo-data [OUT_DIR]: the espeak-ng demo corpus (domain and general English)."""

from __future__ import annotations

import argparse
import time

from ..demo.corpus import DemoSpec, make_demo_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", nargs="?", default="data/demo")
    for field in (
        "domain_train",
        "domain_val",
        "domain_test",
        "general_test",
        "general_replay",
        "general_train",
        "general_val",
    ):
        parser.add_argument(
            f"--{field.replace('_', '-')}",
            type=int,
            default=getattr(DemoSpec, field),
            help="utterances (0 skips the split)",
        )
    parser.add_argument("--seed", type=int, default=DemoSpec.seed)
    parser.add_argument("--force", action="store_true", help="re-synthesise splits that exist")


def run(args: argparse.Namespace) -> int:
    spec = DemoSpec(
        domain_train=args.domain_train,
        domain_val=args.domain_val,
        domain_test=args.domain_test,
        general_test=args.general_test,
        general_replay=args.general_replay,
        general_train=args.general_train,
        general_val=args.general_val,
        seed=args.seed,
    )
    started = time.perf_counter()
    for name, path in make_demo_corpus(args.out_dir, spec, force=args.force).items():
        print(f"{name}: {path}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0
