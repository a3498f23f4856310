"""Aligning a recording of any length: find the speech (signal.py), give it its words
(programme.py), plan pieces (planning.py), align them in batches, join
them, and say where transcript and audio disagree.

Every caller (evaluate, pseudo-labelling, `alignadapt align`) reaches this through
`Aligner.align_many`; the model call is passed in (`run`), so tests can put
a stand-in aligner in its place. Audio comes from an `ArrayAudio` (already decoded) or a
`FileAudio` (read in blocks for the energy pass and piece by piece for the calls, so an hour
never sits in memory decoded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.audio import audio_info, load_audio, read_blocks
from ..model.decoding import Decoded
from ..model.prompt import SAMPLE_RATE
from .planning import Assignment, Piece, assign, plan_pieces, segment_call, to_recording
from .programme import runs_of
from .signal import frame_features

WORDS_NOT_IN_AUDIO = "words not in the audio"
AUDIO_WITHOUT_WORDS = "audio without words"
BLOCK_S = 60.0  # seconds decoded at a time for the energy pass


@dataclass
class Gap:
    """A place where transcript and audio disagree, with its time range (seconds)."""

    kind: str  # WORDS_NOT_IN_AUDIO or AUDIO_WITHOUT_WORDS
    start: float
    end: float
    first: int  # first unit concerned (the unit after the stretch, for audio without words)
    count: int  # units concerned (0 for audio without words)


@dataclass
class Alignment:
    """One recording aligned with one or more decodings (absolute times). Units in a
    WORDS_NOT_IN_AUDIO gap have zero length at the gap's start and confidence 0."""

    decoded: dict[str, Decoded]
    pieces: list[Piece] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class ArrayAudio:
    """A decoded 16 kHz recording."""

    def __init__(self, audio: np.ndarray):
        self.audio = audio
        self.duration = len(audio) / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        step = int(BLOCK_S * SAMPLE_RATE)
        for i in range(0, len(self.audio), step):
            yield self.audio[i : i + step]

    def read(self, start: float, end: float) -> np.ndarray:
        return self.audio[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]


class FileAudio:
    """A recording on disk, decoded in blocks or stretch by stretch, never whole."""

    def __init__(self, path: str | Path, channel: int | None = None):
        self.path, self.channel = Path(path), channel
        self.duration = audio_info(path).duration

    def blocks(self) -> Iterator[np.ndarray]:
        return read_blocks(self.path, BLOCK_S, self.channel)

    def read(self, start: float, end: float) -> np.ndarray:
        return load_audio(self.path, channel=self.channel, start=start, end=end)


RunPieces = Callable[[list[tuple[Piece, np.ndarray, list[str]]]], list[dict[str, Decoded]]]


def align_long(
    source: ArrayAudio | FileAudio,
    units: list[str],
    run: RunPieces,
    window: float,
    overlap: float,
    flag_gap: float,
    batch_size: int = 8,
    desc: str | None = None,
    breaks: np.ndarray | None = None,
) -> Alignment:
    """Align a recording piece by piece; `run` aligns a batch of (piece, its call's audio,
    its call's units) and returns times in the call's audio, per decoding. `breaks`: the
    units a clause ends on (`model.prompt.unit_breaks`), which lets an unspoken sentence be
    found and left out; None when the transcript has no punctuation."""
    frames = frame_features(source.blocks())
    assignment = assign(frames.levels_db, units, window, overlap, breaks, frames.flux_db)
    todo = None
    for _ in range(PASSES):
        moved = refine_cuts(assignment, source, units, run, batch_size, todo)
        todo = {c + d for c in moved for d in (-1, 0, 1)}  # a cut next to a move may change
    plan = plan_pieces(assignment, source.duration, overlap, window)
    n = len(units)
    slots: dict[str, dict[str, np.ndarray]] = {}
    with tqdm(
        total=len(plan.pieces), desc=desc or "aligning pieces", unit="piece", leave=False
    ) as bar:
        for b in range(0, len(plan.pieces), batch_size):
            batch = [
                (
                    p,
                    np.concatenate([source.read(lo, hi) for lo, hi in p.stretches]),
                    [units[i] for i in p.units],
                )
                for p in plan.pieces[b : b + batch_size]
            ]
            for (piece, _, _), out in zip(batch, run(batch), strict=True):
                keep = slice(2 * len(piece.lead), 2 * (len(piece.lead) + len(piece.own)))
                own = np.repeat(2 * np.asarray(piece.own), 2) + np.tile([0, 1], len(piece.own))
                for name, dec in out.items():
                    into = slots.setdefault(name, _empty(n))
                    into["times"][own] = to_recording(dec.times[keep], piece.stretches)
                    into["confidence"][own] = _or(dec.confidence, 1.0, len(dec.times))[keep]
                    into["changed"][own] = _or(dec.changed, False, len(dec.times))[keep]
                    into["aligned"][own] = True
            bar.update(len(batch))
    decoded = {name: _join(s) for name, s in slots.items()}
    if not decoded:  # no speech found at all: every unit is missing
        decoded = {"argmax": _join(_empty(n))}
    aligned = next(iter(slots.values()))["aligned"] if slots else np.zeros(2 * n, bool)
    gaps = find_gaps(next(iter(decoded.values())).spans, aligned[::2], source.duration, flag_gap)
    return Alignment(decoded, plan.pieces, gaps)


