"""alignadapt align --model DIR [--adapter DIR] AUDIO TEXT | --manifest M --out DIR: word times.

TEXT is a transcript file or the transcript itself. Writes JSON, Praat TextGrid, SRT, WebVTT
or CTM with the transcript's own words (punctuation kept) and warns about alignments that look
wrong: many zero-length or crushed words, low confidence (often a transcript that does not
match the audio). Long recordings are cut at pauses into pieces, each aligned with its own
words, and read from disk piece by piece; words not found in the audio and long stretches
without words are listed in `gaps` (JSON) and in the flags. Recordings are batched
shortest first (inference/batching.py) and each output is written when its batch is done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..data.manifest import iter_manifest
from ..inference.aligner import Aligner, AlignerSettings, AlignRequest
from ..inference.formats import FORMATS, check_writable, write_alignment
from ..inference.subtitles import SubtitleSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="?", help="audio file (anything libsndfile reads)")
    parser.add_argument("text", nargs="?", help="transcript: a text file, or the text itself")
    parser.add_argument(
        "--model", required=True, help="hub id or model dir (base or merged), adapter dir or .ckpt"
    )
    parser.add_argument("--adapter", help="adapter directory to put on --model")
    parser.add_argument("--manifest", help="align every line of a JSONL manifest instead")
    parser.add_argument(
        "--language", help="transcript language (Japanese/Korean need their splitter)"
    )
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument(
        "--out",
        help="output file (one recording; default: AUDIO with the format's suffix) or directory (--manifest)",
    )
    parser.add_argument("--force", action="store_true", help="replace output files that exist")
    subtitles = parser.add_argument_group("subtitles (--format srt or vtt)")
    subtitles.add_argument(
        "--per-word",
        action="store_true",
        help="SRT: one cue per word; WebVTT: a cue timestamp before each word",
    )
    subtitles.add_argument(
        "--cue-chars", type=int, default=42, help="characters per cue at most (default: 42)"
    )
    subtitles.add_argument(
        "--cue-seconds", type=float, default=7.0, help="seconds per cue at most (default: 7)"
    )
    AlignerSettings.add_arguments(parser)


def jobs_from_args(args: argparse.Namespace) -> list[tuple[AlignRequest, Path]]:
    """(request, output path) per recording to align."""
    suffix = FORMATS[args.format]
    if args.manifest:
        if args.audio or args.text:
            raise ValueError("give either AUDIO TEXT or --manifest, not both")
        if not args.out:
            raise ValueError("--manifest needs --out DIR for the output files")
        jobs, seen = [], set()
        for utt in iter_manifest(args.manifest):
            stem = utt.audio_path.stem
            name = stem if stem not in seen else f"{stem}-line{utt.line}"
            seen.add(name)
            request = AlignRequest.of(utt, name=name, language=args.language)
            jobs.append((request, Path(args.out) / f"{name}{suffix}"))
        return jobs
    if not args.audio or not args.text:
        raise ValueError("give AUDIO and TEXT (a transcript file or the text), or --manifest")
    text_path = Path(args.text)
    try:  # a long transcript given inline is no file name (and too long to be one)
        is_file = text_path.is_file()
    except OSError:
        is_file = False
    text = text_path.read_text(encoding="utf-8").strip() if is_file else args.text
    audio = Path(args.audio)
    if not audio.exists():
        raise FileNotFoundError(f"audio file {audio} does not exist")
    out = Path(args.out) if args.out else audio.with_suffix(suffix)
    return [(AlignRequest(audio, text, language=args.language, name=audio.stem), out)]


def run(args: argparse.Namespace) -> int:
    jobs = jobs_from_args(args)
    for _, out in jobs:  # before any work: never overwrite without --force
        check_writable(out, args.force)
    source, base = (args.adapter, args.model) if args.adapter else (args.model, None)
    aligner = Aligner.load(source, base, AlignerSettings.from_args(args))
    subtitle = SubtitleSettings(
        max_chars=args.cue_chars, max_seconds=args.cue_seconds, per_word=args.per_word
    )
    flagged = 0
    with tqdm(total=len(jobs), desc="aligning", unit="rec", disable=len(jobs) == 1) as bar:
        # shortest first (less padding); each output is written as its batch finishes
        for i, result in aligner.align_many([r for r, _ in jobs], progress=bar.update):
            request, out = jobs[i]
            gaps = [f"{g.kind}: {g.start:.2f}-{g.end:.2f} s" for g in result.gaps]
            meta = {
                "id": request.name,
                "audio": str(request.audio),
                "text": request.text,
                "language": request.language,
                "duration": round(result.duration, 4),
                "model": result.model,
                "decoding": result.decoding,
                "flags": result.flags + gaps,
                "gaps": result.provenance()["gaps"],
            }
            write_alignment(
                out, args.format, result.words, meta, result.duration, args.force, subtitle
            )
            if meta["flags"]:
                flagged += 1
                print(
                    f"warning: {request.name}: alignment looks wrong: " + "; ".join(meta["flags"]),
                    file=sys.stderr,
                )
    where = jobs[0][1] if len(jobs) == 1 else args.out
    print(f"{len(jobs)} recording(s) aligned ({flagged} flagged), {args.format} written to {where}")
    return 0
