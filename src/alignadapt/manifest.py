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
from collections.abc import Callable, Iterable, Iterator
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
    )
    if spans and check_order:
        check_span_order(utt)
    return utt


def check_span_order(utt: Utterance) -> None:
    previous_start = 0.0
    for i, (start, end) in enumerate(utt.spans or []):
        if start < 0 or end < 0:
            raise ManifestError(utt.source, utt.line, f"unit {i}: negative time ({start}, {end})")
        if end < start:
            raise ManifestError(
                utt.source, utt.line, f"unit {i}: ends ({end}) before it starts ({start})"
            )
        if start < previous_start:
            raise ManifestError(
                utt.source,
                utt.line,
                f"unit {i}: starts at {start} before unit {i - 1} ({previous_start})",
                "timestamps must follow the transcript's order",
            )
        previous_start = start


def check_units(utt: Utterance, units: list[str]) -> None:
    """The reference must hold exactly one [start, end] per unit the processor's splitter makes."""
    if not units:
        raise ManifestError(
            utt.source, utt.line, f"text {utt.text!r} has no alignable unit (only punctuation?)"
        )
    if utt.spans is not None and len(utt.spans) != len(units):
        shown = " ".join(units[:12]) + (" ..." if len(units) > 12 else "")
        raise ManifestError(
            utt.source,
            utt.line,
            f"the text splits into {len(units)} units but there are {len(utt.spans)} timestamp pairs "
            f"(units: {shown})",
            "give one [start, end] per unit as the aligner splits the text: punctuation is dropped, "
            "CJK characters are one unit each",
        )


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


def line_number_at(path: str | Path, offset: int) -> int:
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


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


def validate_manifest(
    path: str | Path, split: Callable[[str, str | None], list[str]]
) -> list[ManifestError]:
    """Every problem in a manifest (JSON, fields, unit/timestamp counts, span order, audio present)."""
    problems: list[ManifestError] = []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                utt = parse_line(raw, number, path)
                if not utt.audio_path.exists():
                    raise ManifestError(
                        path,
                        number,
                        f"audio file {utt.audio_path} does not exist",
                        "paths are relative to the manifest's folder",
                    )
                check_units(utt, split(utt.text, utt.language))
            except ManifestError as err:
                problems.append(err)
    return problems
