"""The ways data comes in, each ending as manifest records: folders of audio and transcripts
paired by stem, alignments from other tools (Praat TextGrid, e.g. from Montreal Forced
Aligner, and CTM), and NeMo-style manifests.

Imported words are reconciled with the aligner's own units (the processor's splitter, the
one used everywhere): silence intervals are dropped, a CJK word becomes one unit per
character with its span shared out by character, punctuation goes as the splitter drops
it. What cannot be reconciled without guessing is reported as an `ImportProblem`, never
written. Records are produced lazily so `write_jsonl` can stream them to disk.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm
from transformers.models.qwen3_asr.processing_qwen3_asr import _is_cjk_char

from .audio import AudioInfo, audio_info
from .manifest import Utterance, to_record
from .validation import END_TOLERANCE

Splitter = Callable[[str, str | None], list[str]]
Word = tuple[str, float, float]

# Interval labels that mark silence or noise, not words (MFA writes "" and "spn"; Kaldi-style
# tools "sil", "sp", "<eps>").
SILENCE_LABELS = {"", "sil", "sp", "spn", "<eps>", "<sil>", "silence", "<silence>"}


@dataclass
class ImportProblem:
    source: str  # the file (and line) the problem is in
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" + (f"\n  -> {self.hint}" if self.hint else "")


class ReconcileError(ValueError):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass
class Pairing:
    pairs: list[tuple[Path, Path]]  # (audio, other file)
    unpaired_audio: list[Path]
    unpaired_other: list[Path]
    problems: list[ImportProblem]


def find_files(root: str | Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Every file under `root` (recursively) whose suffix is one of `suffixes` (any case)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def pair_by_stem(
    audio_root: Path, audio: list[Path], other_root: Path, other: list[Path]
) -> Pairing:
    """Pair files by their path below their root without the suffix (`a/b/x.wav` with
    `a/b/x.txt`); what is left pairs by bare stem when that stem is unique on both sides."""
    problems: list[ImportProblem] = []

    def keyed(root: Path, files: list[Path], what: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for path in files:
            key = path.relative_to(root).with_suffix("").as_posix()
            if key in out:
                problems.append(
                    ImportProblem(
                        str(path),
                        f"two {what} files share the stem {key!r}: {out[key].name} and {path.name}",
                        "keep one (pairing by stem cannot choose); both are left out",
                    )
                )
                out[key] = None  # type: ignore[assignment]
            else:
                out[key] = path
        return {k: v for k, v in out.items() if v is not None}

    a, o = keyed(audio_root, audio, "audio"), keyed(other_root, other, "transcript")
    pairs = [(a[k], o[k]) for k in sorted(a.keys() & o.keys())]
    rest_a = {k: v for k, v in a.items() if k not in o}
    rest_o = {k: v for k, v in o.items() if k not in a}
    stems_a = defaultdict(list)
    for v in rest_a.values():
        stems_a[v.stem].append(v)
    stems_o = defaultdict(list)
    for v in rest_o.values():
        stems_o[v.stem].append(v)
    for stem in sorted(stems_a.keys() & stems_o.keys()):
        if len(stems_a[stem]) == len(stems_o[stem]) == 1:
            pairs.append((stems_a[stem][0], stems_o[stem][0]))
            del stems_a[stem], stems_o[stem]
    unpaired_a = sorted(p for ps in stems_a.values() for p in ps)
    unpaired_o = sorted(p for ps in stems_o.values() for p in ps)
    return Pairing(pairs, unpaired_a, unpaired_o, problems)


def read_transcript(path: Path) -> str:
    """The transcript as one line of UTF-8 text; ValueError saying how to fix other encodings."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReconcileError(
            f"not UTF-8 text ({err.reason}: byte 0x{err.object[err.start]:02x} at position {err.start})",
            f"re-save it as UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 {path.name} > fixed.txt`",
        ) from None
    return " ".join(text.split())


def join_words(words: list[str]) -> str:
    """Words -> text: spaces between words, none between two CJK characters."""
    out = ""
    for word in words:
        if out and not (_is_cjk_char(out[-1]) and _is_cjk_char(word[0])):
            out += " "
        out += word
    return out


