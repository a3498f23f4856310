"""alignadapt synthetic-data OUT_DIR: train/val/test manifests of exact-time tone sequences."""

from __future__ import annotations

import argparse

from ..demo.synthetic import SyntheticSpec, make_synthetic_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir")
    parser.add_argument("--n-train", type=int, default=SyntheticSpec.n_train)
    parser.add_argument("--n-val", type=int, default=SyntheticSpec.n_val)
    parser.add_argument("--n-test", type=int, default=SyntheticSpec.n_test)
    parser.add_argument("--seed", type=int, default=SyntheticSpec.seed)


def run(args: argparse.Namespace) -> int:
    spec = SyntheticSpec(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, seed=args.seed)
    for split, path in make_synthetic_corpus(args.out_dir, spec).items():
        print(f"{split}: {path}")
    return 0
