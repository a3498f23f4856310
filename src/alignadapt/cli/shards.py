"""alignadapt shards {write,read}: a manifest as Lhotse Shar shards (local or s3://...), and back.

    alignadapt shards write train.jsonl s3://bucket/corpus/train --model MODEL --shard-size 1000
    alignadapt shards write train.jsonl shards/train --model MODEL
    alignadapt shards read s3://bucket/corpus/train -o back/train.jsonl --model MODEL

`write` checks every line first (as `alignadapt validate --quick`) and leaves bad ones out,
listed with file and line (exit status 1). Audio is stored as 16-bit FLAC at its own rate.
`read` writes a manifest and its audio (under OUTPUT's folder, `audio/` by default). Credentials
for object stores come from the environment or the client's config (`AWS_PROFILE`,
`AWS_ACCESS_KEY_ID`...; `AWS_ENDPOINT_URL` for an S3-compatible server), never from the URL.
Existing outputs are replaced only with --force.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("write", help="manifest -> shards in a folder or at a URL")
    p.add_argument("manifest")
    p.add_argument("location", help="a folder, or a URL such as s3://bucket/prefix")
    p.add_argument("--shard-size", type=int, default=1000, help="cuts per shard (default 1000)")
    p.add_argument("--model", required=True, help="model whose splitter names the units")
    p.add_argument("--force", action="store_true", help="replace existing shards")
    p = actions.add_parser("read", help="shards -> manifest + audio files")
    p.add_argument("location")
    p.add_argument("-o", "--output", required=True, help="manifest to write (.jsonl)")
    p.add_argument("--audio-dir", help="where the audio goes (default: OUTPUT's folder/audio)")
    p.add_argument("--model", required=True, help="model whose splitter defines the units")
    p.add_argument("--force", action="store_true", help="replace an existing output")


def _splitter(model: str):
    from ..model.prompt import split_units
    from ..model.reference import load_processor

    processor, _ = load_processor(model)
    return lambda text, language: split_units(processor, text, language)


def run(args: argparse.Namespace) -> int:
    if args.action == "write":
        from ..data.shar import write_shards

        index, issues = write_shards(
            args.manifest, args.location, _splitter(args.model), args.shard_size, args.force
        )
        problems = [i for i in issues if not i.warning]
        for issue in issues:
            print(issue, file=sys.stderr)
        print(
            f"wrote {sum(index.counts)} cut(s), {sum(index.seconds) / 3600:.2f} h, in "
            f"{index.num_shards} shard(s) to {index.location}; {len(problems)} problem(s) "
            "(those lines left out)"
        )
        return 1 if problems else 0

    from ..data.importers import ImportProblem
    from ..data.manifest import write_jsonl
    from ..data.shar import read_shards

    out = Path(args.output)
    audio_dir = Path(args.audio_dir) if args.audio_dir else out.parent / "audio"
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    if audio_dir.exists() and any(audio_dir.iterdir()):
        if not args.force:
            raise FileExistsError(f"{audio_dir} is not empty; pass --force to replace it")
        shutil.rmtree(audio_dir)
    problems: list[ImportProblem] = []
    count = 0

    def counted(records):
        nonlocal count
        for record in records:
            count += 1
            yield record

    records = read_shards(args.location, out.parent, audio_dir, _splitter(args.model), problems)
    write_jsonl(out, counted(records), force=args.force)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"wrote {count} line(s) to {out}, audio in {audio_dir}; {len(problems)} left out")
    return 1 if problems else 0
