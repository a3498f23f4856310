"""Hugging Face datasets with word times in: rows with audio, a transcript and a `words`
column of `{word, start, end}` (seconds) become manifest lines.

The dataset is a folder written by `Dataset.save_to_disk`, or anything `datasets.load_dataset`
opens (local parquet/JSON files, or a hub id where the hub is reachable). Audio is never
decoded by `datasets` (whose decoder needs torchcodec): the column is read as stored bytes or
paths, the bytes are written as they are to files under `audio_dir` and read with soundfile.
Words are reconciled with the aligner's units as every other importer does; a row that
cannot be imported is reported by its index and left out.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .audio import audio_info
from .cuts import aligned_units
from .importers import ImportProblem, ReconcileError, Splitter, _check_end, _record, _Recorded


def open_dataset(source: str, split_name: str | None):
    """A `datasets.Dataset` from a save_to_disk folder or anything load_dataset opens."""
    import datasets

    path = Path(source)
    if path.is_dir() and any(
        (path / name).exists() for name in ("state.json", "dataset_dict.json", "dataset_info.json")
    ):
        ds = datasets.load_from_disk(str(path))
    else:
        ds = datasets.load_dataset(source, split=split_name)
    if isinstance(ds, datasets.DatasetDict):
        if split_name is None and len(ds) == 1:
            split_name = next(iter(ds))
        if split_name not in ds:
            raise ValueError(
                f"{source} has the splits {', '.join(ds)}; choose one with --split"
                if split_name is None
                else f"{source} has no split {split_name!r} (it has {', '.join(ds)})"
            )
        ds = ds[split_name]
    return ds


def import_hf(
    source: str,
    split_name: str | None,
    out_dir: Path,
    audio_dir: Path,
    language: str | None,
    split: Splitter,
    problems: list[ImportProblem],
    audio_column: str = "audio",
    text_column: str = "text",
    words_column: str = "words",
) -> Iterator[dict]:
    """Labelled records from a dataset's rows (see the module docstring)."""
    import datasets

    ds = open_dataset(source, split_name)
    missing = [c for c in (audio_column, words_column) if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"{source}: no column {', '.join(map(repr, missing))} (columns: "
            f"{', '.join(ds.column_names)}); name them with --audio-column/--words-column"
        )
    if isinstance(ds.features[audio_column], datasets.Audio):
        ds = ds.cast_column(audio_column, datasets.Audio(decode=False))
    label = f"{source}[{split_name}]" if split_name else source
    for number, row in enumerate(tqdm(ds, desc="importing", unit=" rows")):
        where = f"{label} row {number}"
        with _Recorded(problems, where, where) as item:
            try:
                words = [
                    (str(w["word"]), float(w["start"]), float(w["end"])) for w in row[words_column]
                ]
            except (KeyError, TypeError, ValueError):
                raise ReconcileError(
                    f"'{words_column}' is not a list of {{word, start, end}}",
                    "give each word its start and end in seconds",
                ) from None
            text = " ".join(str(row.get(text_column) or " ".join(w for w, _, _ in words)).split())
            lang = row.get("language") or language
            units, spans = aligned_units(text, words, split, lang)
            audio = _audio_file(row[audio_column], audio_dir, number, where)
            info = audio_info(audio)
            _check_end(spans, info)
        if item.failed:
            continue
        record = _record(audio, text, units, spans, lang, info, out_dir)
        if row.get("speaker") is not None:
            record["speaker"] = str(row["speaker"])
        yield record


def _audio_file(value, audio_dir: Path, number: int, where: str) -> Path:
    """A local file with the row's audio: its own path when it has one, else its bytes written
    out as they are (their format read by soundfile)."""
    if isinstance(value, str):
        value = {"path": value, "bytes": None}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: the audio column holds {type(value).__name__}, not audio")
    data, path = value.get("bytes"), value.get("path")
    if not data:
        if path and Path(path).exists():
            return Path(path)
        raise ValueError(f"{where}: no audio bytes and no local file ({path!r})")
    try:
        kind = sf.info(io.BytesIO(data)).format.lower()
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{where}: cannot read its audio ({err})") from None
    audio_dir.mkdir(parents=True, exist_ok=True)
    out = audio_dir / f"row{number:09d}.{kind}"
    out.write_bytes(data)
    return out
