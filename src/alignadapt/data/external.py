"""Alignments from other tools as report columns: read them, match them to the references.

A prediction set is a path and a format (`conf/evaluate.yaml`, `predictions:`):

| format | what | recording id |
|---|---|---|
| `textgrid` | a folder of Praat TextGrids (Montreal Forced Aligner's output), the word tier by name | file stem |
| `ctm` | one CTM file (NeMo's forced aligner, Kaldi, `alignadapt align --format ctm`) | utterance id |
| `whisperx` | a folder of WhisperX JSON files (`word_segments`, or `segments[].words`) | file stem |
| `qwen3` | a folder of the official Qwen3 aligner's items (`text`, `start_time`, `end_time`) saved as JSON: a list, or `{"items": [...]}` | file stem |
| `alignadapt` | a folder of `alignadapt align --format json` files, or a manifest with `words` | file stem / audio stem |

`auto` (the default) tells them apart by suffix and JSON shape. A recording is matched to a
reference line by its audio file's stem (ids with characters a CTM cannot hold match in
their CTM-safe form, `a.b` as `a_b`).

Other tools write words their way: case, punctuation, hyphens (`state-of-the-art` or four
words), numbers (`23` against `twenty three`), words split or merged differently. The
matching is done on characters: both sides are lower-cased and reduced to letters and
digits, aligned with difflib, and each reference unit gets the time at the position of its
first and last character in the other tool's words; where the two differ (a number written
differently, one word where the reference has two), positions are shared out in proportion
to characters inside the differing stretch. A unit that falls wholly in that kind of
stretch, or inside another unit's word, is counted as approximate. An utterance is not
mapped when the tool has nothing for the recording, when a unit has no counterpart at all,
or when under half of the reference's characters match (another transcript): such
utterances are listed per column with the reason, never dropped silently.
"""

from __future__ import annotations

import difflib
import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .importers import (
    CTM_CHANNELS,
    SILENCE_LABELS,
    ImportProblem,
    ReconcileError,
    read_ctm,
    read_textgrid_words,
)

FORMATS = ("auto", "textgrid", "ctm", "whisperx", "qwen3", "alignadapt")
MIN_MATCHED_SHARE = 0.5  # under this share of matching characters: another transcript

TimedWord = tuple[str, float, float]


class PredictionError(ValueError):
    """A prediction set that cannot be read at all (wrong path or format)."""


@dataclass
class PredictionSet:
    """One tool's words per recording id, and the files it could not read."""

    name: str
    words: dict[str, list[TimedWord]]
    problems: dict[str, str] = field(default_factory=dict)  # recording id or file -> reason
    untimed: int = 0  # words the tool gave no time (WhisperX leaves digits untimed)


# ---- reading --------------------------------------------------------------------------------
def ctm_safe(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)


def _timed(word, start, end, out: list[TimedWord]) -> bool:
    if start is None or end is None:
        return False
    out.append((str(word), float(start), float(end)))
    return True


def json_words(document, source: str, fmt: str) -> tuple[list[TimedWord], int]:
    """(timed words, untimed count) from one JSON document in `fmt` (or sniffed: `auto`)."""
    if fmt == "auto":
        fmt = sniff_json(document, source)
    rows: list[tuple] = []
    if fmt == "whisperx":
        if isinstance(document, dict) and isinstance(document.get("word_segments"), list):
            entries = document["word_segments"]
        elif isinstance(document, dict) and isinstance(document.get("segments"), list):
            entries = [w for seg in document["segments"] for w in seg.get("words", [])]
        else:
            raise PredictionError(
                f"{source}: not WhisperX output (no 'word_segments' and no 'segments' with "
                "'words'); run WhisperX with word alignment (its default) and save its JSON"
            )
        rows = [(e.get("word", ""), e.get("start"), e.get("end")) for e in entries]
    elif fmt == "qwen3":
        items = document.get("items") if isinstance(document, dict) else document
        if not isinstance(items, list) or not all(
            isinstance(e, dict) and "start_time" in e for e in items
        ):
            raise PredictionError(
                f"{source}: not Qwen3 aligner items (a list of {{text, start_time, end_time}}, "
                "or {'items': [...]})"
            )
        rows = [(e.get("text", ""), e.get("start_time"), e.get("end_time")) for e in items]
    elif fmt == "alignadapt":
        words = document.get("words") if isinstance(document, dict) else None
        if not isinstance(words, list):
            raise PredictionError(f"{source}: no 'words' list (alignadapt's JSON has one)")
        rows = [(w.get("word", ""), w.get("start"), w.get("end")) for w in words]
    else:
        raise PredictionError(f"{source}: format {fmt!r} is not a JSON format")
    out: list[TimedWord] = []
    untimed = sum(not _timed(w, s, e, out) for w, s, e in rows)
    return out, untimed


