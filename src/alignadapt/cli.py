"""`alignadapt SUBCOMMAND ...`: the command-line entry for everything that is not a Hydra run.

Each subcommand lives in its own module and exposes `add_arguments(parser)` and `run(args)`;
this file only lists them, so adding one is one line here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "tiny-model": (
        "alignadapt.commands.tiny_model",
        "build the tiny test/demo aligner into a directory",
    ),
    "synthetic-data": (
        "alignadapt.commands.synthetic_data",
        "write the synthetic exact-time corpus",
    ),
    "prepare": (
        "alignadapt.commands.prepare",
        "audio + transcripts / TextGrid / CTM / NeMo -> manifest",
    ),
    "validate": (
        "alignadapt.commands.validate",
        "check every line of a manifest, then summarise it",
    ),
    "split": (
        "alignadapt.commands.split",
        "train/val/test manifests, one recording/speaker per split",
    ),
    "demo-data": (
        "alignadapt.commands.demo_data",
        "synthesise the espeak-ng demo corpus (domain + general)",
    ),
    "export": (
        "alignadapt.commands.export",
        "write the adapter, or a merged standalone model (--merge)",
    ),
    "align": (
        "alignadapt.commands.align",
        "word timestamps for audio + transcript: JSON, TextGrid, SRT, CTM",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alignadapt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
    ) as err:  # user errors: message, no traceback
        print(f"alignadapt {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
