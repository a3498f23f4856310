"""`alignadapt SUBCOMMAND ...`: the command-line entry for everything that is not a Hydra run.

Each subcommand lives in its own module of this package and exposes `add_arguments(parser)` and `run(args)`;
this file only lists them, so adding one is one line here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "tiny-model": (
        "alignadapt.cli.tiny_model",
        "build the tiny test/demo aligner into a directory",
    ),
    "synthetic-data": (
        "alignadapt.cli.synthetic_data",
        "write the synthetic exact-time corpus",
    ),
    "prepare": (
        "alignadapt.cli.prepare",
        "audio + transcripts / TextGrid / CTM / NeMo -> manifest",
    ),
    "shards": (
        "alignadapt.cli.shards",
        "manifest <-> Lhotse Shar shards in a folder or an object store (s3://...)",
    ),
    "validate": (
        "alignadapt.cli.validate",
        "check every line of a manifest, then summarise it",
    ),
    "split": (
        "alignadapt.cli.split",
        "train/val/test manifests, one recording/speaker per split",
    ),
    "review": (
        "alignadapt.cli.review",
        "check alignments: in the browser (serve), or as Praat TextGrids (export, import)",
    ),
    "demo-data": (
        "alignadapt.cli.demo_data",
        "synthesise the espeak-ng demo sets (make train's domain sets; --tests: the generalisation tests)",
    ),
    "export": (
        "alignadapt.cli.export",
        "write the adapter, or a merged standalone model (--merge)",
    ),
    "memory": (
        "alignadapt.cli.memory",
        "what fits a 16/24/40/80 GB card, measured on real-width layers",
    ),
    "align": (
        "alignadapt.cli.align",
        "word timestamps for audio + transcript: JSON, TextGrid, SRT, WebVTT, CTM",
    ),
}


def main(argv: list[str] | None = None) -> int:
    """Parse `alignadapt COMMAND ...`; only the chosen subcommand's module is imported, so
    `alignadapt --help` answers at once (torch and transformers load only when needed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="alignadapt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints the help, or the error for an unknown command
        return 2
    name = argv[0]
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    command = argparse.ArgumentParser(
        prog=f"alignadapt {name}", description=help_text, epilog=module.__doc__
    )
    module.add_arguments(command)
    args = command.parse_args(argv[1:])
    args.command = name
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as err:  # user errors: no traceback
        print(f"alignadapt {name}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
