"""JSONL manifests: one utterance a line, read lazily, checked with file and line named.

Two input forms are read (see README):
  seed:   {"audio_path": ..., "text": ..., "timestamps": [[start, end], ...]}
  richer: {"audio_path": ..., "text": ..., "language": ..., "duration": ...,
           "words": [{"word": ..., "start": ..., "end": ...}, ...]}
Times are seconds, one pair per alignment unit (the processor's split of `text`).
Audio paths are relative to the manifest's folder or absolute. The richer form is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ManifestError(ValueError):
    """A problem in a manifest line, with the place and what to do about it."""

    def __init__(self, path: str | Path, line: int, problem: str, hint: str = ""):
        self.path, self.line, self.problem, self.hint = str(path), line, problem, hint
        message = f"{path}:{line}: {problem}"
        super().__init__(message + (f"\n  -> {hint}" if hint else ""))


@dataclass
class Utterance:
    audio_path: Path
    text: str
    spans: list[tuple[float, float]] | None  # None when unlabelled
    language: str | None = None
    duration: float | None = None
    line: int = 0
    source: str = ""
    channel: int | None = None  # which channel of a multi-channel file (None: their average)
    labelled_by: str | None = None  # the model whose pseudo-labels these timestamps are

    @property
    def labelled(self) -> bool:
        return bool(self.spans)


def parse_line(raw: str, line: int, manifest: str | Path, check_order: bool = True) -> Utterance:
    """One manifest line -> Utterance; raises ManifestError naming the line.

    `check_order=False` leaves the spans' order to the caller (validation reports every
    span problem of a line instead of the first).
    """
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ManifestError(
            manifest, line, f"not valid JSON ({err.msg})", "each line must be one JSON object"
        ) from None
    if not isinstance(record, dict):
        raise ManifestError(
            manifest, line, "not a JSON object", "each line must be one JSON object"
        )
    audio = record.get("audio_path") or record.get("audio_filepath")
    if not audio:
        raise ManifestError(manifest, line, "no 'audio_path'", "add the audio file's path")
    words = record.get("words")
    text = record.get("text")
    if text is None and words:
        text = " ".join(w["word"] for w in words)
    if not isinstance(text, str) or not text.strip():
        raise ManifestError(manifest, line, "empty or missing 'text'", "give the exact transcript")
    spans = None
    try:
        if words:
            spans = [(float(w["start"]), float(w["end"])) for w in words]
        elif record.get("timestamps"):
            spans = [(float(s), float(e)) for s, e in record["timestamps"]]
    except (KeyError, TypeError, ValueError):
        raise ManifestError(
            manifest,
            line,
            "malformed timestamps",
            "use [[start, end], ...] or words: [{word, start, end}] in seconds",
        ) from None
    path = Path(audio)
    if not path.is_absolute():
        path = Path(manifest).parent / path
    channel = record.get("channel")
    if channel is not None and (not isinstance(channel, int) or channel < 0):
        raise ManifestError(
            manifest, line, f"'channel' is {channel!r}", "give a channel index: 0, 1, ..."
        )
    utt = Utterance(
        path,
        text,
        spans,
        record.get("language"),
        record.get("duration"),
        line,
        str(manifest),
        channel,
        pseudo_labeller(record),
    )
    if spans and check_order:
        check_span_order(utt)
    return utt


def pseudo_labeller(record: dict) -> str | None:
    """The model a line's timestamps came from, when a model made them (pseudo_label.py
    writes it in `alignment.model`); None for references a person made or checked."""
    alignment = record.get("alignment")
    if not isinstance(alignment, dict) or alignment.get("reviewed"):
        return None
    model = alignment.get("model")
    return str(model) if model else None


def span_problems(spans: list[tuple[float, float]]) -> list[tuple[str, str]]:
    """Every order problem of a line's spans, as (problem, what to do)."""
    out: list[tuple[str, str]] = []
    previous = 0.0
    for i, (start, end) in enumerate(spans):
        if start < 0 or end < 0:
            out.append((f"unit {i}: negative time ({start}, {end})", "times are seconds from 0"))
        elif end < start:
            out.append((f"unit {i}: ends ({end}) before it starts ({start})", ""))
        elif start < previous:
            out.append(
                (
                    f"unit {i}: starts at {start} before unit {i - 1} ({previous})",
                    "timestamps must follow the transcript's order",
                )
            )
        previous = max(previous, start)
    return out


def unit_problems(
    text: str, spans: list[tuple[float, float]] | None, units: list[str]
) -> list[tuple[str, str]]:
    """The reference must hold exactly one [start, end] per unit the processor's splitter makes."""
    if not units:
        return [
            (
                f"text {text!r} has no alignable unit (only punctuation or symbols?)",
                "give the words that are spoken, or remove the line",
            )
        ]
    if spans is not None and len(spans) != len(units):
        shown = " ".join(units[:12]) + (" ..." if len(units) > 12 else "")
        return [
            (
                f"the text splits into {len(units)} units but there are {len(spans)} "
                f"timestamp pairs (units: {shown})",
                "give one [start, end] per unit as the aligner splits the text: punctuation is "
                "dropped, CJK characters are one unit each",
            )
        ]
    return []


def check_span_order(utt: Utterance) -> None:
    """Raise on the first order problem of a line's spans."""
    for problem, hint in span_problems(utt.spans or []):
        raise ManifestError(utt.source, utt.line, problem, hint)


def check_units(utt: Utterance, units: list[str]) -> None:
    """Raise when the units and the reference pairs do not match one to one."""
    for problem, hint in unit_problems(utt.text, utt.spans, units):
        raise ManifestError(utt.source, utt.line, problem, hint)


def index_manifest(path: str | Path) -> np.ndarray:
    """Byte offsets of the non-blank lines: 8 bytes a line, however big the manifest."""
    offsets = array("q")  # a compact buffer, not a list of Python ints (36 bytes each)
    with open(path, "rb") as f:
        offset = 0
        for raw in f:
            if raw.strip():
                offsets.append(offset)
            offset += len(raw)
    return np.frombuffer(offsets, dtype=np.int64)


def read_at(path: str | Path, offset: int, line: int) -> Utterance:
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.readline().decode("utf-8")
    return parse_line(raw, line, path)


def iter_manifest(path: str | Path) -> Iterator[Utterance]:
    """Every utterance in order, one line in memory at a time."""
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                yield parse_line(raw, number, path)


def to_record(utt: Utterance, units: list[str], relative_to: Path | None = None) -> dict:
    """The richer form written by alignadapt."""
    audio = utt.audio_path
    if relative_to is not None:
        try:
            audio = audio.resolve().relative_to(relative_to.resolve())
        except ValueError:
            audio = audio.resolve()
    record: dict = {"audio_path": str(audio), "text": utt.text}
    if utt.language:
        record["language"] = utt.language
    if utt.duration is not None:
        record["duration"] = round(utt.duration, 4)
    if utt.channel is not None:
        record["channel"] = utt.channel
    if utt.spans:
        record["words"] = [
            {"word": u, "start": round(s, 4), "end": round(e, 4)}
            for u, (s, e) in zip(units, utt.spans, strict=True)
        ]
    return record


def write_jsonl(path: str | Path, records: Iterable[dict], force: bool = False) -> Path:
    """Write atomically (temp file + rename); refuse to replace an existing file unless forced."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force (or force=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