def reconcile(
    words: list[Word], split: Splitter, language: str | None
) -> tuple[str, list[str], list[tuple[float, float]]]:
    """Words with times from another tool -> (text, units, spans) in the aligner's units.

    Silence labels are dropped, punctuation-only words too (the splitter has no unit for
    them). A word the splitter cuts into several single CJK characters shares its span out
    by character; any other split of one word (two Latin words in one interval, a Japanese
    word the tokeniser cuts) would be a guess, so it raises ReconcileError, as does a text
    the splitter cuts differently as a whole than word by word.
    """
    kept = [(w.strip(), s, e) for w, s, e in words if w.strip().lower() not in SILENCE_LABELS]
    if not kept:
        raise ReconcileError("no words, only silence", "leave the file out")
    units: list[str] = []
    spans: list[tuple[float, float]] = []
    previous = 0.0
    for word, start, end in kept:
        if start < 0 or end < start:
            raise ReconcileError(f"word {word!r} has times ({start}, {end})", "fix the alignment")
        if start < previous:
            raise ReconcileError(
                f"word {word!r} starts at {start}, before the word before it ({previous})",
                "words must be in time order",
            )
        previous = start
        pieces = split(word, language)
        if len(pieces) > 1 and not all(len(p) == 1 and _is_cjk_char(p) for p in pieces):
            raise ReconcileError(
                f"word {word!r} ({start}-{end} s) is {len(pieces)} units for the aligner "
                f"({' '.join(pieces)}); sharing its span out would be a guess",
                "give each unit its own interval, or align this file with alignadapt instead",
            )
        for k, piece in enumerate(pieces):  # CJK: equal shares, the last ends exactly at `end`
            share = (end - start) / len(pieces)
            spans.append(
                (start + k * share, end if k == len(pieces) - 1 else start + (k + 1) * share)
            )
            units.append(piece)
    text = join_words([w for w, _, _ in kept])
    whole = split(text, language)
    if whole != units:
        at = next((i for i, (a, b) in enumerate(zip(whole, units, strict=False)) if a != b), None)
        at = at if at is not None else min(len(whole), len(units))
        raise ReconcileError(
            f"the words split one by one give {len(units)} units, the text as a whole "
            f"{len(whole)}; they differ at unit {at}",
            "the tokeniser looks at context (Japanese, Korean): align this file with alignadapt "
            "instead, or fix the words",
        )
    if not units:
        raise ReconcileError("no alignable unit (only punctuation)", "leave the file out")
    return text, units, spans


def _record(
    audio: Path,
    text: str,
    units: list[str] | None,
    spans: list[tuple[float, float]] | None,
    language: str | None,
    info: AudioInfo,
    out_dir: Path,
    channel: int | None = None,
) -> dict:
    utt = Utterance(audio, text, spans, language, info.duration, channel=channel)
    return to_record(utt, units or [], relative_to=out_dir)


class _Recorded:
    """`with _Recorded(problems, label_source, audio_source) as item:` turns a failed item
    into a problem on the right file (a ReconcileError on its labels or transcript, any
    other ValueError on its audio) and carries on; `item.failed` says whether to skip it."""

    def __init__(self, problems: list, label_source, audio_source):
        self.problems, self.failed = problems, False
        self.label_source, self.audio_source = str(label_source), str(audio_source)

    def __enter__(self) -> _Recorded:
        return self

    def __exit__(self, kind, err, tb) -> bool:
        if isinstance(err, ReconcileError):
            self.problems.append(ImportProblem(self.label_source, err.message, err.hint))
        elif isinstance(err, ValueError):
            self.problems.append(ImportProblem(self.audio_source, str(err)))
        else:
            return False
        self.failed = True
        return True


def _check_end(spans: list[tuple[float, float]], info: AudioInfo) -> None:
    if spans and spans[-1][1] > info.duration + END_TOLERANCE:
        raise ReconcileError(
            f"the last word ends at {spans[-1][1]:.3f} s, after the audio ({info.duration:.3f} s)",
            "times must be relative to the start of this file (a segment-relative CTM needs "
            "its segment offsets added)",
        )


def import_folders(
    pairing: Pairing,
    out_dir: Path,
    language: str | None,
    split: Splitter | None,
    problems: list[ImportProblem],
) -> Iterator[dict]:
    """Unlabelled records from (audio, transcript) pairs."""
    for audio, text_file in tqdm(pairing.pairs, desc="importing", unit=" files"):
        with _Recorded(problems, text_file, audio) as item:
            text = read_transcript(text_file)
            if not text:
                raise ReconcileError("empty transcript", "write what is said, or leave it out")
            if split is not None and not split(text, language):
                raise ReconcileError(
                    f"no alignable unit in {text!r}", "write what is said, or leave it out"
                )
            info = audio_info(audio)
        if item.failed:
            continue
        yield _record(audio, text, None, None, language, info, out_dir)


def read_textgrid_words(path: Path, tier: str) -> list[Word]:
    from praatio import textgrid

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as err:  # praatio raises several kinds for a malformed file
        raise ReconcileError(
            f"cannot read the TextGrid ({err})", "open it in Praat and save it again"
        ) from None
    if tier not in grid.tierNames:
        raise ReconcileError(
            f"no tier named {tier!r} (tiers: {', '.join(grid.tierNames)})",
            "name the word tier with --tier",
        )
    found = grid.getTier(tier)
    if not hasattr(found, "entries") or found.entryType.__name__ != "Interval":
        raise ReconcileError(f"tier {tier!r} is not an interval tier", "name the word tier")
    return [(e.label, float(e.start), float(e.end)) for e in found.entries]


