"""Alignment output: the transcript's own words back from the aligner's units, five formats,
written atomically (the signs of an alignment that looks wrong are `service.flag_alignment`).

The aligner's units drop punctuation and cut CJK text into characters; users want their
transcript back. `display_words` walks the transcript and gives each unit the stretch of
text it came from, punctuation attached (trailing to the word before, leading to the word
after), so "dyspnoea." and "«Objection" come back as written.

Formats, each checked in the tests with the program that reads it:
- JSON: alignadapt's own (the README's "Align output" documents the shape), per-word
  confidence and flags; `data/external.py` reads it back.
- Praat TextGrid: one `words` interval tier, written with praatio; Praat opens it.
- SRT and WebVTT: subtitle cues cut at punctuation and pauses (`subtitles.py`); ffmpeg
  converts them.
- CTM: `utt 1 start duration token confidence`, as Kaldi, NeMo and NIST's sclite read it.
  A token is the transcript's word without the punctuation around it (`superior.` is
  written `superior`), and the utterance id keeps only letters, digits, `-` and `_`, so
  NIST's `ctmValidator.pl` accepts the file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .subtitles import SubtitleSettings, to_srt, to_webvtt

FORMATS = {
    "json": ".json",
    "textgrid": ".TextGrid",
    "srt": ".srt",
    "vtt": ".vtt",
    "ctm": ".ctm",
}


@dataclass
class Word:
    word: str  # as written in the transcript, punctuation included
    unit: str  # what the aligner aligned
    start: float
    end: float
    confidence: float


def display_words(text: str, units: list[str]) -> list[str]:
    """The transcript's text for each unit, punctuation attached; falls back to the unit."""
    bounds: list[tuple[int, int]] = []
    pos = 0
    for unit in units:
        begin, cursor = None, pos
        for char in unit:
            found = text.find(char, cursor)
            if found < 0:
                begin = None
                break
            begin = found if begin is None else begin
            cursor = found + 1
        if begin is None:  # the splitter changed the text (should not happen): show the unit
            return list(units)
        bounds.append((begin, cursor))
        pos = cursor
    if not bounds:
        return []
    lead, trail = [""] * len(bounds), [""] * len(bounds)
    lead[0] = text[: bounds[0][0]].strip()
    trail[-1] = text[bounds[-1][1] :].strip()
    for i in range(1, len(bounds)):
        gap = text[bounds[i - 1][1] : bounds[i][0]]
        parts = gap.split()
        if not parts:
            continue
        if gap == gap.strip():  # no space ("好，世"): punctuation closes the word before
            trail[i - 1] = gap
            continue
        if not gap[0].isspace():  # "dyspnoea. The": up to the first space closes the word before
            trail[i - 1] = parts.pop(0)
        if parts and not gap[-1].isspace():  # 'said "Yes': after the last space opens the next
            lead[i] = parts.pop()
        if parts:  # free-standing punctuation ("word - word") goes with the word before
            trail[i - 1] += " " + " ".join(parts)
    return [lead[i] + text[b0:b1] + trail[i] for i, (b0, b1) in enumerate(bounds)]


def make_words(
    text: str, units: list[str], spans: np.ndarray, confidence: np.ndarray
) -> list[Word]:
    """Each unit's stretch of the transcript with its span and confidence (one per word),
    rounded as written: milliseconds, four decimals."""
    shown = display_words(text, units)
    return [
        Word(w, u, round(float(s), 3), round(float(e), 3), round(float(c), 4))
        for w, u, (s, e), c in zip(shown, units, spans, confidence, strict=True)
    ]


def check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to replace it")


def write_alignment(
    path: Path,
    fmt: str,
    words: list[Word],
    meta: dict,
    duration: float,
    force: bool = False,
    subtitles: SubtitleSettings | None = None,
) -> Path:
    """Write one utterance's words in `fmt`, atomically; refuses to replace a file unless
    forced. `subtitles` sets how SRT and WebVTT cues are cut."""
    check_writable(path, force)
    if fmt == "json":
        document = {**meta, "words": [asdict(w) for w in words]}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "textgrid":
        text = textgrid_text(words, duration)
    elif fmt == "srt":
        text = to_srt(words, subtitles)
    elif fmt == "vtt":
        text = to_webvtt(words, subtitles)
    elif fmt == "ctm":
        utt = ctm_id(meta.get("id", path.stem))
        text = "".join(
            f"{utt} 1 {w.start:.3f} {w.end - w.start:.3f} {ctm_token(w)} {w.confidence:.4f}\n"
            for w in words
        )
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    write_text_atomic(path, text)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """A temporary file in the same folder, renamed over `path`: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ctm_id(name: str) -> str:
    """An utterance id sclite accepts: letters, digits, `-` and `_` (anything else -> `_`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "utt"


def ctm_token(word: Word) -> str:
    """The word without the punctuation around it: inner `-`, `'` and `.` stay (`U.S.-made`,
    `isn't`), a final `.` only in an abbreviation (`U.S.`); the unit when nothing is left."""
    word_text = word.word.strip()
    edge = "".join({c for c in word_text if unicodedata.category(c)[0] in "PSZ"})
    token = word_text.strip(edge)
    if re.fullmatch(r"(?:\w\.)+\w", token) and token + "." in word_text:  # U.S. keeps its dot
        token += "."
    token = re.sub(r"\s+", "_", token)
    return token or word.unit


def textgrid_text(words: list[Word], duration: float) -> str:
    """One `words` interval tier as a long TextGrid. Intervals cannot be empty or overlap,
    so a zero-length word gets 1 ms and an overlap is cut at the next word's start."""
    from praatio import textgrid
    from praatio.utilities.constants import Interval

    entries, cursor = [], 0.0
    for w in words:
        start = max(w.start, cursor)
        end = max(w.end, start + 0.001)
        entries.append(Interval(round(start, 4), round(end, 4), w.word))
        cursor = end
    end_time = max(duration, cursor)
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end_time)
    grid.addTier(textgrid.IntervalTier("words", entries, 0.0, end_time))
    with tempfile.TemporaryDirectory() as tmp:  # praatio writes files, not strings
        out = Path(tmp) / "grid.TextGrid"
        grid.save(str(out), format="long_textgrid", includeBlankSpaces=True)
        return out.read_text(encoding="utf-8")