def sniff_json(document, source: str) -> str:
    if isinstance(document, dict) and ("word_segments" in document or "segments" in document):
        return "whisperx"
    items = document.get("items") if isinstance(document, dict) else document
    if (
        isinstance(items, list)
        and items
        and isinstance(items[0], dict)
        and "start_time" in items[0]
    ):
        return "qwen3"
    if isinstance(document, dict) and "words" in document:
        return "alignadapt"
    raise PredictionError(
        f"{source}: cannot tell which tool wrote this JSON; set its format "
        f"({', '.join(FORMATS[2:])})"
    )


def read_predictions(
    name: str, path: str | Path, fmt: str = "auto", tier: str = "words"
) -> PredictionSet:
    """Every recording's words from one prediction set (see the module docstring)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise PredictionError(f"predictions.{name}: format must be one of {FORMATS}, not {fmt!r}")
    if not path.exists():
        raise PredictionError(f"predictions.{name}: {path} does not exist")
    out = PredictionSet(name, {})
    if path.is_file() and (fmt == "ctm" or (fmt == "auto" and path.suffix.lower() == ".ctm")):
        problems: list[ImportProblem] = []
        groups = read_ctm(path, problems)
        out.problems.update({p.source: p.message for p in problems})
        channels: dict[str, int] = {}
        for utt, _ in groups:
            channels[utt] = channels.get(utt, 0) + 1
        for (utt, chan), words in groups.items():
            key = utt if channels[utt] == 1 else f"{utt}:{CTM_CHANNELS.get(chan.lower(), chan)}"
            out.words[key] = words
        return out
    if path.is_file() and path.suffix.lower() == ".jsonl" and fmt in ("auto", "alignadapt"):
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                    words, untimed = json_words(record, f"{path}:{number}", "alignadapt")
                except (json.JSONDecodeError, PredictionError) as err:
                    out.problems[f"{path}:{number}"] = str(err)
                    continue
                key = Path(record.get("audio_path") or record.get("audio", "")).stem
                out.words[key], out.untimed = words, out.untimed + untimed
        return out
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    is_grid = fmt == "textgrid" or (
        fmt == "auto" and any(p.suffix.lower() == ".textgrid" for p in files)
    )
    for file in files:
        suffix = file.suffix.lower()
        if is_grid and suffix == ".textgrid":
            try:
                out.words[file.stem] = read_textgrid_words(file, tier)
            except ReconcileError as err:
                out.problems[file.stem] = f"{file}: {err.message}"
        elif not is_grid and suffix == ".json":
            try:
                document = json.loads(file.read_text(encoding="utf-8"))
                words, untimed = json_words(document, str(file), fmt)
            except json.JSONDecodeError as err:
                out.problems[file.stem] = f"{file}: not JSON ({err.msg}, line {err.lineno})"
                continue
            out.words[file.stem], out.untimed = words, out.untimed + untimed
    if not out.words and not out.problems:
        raise PredictionError(
            f"predictions.{name}: nothing to read in {path} (format {fmt}): expected a folder "
            "of .TextGrid or .json files, a .ctm file or a .jsonl manifest"
        )
    return out


def words_for(
    predictions: PredictionSet, audio_path: Path, channel: int | None
) -> list[TimedWord] | None:
    """The words of the recording a reference line is about, or None."""
    stem = Path(audio_path).stem
    keys = [f"{stem}:{channel}"] if channel is not None else []
    keys += [stem, ctm_safe(stem)]
    return next((predictions.words[k] for k in keys if k in predictions.words), None)


# ---- mapping to reference units ------------------------------------------------------------
def normalize(text: str) -> str:
    """Lower case, letters and digits only (NFKC first, so full-width forms compare equal)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


