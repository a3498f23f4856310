"""alignadapt prepare {folders,textgrid,ctm,nemo,lhotse,hf} ... -o OUT.jsonl: data in, one manifest out.

    alignadapt prepare folders AUDIO_DIR TEXT_DIR -o train.jsonl --language English
    alignadapt prepare textgrid AUDIO_DIR MFA_OUT_DIR --tier words -o ref.jsonl --model DIR
    alignadapt prepare ctm AUDIO_DIR words.ctm -o ref.jsonl --model DIR
    alignadapt prepare nemo nemo_manifest.json -o all.jsonl
    alignadapt prepare lhotse --cuts cuts.jsonl.gz -o ref.jsonl --model DIR
    alignadapt prepare lhotse --recordings recs.jsonl.gz --supervisions sups.jsonl.gz -o ref.jsonl --model DIR
    alignadapt prepare hf DATASET_DIR --split train -o ref.jsonl --model DIR

Lhotse manifests need word alignments (`supervision.alignment["word"]`, as its recipes
write them); Hugging Face datasets a `words` column of {word, start, end}. Audio that is not
a whole file of its own (a segment, bytes in a dataset) is written under --audio-dir.

Files pair by stem (recursively: wav, flac, ogg, mp3 with .txt or .TextGrid). Unpaired files
are listed; lines that cannot be imported are reported with the reason and left out; the
exit status is 1 when any was. The output is written atomically, never over an input, and
over an existing file only with --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.audio import AUDIO_SUFFIXES
from ..data.importers import (
    ImportProblem,
    find_files,
    import_ctm,
    import_folders,
    import_nemo,
    import_textgrids,
    pair_by_stem,
)
from ..data.manifest import write_jsonl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")

    def common(p: argparse.ArgumentParser, model_required: bool) -> None:
        p.add_argument("-o", "--output", required=True, help="manifest to write (.jsonl)")
        p.add_argument(
            "--model",
            required=model_required,
            help="model directory or hub id whose processor splits the text into units "
            "(e.g. the tiny model from `alignadapt tiny-model DIR`)",
        )
        p.add_argument("--language", help="language of every line, e.g. English or en")
        p.add_argument("--force", action="store_true", help="replace an existing output")

    p = kinds.add_parser("folders", help="audio files + .txt transcripts with the same stem")
    p.add_argument("audio_dir")
    p.add_argument("text_dir", nargs="?", help="default: the audio folder")
    common(p, model_required=False)
    p = kinds.add_parser("textgrid", help="Praat TextGrids (MFA output works as it is)")
    p.add_argument("audio_dir")
    p.add_argument("textgrid_dir")
    p.add_argument("--tier", default="words", help="the word tier's name (MFA: words)")
    common(p, model_required=True)
    p = kinds.add_parser("ctm", help="a CTM file whose utterance ids are audio file stems")
    p.add_argument("audio_dir")
    p.add_argument("ctm")
    common(p, model_required=True)
    p = kinds.add_parser("nemo", help="a NeMo manifest (audio_filepath, duration, text)")
    p.add_argument("nemo_manifest")
    common(p, model_required=False)
    p = kinds.add_parser(
        "lhotse", help="Lhotse cuts, or recordings + supervisions, with word alignments"
    )
    p.add_argument("--cuts", help="a cut manifest (.jsonl or .jsonl.gz)")
    p.add_argument("--recordings", help="a recording manifest (with --supervisions)")
    p.add_argument("--supervisions", help="a supervision manifest (with --recordings)")
    p.add_argument(
        "--audio-dir", help="where extracted audio goes (default: OUTPUT's folder/audio)"
    )
    common(p, model_required=True)
    p = kinds.add_parser("hf", help="a Hugging Face dataset with a words column")
    p.add_argument("dataset", help="a save_to_disk folder, data files, or a hub id")
    p.add_argument("--split", help="which split (when the dataset has several)")
    p.add_argument("--audio-column", default="audio")
    p.add_argument("--text-column", default="text")
    p.add_argument("--words-column", default="words", help="list of {word, start, end}")
    p.add_argument("--audio-dir", help="where audio bytes go (default: OUTPUT's folder/audio)")
    common(p, model_required=True)


def _splitter(model: str | None):
    if model is None:
        return None
    from ..model.prompt import split_units
    from ..model.reference import load_processor

    processor, _ = load_processor(model)
    return lambda text, language: split_units(processor, text, language)


def _listing(title: str, items: list) -> None:
    if items:
        print(f"{title} ({len(items)}):")
        for item in items:
            print(f"  {item}")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    inputs = [getattr(args, name, None) for name in ("ctm", "nemo_manifest")]
    for given in filter(None, inputs):
        if out.exists() and out.resolve() == Path(given).resolve():
            raise ValueError(f"{out} is an input; write the manifest to another file")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    split = _splitter(args.model)
    problems: list[ImportProblem] = []
    unpaired: list[tuple[str, list]] = []
    audio_out = Path(getattr(args, "audio_dir", None) or out.parent / "audio")
    if args.kind == "nemo":
        records = import_nemo(Path(args.nemo_manifest), out.parent, args.language, split, problems)
    elif args.kind == "lhotse":
        from ..data.cuts import import_lhotse

        if not args.cuts and not (args.recordings and args.supervisions):
            raise ValueError("give --cuts, or --recordings and --supervisions")
        records = import_lhotse(
            args.cuts, args.recordings, args.supervisions, out.parent, audio_out, split, problems
        )
    elif args.kind == "hf":
        from ..data.hf_import import import_hf

        records = import_hf(
            args.dataset,
            args.split,
            out.parent,
            audio_out,
            args.language,
            split,
            problems,
            args.audio_column,
            args.text_column,
            args.words_column,
        )
    else:
        audio_dir = Path(args.audio_dir)
        audio = find_files(audio_dir, AUDIO_SUFFIXES)
        if args.kind == "ctm":
            unmatched: list[str] = []
            records = import_ctm(
                Path(args.ctm), audio, out.parent, args.language, split, problems, unmatched
            )
            unpaired.append(("CTM utterances with no audio file of that stem", unmatched))
        else:
            other_dir = Path(
                (args.text_dir or args.audio_dir) if args.kind == "folders" else args.textgrid_dir
            )
            suffix = ".txt" if args.kind == "folders" else ".textgrid"
            pairing = pair_by_stem(audio_dir, audio, other_dir, find_files(other_dir, (suffix,)))
            problems += pairing.problems
            unpaired += [
                (f"audio files without a {suffix} file", pairing.unpaired_audio),
                (f"{suffix} files without an audio file", pairing.unpaired_other),
            ]
            if args.kind == "folders":
                records = import_folders(pairing, out.parent, args.language, split, problems)
            else:
                records = import_textgrids(
                    pairing, args.tier, out.parent, args.language, split, problems
                )
    count = 0

    def counted(items):
        nonlocal count
        for item in items:
            count += 1
            yield item

    write_jsonl(out, counted(records), force=args.force)
    for title, items in unpaired:
        _listing(title, items)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"wrote {count} line(s) to {out}; {len(problems)} left out with a problem")
    if count == 0:
        out.unlink(missing_ok=True)
        print("nothing to write: no manifest left behind", file=sys.stderr)
        return 1
    return 1 if problems else 0
