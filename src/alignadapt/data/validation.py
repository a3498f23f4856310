"""Every check a manifest line gets, in one place: `alignadapt validate` and training use it.

`inspect_manifest` reads a manifest once, line by line (memory holds one line), and yields a
`LineReport` per non-blank line: the parsed utterance, its units (the processor's split), the
audio's duration and every issue found. Problems stop training; warnings are legal but
suspect (no speech, a clip too short to align, text the splitter changes). `check_manifest`
gathers the reports into the issues and a summary for the `validate` command.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm
from transformers.models.qwen3_asr.processing_qwen3_asr import FORCED_ALIGNER_LANGUAGES

from ..model.prompt import is_supported_language, language_name
from .audio import AudioInfo, audio_info, load_audio, loudest_frame_dbfs
from .manifest import ManifestError, Utterance, parse_line, span_problems, unit_problems

Splitter = Callable[[str, str | None], list[str]]

MIN_SECONDS = 0.3  # shorter clips give the aligner about 4 audio tokens: too few to place words
SILENCE_DBFS = -50.0  # loudest 25 ms frame below this: no speech in the file
END_TOLERANCE = 0.02  # seconds a last word may end past the audio (rounding in other tools)
DURATION_BINS = (1, 5, 10, 30, 60, 300)  # seconds: histogram edges in the summary
PSEUDO_LABEL_HINT = (
    "training needs reference timestamps: pseudo-label the manifest with the base model "
    "first (python pseudo_label.py manifest=IN out=OUT), or remove the line"
)


@dataclass
class Issue:
    manifest: str
    line: int
    message: str
    hint: str = ""
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.manifest}:{self.line}: {kind}{self.message}" + (
            f"\n  -> {self.hint}" if self.hint else ""
        )


@dataclass
class LineReport:
    offset: int  # byte offset of the line in the manifest
    line: int
    utt: Utterance | None  # None when the line could not be parsed
    units: list[str] = field(default_factory=list)
    duration: float | None = None  # seconds of audio (header), None when unreadable
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.utt is not None and not any(not i.warning for i in self.issues)


# Marks that stand for spoken words ("percent", "and", "at", "plus"...): dropping them
# changes what the transcript says, unlike dropping commas or full stops.
SPOKEN_MARKS = set("%&@#/\\*+=<>~^|")


def splitter_changes(text: str, language: str | None, split: Splitter) -> list[str]:
    """What the splitter does to the text beyond dropping punctuation: numbers whose inner
    marks vanish ("3.14" -> "314") and symbols that vanish ("%", "$", "+")."""

    def plain(c: str) -> bool:  # punctuation whose loss changes nothing spoken
        return unicodedata.category(c).startswith("P") and c not in SPOKEN_MARKS and c != "'"

    notes = []
    for token in text.split():
        if token.isalnum():  # letters and digits only: the splitter keeps them as they are
            continue
        if any(c.isdigit() for c in token):  # inner marks of numbers matter: "3.14"
            core = token.strip("".join(c for c in token if plain(c)))
        else:  # "U.S.A." -> "USA" and "state-of-the-art" -> "stateoftheart" are harmless
            core = "".join(c for c in token if not plain(c))
        units = split(token, language)
        if "".join(units) == core:
            continue
        if not units:
            notes.append(f"{core!r} vanishes")
        else:
            notes.append(f"{core!r} becomes {' '.join(units)!r}")
    return notes


def _span_issues(utt: Utterance, duration: float | None) -> list[tuple[str, str]]:
    spans = utt.spans or []
    out = span_problems(spans)
    if duration is not None:
        out += [
            (
                f"unit {i} ends at {end} s, after the audio ends ({duration:.3f} s)",
                "the timestamps belong to another file or another offset: re-import them",
            )
            for i, (_, end) in enumerate(spans)
            if end > duration + END_TOLERANCE
        ]
    return out[:5]


def header_of(audio: Path) -> AudioInfo | None:
    """The audio's header, None when the file does not exist; ValueError when unreadable."""
    if not audio.exists():
        return None
    return audio_info(audio)


