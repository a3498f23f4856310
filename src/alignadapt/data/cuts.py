"""Manifest lines <-> Lhotse cuts, and Lhotse's own manifests in.

A manifest line becomes one cut: its recording (the audio file, or one channel of it), one
supervision holding the transcript, language and speaker, the reference times as the word
alignment (`supervision.alignment["word"]`, one item per aligner unit, seconds from the
recording's start, as Lhotse keeps them) and where it came from (`custom["source"]`,
`file:line`). That is the form Lhotse's recipes write (LibriSpeech with MFA alignments, TIMIT, AMI...), so the way back,
`cut_record`, serves both reading our shards and importing corpora: the words are reconciled
with the aligner's units like every other importer's (`importers.reconcile`), and what
cannot be reconciled is reported, never guessed.

A cut that is a whole audio file points at that file; anything else (a segment of a longer
recording, audio held in a shard or behind a URL) is written out as a FLAC file of its own.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .importers import ImportProblem, ReconcileError, Splitter, _Recorded, reconcile
from .manifest import Utterance, to_record
from .validation import LineReport

if TYPE_CHECKING:
    from lhotse.cut import Cut

WORD = "word"  # the alignment kind Lhotse's recipes use for word times


def cut_id(manifest: str | Path, line: int) -> str:
    """A cut id that names its line and is safe as a file and tar member name."""
    return f"{_safe(Path(manifest).stem)}-L{line:09d}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def line_cut(report: LineReport, raw: dict, manifest: str | Path) -> Cut:
    """The cut of one checked manifest line (see the module docstring)."""
    from lhotse import MonoCut, MultiCut, Recording, SupervisionSegment
    from lhotse.supervision import AlignmentItem

    utt = report.utt
    ident = cut_id(manifest, report.line)
    recording = Recording.from_file(utt.audio_path, recording_id=ident)
    alignment = None
    if utt.spans:
        alignment = {
            WORD: [
                AlignmentItem(symbol=u, start=float(s), duration=float(e) - float(s))
                for u, (s, e) in zip(report.units, utt.spans, strict=True)
            ]
        }
    if utt.channel is not None:
        channel: int | list[int] = utt.channel
    else:  # no channel: the aligner hears all of them averaged, so the shard keeps them all
        channel = 0 if recording.num_channels == 1 else list(range(recording.num_channels))
    supervision = SupervisionSegment(
        id=ident,
        recording_id=ident,
        start=0.0,
        duration=recording.duration,
        channel=channel,
        text=utt.text,
        language=utt.language,
        speaker=None if raw.get("speaker") is None else str(raw["speaker"]),
        alignment=alignment,
    )
    custom = {"source": f"{Path(manifest).name}:{report.line}", "audio": str(raw["audio_path"])}
    kind = MultiCut if isinstance(channel, list) else MonoCut
    return kind(
        id=ident,
        start=0.0,
        duration=recording.duration,
        channel=channel,
        recording=recording,
        supervisions=[supervision],
        custom=custom,
    )


def cut_words(cut: Cut) -> list[tuple[str, float, float]] | None:
    """(word, start, end) in seconds from the cut's start, or None without a word alignment.

    Lhotse keeps alignment times in the recording's frame (trimming or truncating a cut
    moves its supervisions, not their alignments), so the cut's start is subtracted."""
    (supervision,) = cut.supervisions
    items = (supervision.alignment or {}).get(WORD)
    if not items:
        return None
    return [
        (item.symbol, float(item.start) - cut.start, float(item.start + item.duration) - cut.start)
        for item in items
    ]


def aligned_units(
    text: str, words: list[tuple[str, float, float]], split: Splitter, language: str | None
) -> tuple[list[str], list[tuple[float, float]]]:
    """The aligner's units of `text` with the times of `words`; ReconcileError when the words
    are not the text (reconciled as every importer does: silences dropped, CJK shared out)."""
    _, units, spans = reconcile(words, split, language)
    whole = split(text, language)
    if whole != units:
        at = next(
            (i for i, (a, b) in enumerate(zip(whole, units, strict=False)) if a != b),
            min(len(whole), len(units)),
        )
        raise ReconcileError(
            f"the text splits into {len(whole)} units, its word times into {len(units)}; "
            f"they differ at unit {at} ({' '.join(whole[at : at + 1]) or 'end'!r} vs "
            f"{' '.join(units[at : at + 1]) or 'end'!r})",
            "the word times belong to another transcript: fix one of them",
        )
    return units, spans