SHIFTS = (-2, -1, 0, 1, 2)  # units moved across a cut when the aligner is consulted
PASSES = 2  # a second pass decides each cut with both its neighbours settled (measured on
# 2 min of demo sentences: 15 of 27 cuts wrong after the durations, 4 after one pass, 2 after two)


def refine_cuts(
    assignment: Assignment,
    source: ArrayAudio | FileAudio,
    units: list[str],
    run: RunPieces,
    batch_size: int,
    only: set[int] | None = None,
) -> set[int]:
    """Settle the words next to every cut with the aligner, cut after cut from the start: the
    two segments around the cut are aligned alone with each split of their units (up to two
    moved either way), and the split whose word spans fit the energy best wins
    (`Assignment.misfit`: a word on the wrong side leaves speech without a word on one side
    and is squeezed into a pause or crushed on the other). Going in order, the left segment's
    other end is already settled when its cut is decided. Only the cuts in `only` when given;
    returns the cuts that moved."""
    segments, duration = assignment.segments, source.duration
    moved: set[int] = set()
    for cut, (left, right) in enumerate(assignment.cuts()):
        if (only is not None and cut not in only) or assignment.at_break(left):
            continue
        trials = []  # (shift, segment, unit indices)
        for shift in SHIFTS:
            split = assignment.moved(left, right, shift)
            if split is not None:
                trials += [(shift, left, split[0]), (shift, right, split[1])]
        scores: dict[int, float] = {}
        for b in range(0, len(trials), batch_size):
            calls = []
            for _, seg, idx in trials[b : b + batch_size]:
                lo, hi = segment_call(segments, seg, duration)
                piece = Piece(lo, hi, idx.tolist())
                calls.append((piece, source.read(lo, hi), [units[i] for i in idx]))
            for (shift, _, _), (piece, _, _), out in zip(
                trials[b : b + batch_size], calls, run(calls), strict=True
            ):
                spans = next(iter(out.values())).spans
                scores[shift] = scores.get(shift, 0.0) + assignment.misfit(
                    piece.start, piece.end, spans
                )
        if not scores:
            continue
        best = min(scores, key=lambda s: (scores[s], abs(s)))
        if best:
            a, b = assignment.moved(left, right, best)
            assignment.seg_of[a] = left
            assignment.seg_of[b] = right
            moved.add(cut)
            if only is not None:  # the next cut's left segment just changed
                only.add(cut + 1)
    return moved


def _empty(n: int) -> dict[str, np.ndarray]:
    return {
        "times": np.full(2 * n, np.nan),
        "confidence": np.zeros(2 * n),
        "changed": np.zeros(2 * n, dtype=bool),
        "aligned": np.zeros(2 * n, dtype=bool),
    }


def _or(values: np.ndarray | None, default, n: int) -> np.ndarray:
    return np.asarray(values) if values is not None else np.full(n, default)


def _join(s: dict[str, np.ndarray]) -> Decoded:
    """Fill the units no piece aligned with the time before them; keep times non-decreasing."""
    times = s["times"].copy()
    times[0] = 0.0 if np.isnan(times[0]) else times[0]
    for i in np.flatnonzero(np.isnan(times)):
        times[i] = times[i - 1]
    times = np.maximum.accumulate(times)
    return Decoded(times, int(s["changed"].sum()), s["confidence"], s["changed"])


def find_gaps(
    spans: np.ndarray, aligned: np.ndarray, duration: float, flag_gap: float
) -> list[Gap]:
    """Runs of units that got no audio, and stretches over `flag_gap` s with no aligned word
    (before the first, between two, after the last)."""
    gaps = []
    for first, count in runs_of(~aligned):
        before = spans[first - 1, 1] if first > 0 else 0.0
        after = spans[first + count, 0] if first + count < len(spans) else duration
        gaps.append(Gap(WORDS_NOT_IN_AUDIO, float(before), float(max(before, after)), first, count))
    idx = np.flatnonzero(aligned)
    ends = np.concatenate([[0.0], spans[idx, 1]])
    starts = np.concatenate([spans[idx, 0], [duration]])
    nexts = np.concatenate([idx, [len(spans)]])
    for end, start, nxt in zip(ends, starts, nexts, strict=True):
        if start - end > flag_gap:
            gaps.append(Gap(AUDIO_WITHOUT_WORDS, float(end), float(start), int(nxt), 0))
    return sorted(gaps, key=lambda g: (g.start, g.first))