def inspect_line(
    raw: bytes,
    offset: int,
    number: int,
    manifest: str | Path,
    split: Splitter,
    *,
    scan_audio: bool = False,
    require_labels: bool = False,
    info: Callable[[Path], AudioInfo | None] | None = None,
) -> LineReport:
    """All checks of one line. `scan_audio` decodes the audio (slow; finds corrupt data and
    silence); without it only the header is read."""
    manifest = str(manifest)
    report = LineReport(offset, number, None)

    def add(message: str, hint: str = "", warning: bool = False) -> None:
        report.issues.append(Issue(manifest, number, message, hint, warning))

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        add(f"not UTF-8 ({err.reason} at byte {err.start})", "save the manifest as UTF-8")
        return report
    try:
        utt = parse_line(text, number, manifest, check_order=False)
    except ManifestError as err:
        add(err.problem, err.hint)
        return report
    report.utt = utt
    if not is_supported_language(utt.language):
        add(
            f"language {utt.language!r} is not one the aligner supports",
            f"use one of: {', '.join(sorted(FORCED_ALIGNER_LANGUAGES))} (or an ISO code such as 'en')",
        )
    try:
        report.units = split(utt.text, utt.language)
    except ImportError as err:  # Japanese/Korean splitters are optional extras
        add(f"cannot split {utt.language} text: {err}", "pip install 'alignadapt[ja,ko]'")
        return report
    for problem, hint in unit_problems(utt.text, utt.spans, report.units):
        add(problem, hint)
    if require_labels and not utt.labelled:
        add("no reference timestamps", PSEUDO_LABEL_HINT)
    try:
        header = (info or header_of)(utt.audio_path)
        if header is None:
            add(
                f"audio file {utt.audio_path} does not exist",
                "paths are relative to the manifest's folder (or absolute)",
            )
        else:
            report.duration = header.duration
            if utt.channel is not None and utt.channel >= header.channels:
                add(
                    f"channel {utt.channel} asked for, {utt.audio_path.name} has {header.channels}",
                    "fix the line's 'channel' (0 is the first)",
                )
    except ValueError as err:
        add(str(err))
    for message, hint in _span_issues(utt, report.duration):
        add(message, hint)
    if report.duration is not None:
        if utt.duration is not None and abs(utt.duration - report.duration) > 0.1:
            add(
                f"'duration' says {utt.duration} s, the audio holds {report.duration:.3f} s",
                "the line and the file disagree: re-run prepare or fix the field",
                warning=True,
            )
        if report.duration < MIN_SECONDS:
            add(
                f"clip of {report.duration:.2f} s is too short to align (under {MIN_SECONDS} s)",
                "merge it with its neighbours or remove it",
                warning=True,
            )
        if scan_audio:
            try:
                audio = load_audio(utt.audio_path, channel=utt.channel)
                if loudest_frame_dbfs(audio) < SILENCE_DBFS:
                    add(
                        f"no speech in {utt.audio_path.name} (loudest frame under {SILENCE_DBFS:g} dBFS)",
                        "check the file: silence, a muted channel, or the wrong recording",
                        warning=True,
                    )
            except ValueError as err:
                add(str(err))
                report.duration = None
    changes = splitter_changes(utt.text, utt.language, split) if report.units else []
    if changes:
        add(
            "the splitter changes the text: " + ", ".join(changes[:5]),
            "the aligner times words as written: normalise numbers and symbols to words "
            '("3.14" -> "three point one four", "%" -> "percent")',
            warning=True,
        )
    return report


def inspect_manifest(
    path: str | Path,
    split: Splitter,
    *,
    scan_audio: bool = False,
    require_labels: bool = False,
    progress: bool = True,
) -> Iterator[LineReport]:
    """A LineReport for every non-blank line, in order, reading one line at a time."""
    path = Path(path)
    cache: dict[Path, AudioInfo | None | ValueError] = {}

    def info(audio: Path) -> AudioInfo | None:  # pieces of one recording share its header
        if audio not in cache:
            if len(cache) > 4096:
                cache.clear()
            try:
                cache[audio] = header_of(audio)
            except ValueError as err:
                cache[audio] = err
        found = cache[audio]
        if isinstance(found, ValueError):
            raise found
        return found

    with open(path, "rb") as f:
        offset = 0
        lines = tqdm(f, desc=f"checking {path.name}", unit=" lines", disable=not progress)
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield inspect_line(
                    raw,
                    offset,
                    number,
                    path,
                    split,
                    scan_audio=scan_audio,
                    require_labels=require_labels,
                    info=info,
                )
            offset += len(raw)


@dataclass
class Summary:
    lines: int = 0
    good: int = 0
    seconds: float = 0.0
    labelled: int = 0
    languages: Counter = field(default_factory=Counter)
    histogram: Counter = field(default_factory=Counter)
    problems: int = 0
    warnings: int = 0

    def add(self, report: LineReport) -> None:
        self.lines += 1
        self.problems += sum(not i.warning for i in report.issues)
        self.warnings += sum(i.warning for i in report.issues)
        if not report.ok:
            return
        self.good += 1
        utt = report.utt
        self.labelled += bool(utt.labelled)
        self.languages[language_name(utt.language) or "unspecified"] += 1
        if report.duration is not None:
            self.seconds += report.duration
            self.histogram[duration_bin(report.duration)] += 1

    def lines_of_text(self) -> list[str]:
        share = self.labelled / self.good if self.good else 0.0
        out = [
            f"lines: {self.lines} ({self.good} good, {self.problems} problems, {self.warnings} warnings)",
            f"audio: {self.seconds / 3600:.2f} h ({self.seconds:.1f} s) in good lines",
            "languages: " + (", ".join(f"{k} {v}" for k, v in self.languages.most_common()) or "-"),
            f"labelled: {self.labelled} of {self.good} good lines ({share:.0%})",
            "durations:",
        ]
        most = max(self.histogram.values(), default=0)
        for label in bin_labels():
            count = self.histogram.get(label, 0)
            bar = "#" * (round(30 * count / most) if most else 0)
            out.append(f"  {label:>10} {count:>8} {bar}")
        return out


def bin_labels() -> list[str]:
    edges = (0, *DURATION_BINS)
    labels = [f"{a}-{b} s" for a, b in zip(edges, edges[1:], strict=False)]
    return [*labels, f">{DURATION_BINS[-1]} s"]


def duration_bin(seconds: float) -> str:
    labels = bin_labels()
    for edge, label in zip(DURATION_BINS, labels, strict=False):
        if seconds < edge:
            return label
    return labels[-1]


def check_manifest(
    path: str | Path,
    split: Splitter,
    *,
    scan_audio: bool = True,
    require_labels: bool = False,
    progress: bool = True,
) -> tuple[list[Issue], Summary]:
    """Every issue of a manifest, and its summary (what `alignadapt validate` prints)."""
    issues: list[Issue] = []
    summary = Summary()
    for report in inspect_manifest(
        path, split, scan_audio=scan_audio, require_labels=require_labels, progress=progress
    ):
        issues.extend(report.issues)
        summary.add(report)
    return issues, summary