class MapError(ValueError):
    pass


@dataclass
class Mapped:
    times: np.ndarray  # [s0, e0, s1, e1, ...] seconds, one pair per reference unit
    approximate: int  # units placed by sharing out a differing stretch or a shared word


def map_to_units(units: Sequence[str], words: Sequence[TimedWord]) -> Mapped:
    """Times for the reference units from another tool's words (module docstring); MapError
    says why an utterance cannot be mapped."""
    ref_units = [normalize(u) for u in units]
    ref = "".join(ref_units)
    kept = [
        (normalize(w), s, e)
        for w, s, e in sorted(words, key=lambda x: x[1])
        if w.strip().lower() not in SILENCE_LABELS and normalize(w)
    ]
    if not kept:
        raise MapError("no words for this recording")
    ext = "".join(w for w, _, _ in kept)
    owner = np.repeat(np.arange(len(kept)), [len(w) for w, _, _ in kept])
    first = np.concatenate([[0], np.cumsum([len(w) for w, _, _ in kept])])
    start_pos = np.full(len(ref), np.nan)
    end_pos = np.full(len(ref), np.nan)
    exact = np.zeros(len(ref), dtype=bool)
    matcher = difflib.SequenceMatcher(None, ref, ext, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            k = np.arange(i1, i2)
            scale = (j2 - j1) / (i2 - i1)
            start_pos[i1:i2] = j1 + (k - i1) * scale
            end_pos[i1:i2] = j1 + (k + 1 - i1) * scale
            exact[i1:i2] = tag == "equal"
    share = exact.sum() / max(len(ref), 1)
    if share < MIN_MATCHED_SHARE:
        raise MapError(
            f"only {share:.0%} of the reference's characters match the tool's words "
            f"({' '.join(w for w, _, _ in kept[:8])}{' ...' if len(kept) > 8 else ''}): "
            "another transcript?"
        )

    def time_at(pos: float, closing: bool) -> float:
        char = min(max(math.ceil(pos) - 1 if closing else math.floor(pos), 0), len(ext) - 1)
        w = int(owner[char])
        _, s, e = kept[w]
        frac = (pos - first[w]) / (first[w + 1] - first[w])
        return s + min(max(frac, 0.0), 1.0) * (e - s)

    times = np.zeros(2 * len(units))
    approximate, bound = 0, 0
    unmapped = []
    for u, norm in enumerate(ref_units):
        span = range(bound, bound + len(norm))
        bound += len(norm)
        placed = [k for k in span if not np.isnan(start_pos[k])]
        if not placed:
            unmapped.append(f"{units[u]!r} (unit {u})")
            continue
        a, b = start_pos[placed[0]], end_pos[placed[-1]]
        times[2 * u], times[2 * u + 1] = time_at(a, False), time_at(b, True)
        on_word_edges = a == first[owner[int(a)]] and b == first[owner[math.ceil(b) - 1] + 1]
        if len(placed) < len(norm) or not exact[placed].all() or not on_word_edges:
            approximate += 1
    if unmapped:
        raise MapError(f"no counterpart in the tool's words for {', '.join(unmapped[:5])}")
    return Mapped(np.maximum.accumulate(times), approximate)
