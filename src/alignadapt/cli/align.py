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

from ..data.audio import load_audio
from ..data.manifest import iter_manifest
from ..inference.aligner import Aligner, AlignerSettings
from ..inference.batching import recording_seconds, sorted_map
from ..inference.formats import (
    FORMATS,
    check_writable,
    flag_alignment,
    make_words,
    write_alignment,
)
from ..inference.pseudo import gap_record
from ..inference.subtitles import SubtitleSettings
from ..model.prompt import SAMPLE_RATE, split_units, unit_breaks


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
    parser.add_argument(
        "--min-confidence", type=float, default=0.1, help="flag alignments less sure than this"
    )
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


def jobs_from_args(args: argparse.Namespace) -> list[dict]:
    """(audio, text, language, output path, id) per recording to align."""
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
            out = Path(args.out) / f"{name}{suffix}"
            jobs.append(
                {
                    "audio": utt.audio_path,
                    "text": utt.text,
                    "language": utt.language or args.language,
                    "out": out,
                    "id": name,
                    "channel": utt.channel,
                }
            )
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
    return [
        {
            "audio": audio,
            "text": text,
            "language": args.language,
            "out": out,
            "id": audio.stem,
            "channel": None,
        }
    ]


def run(args: argparse.Namespace) -> int:
    jobs = jobs_from_args(args)
    for job in jobs:  # before any work: never overwrite without --force
        check_writable(job["out"], args.force)
    source, base = (args.adapter, args.model) if args.adapter else (args.model, None)
    settings = AlignerSettings.from_args(args)
    aligner = Aligner.load(source, base, settings)
    processor, decoding = aligner.processor, settings.decodings[0]
    subtitle = SubtitleSettings(
        max_chars=args.cue_chars, max_seconds=args.cue_seconds, per_word=args.per_word
    )
    for job in jobs:  # before any work: a transcript with nothing to align
        job["units"] = split_units(processor, job["text"], job["language"])
        job["breaks"] = unit_breaks(job["text"], job["units"])
        if not job["units"]:
            raise ValueError(f"{job['id']}: the transcript {job['text']!r} has no word to align")

    for job in jobs:  # from the header once: sorting, and which files are read piece by piece
        job["seconds"] = recording_seconds(job["audio"])  # 0 if unreadable: load_audio says why

    def run_batch(chunk: list[dict]) -> list[tuple]:
        # a recording longer than a call is read from disk piece by piece, never whole
        short = [j for j in chunk if j["seconds"] <= aligner.window_s]
        audios = [load_audio(j["audio"], channel=j["channel"]) for j in short]
        units, breaks = [j["units"] for j in short], [j["breaks"] for j in short]
        results = iter(aligner.align(audios, units, breaks=breaks))
        sizes = iter(len(a) / SAMPLE_RATE for a in audios)
        return [
            (next(sizes), next(results))
            if j["seconds"] <= aligner.window_s
            else (
                j["seconds"],
                aligner.align_file(j["audio"], j["units"], j["channel"], j["breaks"]),
            )
            for j in chunk
        ]

    lengths = [j["seconds"] for j in jobs]
    flagged = 0
    with tqdm(total=len(jobs), desc="aligning", unit="rec", disable=len(jobs) == 1) as bar:
        # shortest first (less padding); each output is written as its batch finishes
        for i, (duration, result) in sorted_map(
            jobs, lengths, settings.batch_size, run_batch, progress=bar.update
        ):
            job = jobs[i]
            decoded = result.decoded[decoding]
            words = make_words(job["text"], job["units"], decoded.spans, decoded.confidence)
            flags = flag_alignment(words, args.min_confidence)
            meta = {
                "id": job["id"],
                "audio": str(job["audio"]),
                "text": job["text"],
                "language": job["language"],
                "duration": round(duration, 4),
                "model": str(args.adapter or args.model),
                "decoding": decoding,
                "flags": flags + [f"{g.kind}: {g.start:.2f}-{g.end:.2f} s" for g in result.gaps],
                "gaps": [gap_record(g) for g in result.gaps],
            }
            write_alignment(job["out"], args.format, words, meta, duration, args.force, subtitle)
            if meta["flags"]:
                flagged += 1
                print(
                    f"warning: {job['id']}: alignment looks wrong: " + "; ".join(meta["flags"]),
                    file=sys.stderr,
                )
    print(
        f"{len(jobs)} recording(s) aligned ({flagged} flagged), {args.format} written to {jobs[0]['out'] if len(jobs) == 1 else args.out}"
    )
    return 0