def cut_record(cut: Cut, split: Splitter, audio_dir: Path, out_dir: Path) -> dict:
    """One cut with one supervision -> a manifest line; ReconcileError when its words do not
    match the aligner's units. Audio that is not a whole file is written under `audio_dir`."""
    if len(cut.supervisions) != 1:
        raise ReconcileError(
            f"cut {cut.id} has {len(cut.supervisions)} supervisions",
            "a manifest line is one transcript: trim the cuts to their supervisions",
        )
    (supervision,) = cut.supervisions
    text = " ".join((supervision.text or "").split())
    if not text:
        raise ReconcileError(f"cut {cut.id} has no text", "leave it out or transcribe it")
    language = supervision.language
    units, spans = None, None
    words = cut_words(cut)
    if words is not None:
        units, spans = aligned_units(text, words, split, language)
        if spans and spans[-1][1] > cut.duration + 0.02:
            raise ReconcileError(
                f"the last word ends at {spans[-1][1]:.3f} s, after the cut ({cut.duration:.3f} s)",
                "alignment times must be relative to the cut",
            )
    audio, channel = cut_audio(cut, audio_dir)
    utt = Utterance(audio, text, spans, language, cut.duration, channel=channel)
    record = to_record(utt, units or [], relative_to=out_dir)
    if supervision.speaker is not None:
        record["speaker"] = supervision.speaker
    return record


def cut_audio(cut: Cut, audio_dir: Path) -> tuple[Path, int | None]:
    """(audio file, channel) for a cut: its own file when the cut is a whole file, else a FLAC
    of the cut written under `audio_dir` (the bytes as stored, for a shard's whole recording)."""
    recording = cut.recording
    if recording is None:
        raise ReconcileError(f"cut {cut.id} has no recording", "cuts need audio to align")
    whole = (
        len(recording.sources) == 1
        and recording.transforms is None
        and abs(cut.start) < 1e-6
        and abs(cut.duration - recording.duration) < 1e-3
    )
    channels = cut.channel if isinstance(cut.channel, list) else [cut.channel]
    all_channels = sorted(channels) == list(range(recording.num_channels))
    source = recording.sources[0]
    if whole and source.type == "file" and Path(source.source).exists():
        if all_channels:
            return Path(source.source), None
        if len(channels) == 1:
            return Path(source.source), int(channels[0])
    audio_dir.mkdir(parents=True, exist_ok=True)
    if whole and source.type == "memory" and all_channels:
        data = source.source
        kind = sf.info(io.BytesIO(data)).format.lower()
        path = audio_dir / f"{_safe(cut.id)}.{kind}"
        path.write_bytes(data)
        return path, None
    samples = np.asarray(cut.load_audio(), dtype=np.float32)  # (channels, samples)
    path = audio_dir / f"{_safe(cut.id)}.flac"
    sf.write(path, samples.T, cut.sampling_rate, subtype="PCM_16", format="FLAC")
    return path, None


def import_lhotse(
    cuts_path: str | None,
    recordings: str | None,
    supervisions: str | None,
    out_dir: Path,
    audio_dir: Path,
    split: Splitter,
    problems: list[ImportProblem],
) -> Iterator[dict]:
    """Records from a Lhotse cut manifest, or from a recipe's recordings + supervisions
    manifests; every supervision becomes a line (its cut trimmed to it). A problem names the
    file, the cut's line in it and the cut."""
    from lhotse import CutSet, RecordingSet, SupervisionSet

    if cuts_path:
        source, cuts = cuts_path, CutSet.from_file(cuts_path)
    else:
        source = supervisions
        cuts = CutSet.from_manifests(
            recordings=RecordingSet.from_file(recordings),
            supervisions=SupervisionSet.from_file(supervisions),
        )
    for number, cut in enumerate(tqdm(cuts, desc="importing", unit=" cuts"), start=1):
        where = f"{source}:{number} (cut {cut.id})" if cuts_path else f"{source} (cut {cut.id})"
        try:  # a line is one transcript with exactly its audio: cut to each supervision
            pieces = [cut] if _covers(cut) else list(cut.trim_to_supervisions(False))
        except (ValueError, AssertionError) as err:
            problems.append(ImportProblem(where, f"cannot trim to its supervisions ({err})"))
            continue
        if not pieces:
            problems.append(ImportProblem(where, "no supervision", "a line needs a transcript"))
        for piece in pieces:
            with _Recorded(problems, where, where) as item:
                record = cut_record(piece, split, audio_dir, out_dir)
            if not item.failed:
                yield record


def _covers(cut: Cut) -> bool:
    """One supervision spanning the whole cut (within 10 ms)."""
    if len(cut.supervisions) != 1:
        return False
    sup = cut.supervisions[0]
    return abs(sup.start) < 0.01 and abs(sup.end - cut.duration) < 0.01


def read_raw(manifest: Path, offset: int) -> dict:
    """The JSON object of the line at `offset` (fields the Utterance does not keep, e.g. speaker)."""
    with open(manifest, "rb") as f:
        f.seek(offset)
        return json.loads(f.readline())