def import_textgrids(
    pairing: Pairing,
    tier: str,
    out_dir: Path,
    language: str | None,
    split: Splitter,
    problems: list[ImportProblem],
) -> Iterator[dict]:
    """Labelled records from (audio, TextGrid) pairs; MFA output works as it is (tier 'words')."""
    for audio, grid in tqdm(pairing.pairs, desc="importing", unit=" files"):
        with _Recorded(problems, grid, audio) as item:
            text, units, spans = reconcile(read_textgrid_words(grid, tier), split, language)
            info = audio_info(audio)
            _check_end(spans, info)
        if item.failed:
            continue
        yield _record(audio, text, units, spans, language, info, out_dir)


CTM_CHANNELS = {"1": 0, "a": 0, "2": 1, "b": 1}


def read_ctm(path: Path, problems: list[ImportProblem]) -> dict[tuple[str, str], list[Word]]:
    """(utterance id, channel) -> words in time order, from `utt chan start dur word [conf]`."""
    groups: dict[tuple[str, str], list[Word]] = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            fields = raw.split()
            if not fields or fields[0].startswith(";;"):
                continue
            try:
                utt, chan, start, dur, word = fields[:5]
                groups[(utt, chan)].append((word, float(start), float(start) + float(dur)))
            except ValueError:
                problems.append(
                    ImportProblem(
                        f"{path}:{number}",
                        f"not a CTM line: {raw.strip()!r}",
                        "expected `utterance channel start duration word [confidence]`",
                    )
                )
    return {k: sorted(v, key=lambda w: w[1]) for k, v in groups.items()}


def import_ctm(
    ctm: Path,
    audio_files: list[Path],
    out_dir: Path,
    language: str | None,
    split: Splitter,
    problems: list[ImportProblem],
    unmatched: list[str],
) -> Iterator[dict]:
    """Labelled records from a CTM whose utterance ids are audio file stems."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for path in audio_files:
        by_stem[path.stem].append(path)
    groups = read_ctm(ctm, problems)
    for (utt_id, chan), words in tqdm(groups.items(), desc="importing", unit=" utts"):
        source = f"{ctm} ({utt_id}, channel {chan})"
        candidates = by_stem.get(utt_id, [])
        if len(candidates) != 1:
            if candidates:
                problems.append(
                    ImportProblem(source, f"{len(candidates)} audio files have the stem {utt_id!r}")
                )
            else:
                unmatched.append(utt_id)
            continue
        audio = candidates[0]
        with _Recorded(problems, source, audio) as item:
            info = audio_info(audio)
            index = CTM_CHANNELS.get(chan.lower())
            if index is None:
                raise ReconcileError(f"unknown channel {chan!r}", "use 1/2 or A/B")
            if index >= info.channels:
                raise ReconcileError(
                    f"channel {chan} asked for, {audio.name} has {info.channels}",
                    "fix the CTM's channel field",
                )
            text, units, spans = reconcile(words, split, language)
            _check_end(spans, info)
        if item.failed:
            continue
        channel = index if info.channels > 1 else None
        yield _record(audio, text, units, spans, language, info, out_dir, channel)


def import_nemo(
    manifest: Path,
    out_dir: Path,
    language: str | None,
    split: Splitter | None,
    problems: list[ImportProblem],
) -> Iterator[dict]:
    """Unlabelled records from a NeMo manifest (`audio_filepath`, `duration`, `text`)."""
    with open(manifest, encoding="utf-8") as f:
        for number, raw in enumerate(tqdm(f, desc="importing", unit=" lines"), start=1):
            if not raw.strip():
                continue
            source = f"{manifest}:{number}"
            try:
                line = json.loads(raw)
                audio = Path(line["audio_filepath"])
                text = " ".join(str(line.get("text", "")).split())
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                problems.append(
                    ImportProblem(
                        source,
                        f"not a NeMo manifest line ({err})",
                        "each line is JSON with audio_filepath, duration, text",
                    )
                )
                continue
            if float(line.get("offset") or 0.0):
                problems.append(
                    ImportProblem(
                        source,
                        "has an 'offset': a piece of a longer file",
                        "cut the audio into its own file, or import the whole recording",
                    )
                )
                continue
            if not audio.is_absolute():
                audio = manifest.parent / audio
            lang = line.get("lang") or line.get("language") or language
            with _Recorded(problems, source, source) as item:
                if not audio.exists():
                    raise ReconcileError(
                        f"audio file {audio} does not exist",
                        "relative paths are read from the NeMo manifest's folder",
                    )
                if not text or (split is not None and not split(text, lang)):
                    raise ReconcileError(
                        "no words in 'text'", "write what is said, or leave it out"
                    )
                info = audio_info(audio)
            if item.failed:
                continue
            yield _record(audio, text, None, None, lang, info, out_dir)
