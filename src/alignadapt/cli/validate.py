"""alignadapt validate MANIFEST --model DIR: every problem with its line, then a summary.

    alignadapt validate train.jsonl --model Qwen/Qwen3-ForcedAligner-0.6B-hf
    alignadapt validate train.jsonl --model .cache/tiny-aligner --quick   # headers only

Problems (the line cannot be used) and warnings (legal but suspect) name the file and line
and say what to do. Exit status 1 when there is a problem (or, with --strict, a warning).
Training runs the same checks (headers only) before its first step.
"""

from __future__ import annotations

import argparse

from ..data.validation import check_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest")
    parser.add_argument(
        "--model",
        required=True,
        help="model directory or hub id whose processor splits the text into units",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="read audio headers only (no decoding: misses corrupt data and silence)",
    )
    parser.add_argument(
        "--require-labels",
        action="store_true",
        help="a line without timestamps is a problem (as for training)",
    )
    parser.add_argument("--strict", action="store_true", help="warnings fail too")


def run(args: argparse.Namespace) -> int:
    from ..model.prompt import split_units
    from ..model.reference import load_processor

    processor, _ = load_processor(args.model)
    issues, summary = check_manifest(
        args.manifest,
        lambda text, language: split_units(processor, text, language),
        scan_audio=not args.quick,
        require_labels=args.require_labels,
    )
    for issue in issues:
        print(issue)
    if issues:
        print()
    print("\n".join(summary.lines_of_text()))
    failed = summary.problems > 0 or (args.strict and summary.warnings > 0)
    print("\nresult:", "FAILED" if failed else "ok")
    return 1 if failed else 0
