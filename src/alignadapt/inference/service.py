"""Requests in, timestamps out: what every caller of the aligner asks for and gets back.

Evaluate, pseudo-labelling, `alignadapt align`, long validation and the benches each describe
a recording to align as an `AlignRequest` (audio from a file or an array, text or units,
language, an optional reference) and hand a list of them to `Aligner.align_many`, which
splits units and finds breaks (`prepare`), batches shortest first, routes each recording to
one call or to the long path (files longer than a call are read in blocks, never whole), and
returns an `AlignResult` per request. A result carries its words with their confidence, the
one trust rule (`flag_alignment`) and its provenance, so no caller computes them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.audio import audio_info, load_audio
from ..data.manifest import Utterance
from ..model.decoding import Decoded
from ..model.prompt import SAMPLE_RATE, split_units, unit_breaks
from .batching import recording_seconds
from .formats import Word, make_words
from .long import Alignment, Gap

ZERO_LENGTH_S = 1e-6
CRUSHED_S = 0.02  # a word shorter than 20 ms is not a word someone said
MAX_BAD_SHARE = 0.2  # more zero-length or crushed words than this: the alignment is flagged


@dataclass
class AlignRequest:
    """One recording and its transcript. `audio` is a file (any format libsndfile reads) or
    16 kHz mono samples; `units` skips the splitter (they must be the processor's units);
    `duration` (a manifest's) orders the batches without opening the file; `reference`
    (seconds, one start and end per unit) is carried through for the caller to score."""

    audio: str | Path | np.ndarray
    text: str = ""
    units: list[str] | None = None
    language: str | None = None
    channel: int | None = None
    duration: float | None = None
    reference: np.ndarray | None = None
    name: str = ""  # for progress bars and messages

    @classmethod
    def of(
        cls,
        utt: Utterance,
        units: list[str] | None = None,
        name: str = "",
        language: str | None = None,
        scored: bool = False,
    ) -> AlignRequest:
        """A manifest line as a request (`language`: when the line names none); `scored`
        carries its reference timestamps along."""
        reference = np.asarray(utt.spans, dtype=np.float64) if scored else None
        return cls(
            utt.audio_path,
            utt.text,
            units,
            utt.language or language,
            utt.channel,
            utt.duration,
            reference,
            name,
        )


@dataclass
class Prepared:
    """A request with its units and breaks, its length for sorting, and its samples once
    read (a recording longer than one call stays on disk)."""

    request: AlignRequest
    units: list[str]
    breaks: np.ndarray | None
    seconds: float
    samples: np.ndarray | None = None

    @property
    def name(self) -> str:
        audio = self.request.audio
        return self.request.name or (Path(audio).name if not isinstance(audio, np.ndarray) else "")


def prepare(request: AlignRequest, processor, window: float | None = None) -> Prepared:
    """Units (the processor's splitter unless given), breaks, and the length to sort by.
    With `window`, a file no longer than one call is decoded here (pseudo-labelling does this
    in its loader's workers). Raises ValueError for a transcript with nothing to align."""
    units = request.units
    if units is None:
        units = split_units(processor, request.text, request.language)
    if not units:
        name = f"{request.name}: " if request.name else ""
        raise ValueError(f"{name}the transcript {request.text!r} has no word to align")
    breaks = unit_breaks(request.text, units) if request.text else None
    audio = request.audio
    if isinstance(audio, np.ndarray):
        return Prepared(request, units, breaks, len(audio) / SAMPLE_RATE, audio)
    prepared = Prepared(request, units, breaks, recording_seconds(audio, request.duration))
    return prepared if window is None else read_short(prepared, window)


def read_short(prepared: Prepared, window: float) -> Prepared:
    """`prepared` with its file decoded when it fits one call of `window` s (the file
    header says); a longer one stays on disk, to be read piece by piece."""
    request = prepared.request
    if prepared.samples is not None or audio_info(request.audio).duration > window:
        return prepared
    samples = load_audio(request.audio, channel=request.channel)
    return Prepared(request, prepared.units, prepared.breaks, prepared.seconds, samples)


def word_confidence(slot_confidence: np.ndarray | None, n: int) -> np.ndarray:
    """A word is as sure as its less sure boundary (1 where the decoding gives none)."""
    if slot_confidence is None:
        return np.ones(n)
    return np.asarray(slot_confidence).reshape(-1, 2).min(axis=1)


def flag_alignment(
    words: list[Word], min_confidence: float = 0.1, confidence: float | None = None
) -> list[str]:
    """The one trust rule: reasons to distrust an alignment (often a transcript that does not
    match the audio). `confidence`: the line's mean word confidence, when known unrounded."""
    if not words:
        return []
    flags = []
    lengths = np.array([w.end - w.start for w in words])
    zero = int(np.sum(lengths < ZERO_LENGTH_S))
    crushed = int(np.sum((lengths >= ZERO_LENGTH_S) & (lengths < CRUSHED_S)))
    if zero / len(words) > MAX_BAD_SHARE:
        flags.append(f"{zero} of {len(words)} words have zero length")
    if crushed / len(words) > MAX_BAD_SHARE:
        flags.append(f"{crushed} of {len(words)} words are crushed under {CRUSHED_S * 1000:.0f} ms")
    if confidence is None:
        confidence = float(np.mean([w.confidence for w in words]))
    if confidence < min_confidence:
        flags.append(f"low confidence: {confidence:.3f} on average (below {min_confidence})")
    return flags


def gap_record(gap: Gap) -> dict:
    """A gap as JSON: kind, time range (s) and the units concerned."""
    return {
        "kind": gap.kind,
        "start": round(gap.start, 3),
        "end": round(gap.end, 3),
        "first_unit": gap.first,
        "units": gap.count,
    }


@dataclass
class AlignResult:
    """One request aligned: every decoding asked for (`alignment.decoded`), the first one
    (`decoded`) turned into words, and where transcript and audio disagree (`gaps`)."""

    request: AlignRequest
    units: list[str]
    duration: float  # seconds of audio
    alignment: Alignment
    model: str  # what aligned it (provenance)
    decoding: str  # the decoding written out: the settings' first
    min_confidence: float  # the settings' trust threshold
    _words: list[Word] | None = field(default=None, repr=False)

    @property
    def decoded(self) -> Decoded:
        return self.alignment.decoded[self.decoding]

    @property
    def gaps(self) -> list[Gap]:
        return self.alignment.gaps

    @property
    def word_confidence(self) -> np.ndarray:
        return word_confidence(self.decoded.confidence, len(self.units))

    @property
    def confidence(self) -> float:
        """The line's confidence: the mean over words."""
        return float(self.word_confidence.mean())

    @property
    def words(self) -> list[Word]:
        """The transcript's own words (punctuation kept) with times and confidence."""
        if self._words is None:
            self._words = make_words(
                self.request.text, self.units, self.decoded.spans, self.word_confidence
            )
        return self._words

    @property
    def low_confidence(self) -> bool:
        """The trust rule's confidence test alone: what a pseudo-label line is marked by."""
        return self.confidence < self.min_confidence

    @property
    def flags(self) -> list[str]:
        """Why this alignment is not to be trusted (the one rule); empty when it is."""
        return flag_alignment(self.words, self.min_confidence, self.confidence)

    def provenance(self) -> dict:
        """Who aligned it and how sure it is, as written next to the times."""
        return {
            "model": self.model,
            "decoding": self.decoding,
            "confidence": round(self.confidence, 4),
            "low_confidence": self.low_confidence,
            "pieces": len(self.alignment.pieces),
            "gaps": [gap_record(g) for g in self.gaps],
        }
