"""alignadapt review {serve,export,import}: a person checks the least confident alignments,
in the browser (serve) or in Praat (export, then import).

    # the review page: least confident lines first, corrections saved to med/test_ref.jsonl
    alignadapt review serve med/test_pseudo.jsonl -o med/test_ref.jsonl
    # ... with other models' words to compare (a manifest, TextGrid folder or CTM file)
    alignadapt review serve med/test_pseudo.jsonl -o med/test_ref.jsonl --compare mfa=mfa_out/

    # the 20 least confident lines of a pseudo-labelled manifest, as TextGrids
    alignadapt review export med/test_pseudo.jsonl med/review --count 20
    # ... open each TextGrid in Praat with its audio (paths in med/review/review.jsonl),
    # move the boundaries that are wrong, save; delete the TextGrids you did not check ...
    alignadapt review import med/review -o med/test_ref.jsonl --model $BASE

The imported lines are references (`alignment.reviewed`): evaluate.py scores every model on
them, with no warning about a model scored on its own labels. Lines whose TextGrid was
deleted are left out; a TextGrid whose words no longer match the transcript is reported.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..inference.review import INDEX, export_for_review, import_reviewed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{serve,export,import}")
    p = kinds.add_parser("serve", help="the review page in the browser: look, listen, correct")
    p.add_argument("manifest", help="the manifest to review (never written)")
    p.add_argument(
        "-o",
        "--output",
        help="where corrected lines go (default: MANIFEST_reviewed.jsonl beside it; an "
        "existing one is resumed)",
    )
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a row of words to compare: a manifest, a folder of TextGrids or JSON, a CTM "
        "file (the formats evaluate.py reads); repeat for more",
    )
    p.add_argument("--reference", help="the --compare row that is the reference (AAS, colours)")
    p.add_argument("--read-only", action="store_true", help="look only: no output is written")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p = kinds.add_parser("export", help="least confident lines first, as Praat TextGrids")
    p.add_argument("manifest", help="a pseudo-labelled manifest (pseudo_label.py's output)")
    p.add_argument("out_dir", help="folder for the TextGrids and review.jsonl")
    p.add_argument("--count", type=int, default=20, help="lines to export (default 20)")
    p.add_argument("--force", action="store_true", help="redo an export in out_dir")
    p = kinds.add_parser("import", help="the checked TextGrids back, as reference lines")
    p.add_argument("review_dir", help="the folder `review export` wrote")
    p.add_argument("-o", "--output", required=True, help="reference manifest to write")
    p.add_argument(
        "--model", required=True, help="model whose splitter defines the units (as for prepare)"
    )
    p.add_argument("--tier", default="words", help="the word tier's name")
    p.add_argument("--force", action="store_true", help="replace an existing output")


def start_server(args: argparse.Namespace):
    """(server, session, lock) for `review serve`: bound and ready, not yet serving."""
    from pathlib import Path

    from ..review_web.server import LockError, make_server, take_lock
    from ..review_web.session import ReviewSession

    compare = {}
    for spec in args.compare:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--compare {spec}: write NAME=PATH")
        compare[name] = path
    manifest = Path(args.manifest)
    out = None
    if not args.read_only:
        out = Path(args.output or manifest.with_name(f"{manifest.stem}_reviewed.jsonl"))
    lock = None
    try:
        if out is not None:
            lock = take_lock(out.resolve())
        session = ReviewSession(manifest, out, compare, args.reference)
        server = make_server(session, args.host, args.port)
    except LockError as err:
        raise ValueError(str(err)) from None
    except BaseException:
        if lock is not None:
            lock.unlink(missing_ok=True)
        raise
    return server, session, lock


def stop_server(server, session, lock) -> None:
    """Close the server, free the output, and say what was saved."""
    server.server_close()
    if lock is not None:
        lock.unlink(missing_ok=True)
    if session.out is not None:
        changed = sum(bool(r["alignment"]["changed"]) for r in session.reviewed.values())
        print(
            f"wrote {len(session.reviewed)} reviewed line(s) to {session.out} ({changed} "
            f"corrected by hand, {len(session.lines) - len(session.reviewed)} not reviewed)"
        )


def serve(args: argparse.Namespace) -> int:
    from ..review_web.server import url_of

    server, session, lock = start_server(args)
    resumed = f", {len(session.reviewed)} already reviewed" if session.reviewed else ""
    where = "read-only" if session.out is None else f"corrections go to {session.out}"
    print(
        f"review: {url_of(server)}  ({len(session.lines)} lines{resumed}; {where}; Ctrl-C stops)",
        flush=True,
    )

    def stop(signum, frame):  # `kill` stops it as Ctrl-C does: the lock is freed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop_server(server, session, lock)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.kind == "serve":
        return serve(args)
    if args.kind == "export":
        entries = export_for_review(args.manifest, args.out_dir, args.count, args.force)
        low, high = entries[0]["confidence"], entries[-1]["confidence"]
        print(
            f"{len(entries)} TextGrids written to {args.out_dir} (confidence {low:.3f} to "
            f"{high:.3f}, least confident first); audio paths in {args.out_dir}/{INDEX}.\n"
            "Open each in Praat with its audio, correct the boundaries, save; delete the ones "
            f"you did not check; then: alignadapt review import {args.out_dir} -o REF.jsonl "
            "--model MODEL"
        )
        return 0
    from ..model.prompt import split_units
    from ..model.reference import load_processor

    processor, _ = load_processor(args.model)
    problems: list = []
    counts = import_reviewed(
        args.review_dir,
        args.output,
        lambda text, language: split_units(processor, text, language),
        args.tier,
        args.force,
        problems,
    )
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"wrote {counts.written} reference line(s) to {args.output} ({counts.changed} corrected "
        f"by hand, {counts.missing} not checked and left out, {len(problems)} with a problem)"
    )
    return 1 if problems else 0
