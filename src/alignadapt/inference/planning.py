"""Long recordings, step 3: the pieces, one aligner call each, and the words each one gets.

A **piece** is the one kind of cut made at inference: a stretch of a long recording, cut in
pauses, aligned in one call with exactly its own words. (The datamodule cuts labelled
recordings into **segments** at word boundaries, data/sampling.py; the memory planner's
synthetic calls are **probes**, training/memory.py.) No model is called here.

A forced aligner places every unit it is given: handed more text than its audio holds, it
squeezes the surplus in and moves the words around it. So the words of a piece cannot be
found by asking the aligner (any answer depends on how it squeezes); they are decided first,
from evidence the aligner does not shape, and each piece is then aligned with exactly its
words.

3. **Pieces** (`assign`, `plan_pieces`): consecutive segments are grouped into pieces of at
most a window of audio, cut in the longest pause of the last half of what fits.
4. **The words next to a cut** are settled by the aligner (`long.refine_cuts`) unless the cut
falls where the transcript's punctuation ends a clause (a pause and a full stop agree, and
the aligner's word spans are weaker evidence than both): durations pin
a cut's text only to a word or so (the speaking rate varies from sentence to sentence), so
the two segments around each cut are aligned alone with each split of their units, and the
split whose word spans fit the energy best wins (`Assignment.misfit`). This asks the aligner
to compare texts, never to find a boundary in surplus text.
5. A piece's call hears its segments with a pad of pause, and, when `overlap` > 0, `overlap`
seconds of each neighbour's speech next to the cut (the pause in between shortened to two
pads) with the neighbour's units estimated to lie there; their times are discarded.


The same rule (cut in pauses, each piece with exactly its own words, at most a window long)
is what the datamodule applies to labelled recordings (`data.sampling.plan_segments`), where
the reference times say which words lie where and no estimate is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .programme import EMPTY_COST, assign_units, empty_costs, fit_rate, keep_short_skips, runs_of
from .signal import FRAME_S, speech_likeness, speech_segments, voice_threshold

# A call's pad of pause: chosen when cuts were settled in order (6bd14e5), from the demo
# corpus's pauses (it pads sentences with 0.15-0.4 s).
PAD_S = 0.3  # seconds of pause kept next to speech in a call


@dataclass
class Piece:
    """One aligner call: audio [start, end) s, its own units (indices into the transcript's),
    and the overlap units before (`lead`) and after (`trail`) whose times are discarded."""

    start: float
    end: float
    own: list[int]
    lead: list[int] = field(default_factory=list)
    trail: list[int] = field(default_factory=list)
    stretches: list[tuple[float, float]] = field(default_factory=list)  # the call's audio, in
    # order; more than one where a long pause was left out (default: [start, end])

    def __post_init__(self) -> None:
        self.stretches = self.stretches or [(self.start, self.end)]

    @property
    def units(self) -> list[int]:
        return [*self.lead, *self.own, *self.trail]


@dataclass
class Plan:
    pieces: list[Piece]
    missing: list[tuple[int, int]]  # (first unit, count) runs judged not spoken
    segments: np.ndarray  # (m, 2) speech segments, seconds


def estimated_spans(segments: np.ndarray, seg_of: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each unit spread over its segment by characters (NaN for units not spoken)."""
    spans = np.full((len(seg_of), 2), np.nan)
    for j in np.unique(seg_of[seg_of >= 0]):
        members = np.flatnonzero(seg_of == j)
        w = weights[members]
        edges = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
        start, end = segments[j]
        spans[members, 0] = start + (end - start) * edges[:-1]
        spans[members, 1] = start + (end - start) * edges[1:]
    return spans


@dataclass
class Assignment:
    """Speech segments, the segment of every unit (-1: not spoken) and the segments grouped
    into pieces; `cuts()` are the places between groups where the aligner is consulted."""

    segments: np.ndarray
    seg_of: np.ndarray
    groups: list[list[int]]
    weights: np.ndarray
    voiced: np.ndarray  # per 10 ms frame
    breaks: np.ndarray | None = None  # units a clause ends on, when the transcript says
    likeness: np.ndarray | None = None  # per segment, `speech_likeness`

    def at_break(self, left: int) -> bool:
        """Whether the units of segment `left` end a clause: a cut there sits where both the
        audio (a pause) and the transcript (punctuation) put a boundary."""
        if self.breaks is None:
            return False
        units = np.flatnonzero(self.seg_of == left)
        return bool(len(units) and self.breaks[units[-1]])

    def cuts(self) -> list[tuple[int, int]]:
        """(last segment before, first segment after) of every cut whose units adjoin."""
        out = []
        for left, right in zip(self.groups, self.groups[1:], strict=False):
            a, b = np.flatnonzero(self.seg_of == left[-1]), np.flatnonzero(self.seg_of == right[0])
            if len(a) and len(b) and a[-1] + 1 == b[0]:
                out.append((left[-1], right[0]))
        return out

    def moved(self, left: int, right: int, shift: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Units of the two segments of a cut with `shift` units moved right to left (> 0) or
        left to right (< 0); None when a side would be left empty."""
        a, b = np.flatnonzero(self.seg_of == left), np.flatnonzero(self.seg_of == right)
        both = np.concatenate([a, b])
        split = len(a) + shift
        return (both[:split], both[split:]) if 0 < split < len(both) else None

    def misfit(self, start: float, end: float, spans: np.ndarray) -> float:
        """How badly word spans (relative to `start`) fit the energy of [start, end): seconds
        of quiet inside words, of speech outside every word, 0.1 s per word under 30 ms."""
        lo, hi = int(round(start / FRAME_S)), int(round(end / FRAME_S))
        covered = np.zeros(max(hi - lo, 0), dtype=bool)
        cost = 0.0
        for s, e in spans:
            a, b = int(s / FRAME_S), int(e / FRAME_S)
            covered[a:b] = True
            cost += (~self.voiced[lo + a : lo + b]).sum() * FRAME_S + 0.1 * (e - s < 0.03)
        return cost + (self.voiced[lo:hi] & ~covered[: len(self.voiced[lo:hi])]).sum() * FRAME_S


def segment_call(
    segments: np.ndarray, j: int, duration: float, last: int | None = None
) -> tuple[float, float]:
    """The audio a call on segments j..last hears: with a pad of pause on each side (at most
    PAD_S, at most half the pause, so no neighbour's speech gets in)."""
    last = j if last is None else last
    before = segments[j, 0] - (segments[j - 1, 1] if j > 0 else 0.0)
    after = (segments[last + 1, 0] if last + 1 < len(segments) else duration) - segments[last, 1]
    lo = segments[j, 0] - min(PAD_S, before / 2 if j > 0 else before)
    hi = segments[last, 1] + min(PAD_S, after / 2 if last + 1 < len(segments) else after)
    return max(0.0, lo), min(duration, hi)


def assign(
    levels_db: np.ndarray,
    units: Sequence[str],
    window: float,
    overlap: float,
    breaks: np.ndarray | None = None,
    flux_db: np.ndarray | None = None,
) -> Assignment:
    """Steps 1 and 2 of the module docstring and the grouping of step 3; `breaks`: the units
    a clause ends on (`model.prompt.unit_breaks`), None when unknown; `flux_db`: the frames'
    spectral flux (`frame_features`), None to treat every sound as speech."""
    overlap = min(overlap, window / 8)
    body = window - 2 * (overlap + PAD_S)  # speech a piece may hold
    if breaks is not None:  # no break but the last one: a transcript without punctuation
        breaks = np.asarray(breaks, dtype=bool)
        breaks = breaks if breaks[:-1].any() else None
    threshold = voice_threshold(levels_db)
    segments = speech_segments(levels_db, body)
    weights = np.array([max(len(u), 1) for u in units], dtype=np.float64)
    durations = segments[:, 1] - segments[:, 0]
    voiced = levels_db > threshold
    likeness = (
        np.ones(len(segments)) if flux_db is None else speech_likeness(flux_db, voiced, segments)
    )
    empty = empty_costs(likeness)
    # a first speaking rate from the segments that sound like speech, then the one whose
    # programme costs least
    speechy = float((durations * empty / EMPTY_COST).sum())
    rate = speechy / weights.sum() if speechy > 0 and len(weights) else None
    if rate is not None:
        rate = fit_rate(durations, weights, rate, breaks, empty)
    seg_of = assign_units(durations, weights, rate, breaks, empty)
    if (seg_of >= 0).any():  # speaking rate of what matched, then once more with it
        held = np.array([weights[seg_of == j].sum() for j in range(len(segments))])
        rate = float(durations[held > 0].sum() / held.sum())
        seg_of = assign_units(durations, weights, rate, breaks, empty)
        seg_of = keep_short_skips(seg_of, weights, rate)
    texted = [j for j in range(len(segments)) if (seg_of == j).any()]
    groups: list[list[int]] = []
    a = 0
    while a < len(texted):
        start = segments[texted[a], 0]
        last = a
        while last + 1 < len(texted) and segments[texted[last + 1], 1] - start <= body:
            last += 1
        if last < len(texted) - 1 and last > a:  # the longest pause in the last half
            span = segments[texted[last], 1] - start
            late = [b for b in range(a, last + 1) if segments[texted[b], 1] - start >= span / 2]
            last = max(late, key=lambda b: segments[texted[b + 1], 0] - segments[texted[b], 1])
        groups.append(texted[a : last + 1])
        a = last + 1
    return Assignment(segments, seg_of, groups, weights, voiced, breaks, likeness)


def plan_pieces(assignment: Assignment, duration: float, overlap: float, window: float) -> Plan:
    """Step 3: one piece per group, each with its own units and the overlap of its call."""
    overlap = min(overlap, window / 8)
    segments, seg_of = assignment.segments, assignment.seg_of
    spans = estimated_spans(segments, seg_of, assignment.weights)
    pieces = []
    for g, group in enumerate(assignment.groups):
        own = np.flatnonzero(np.isin(seg_of, group))
        if not len(own):  # every unit moved to a neighbour
            continue
        prev_end = segments[assignment.groups[g - 1][-1], 1] if g > 0 else None
        last = g + 1 == len(assignment.groups)
        next_start = None if last else segments[assignment.groups[g + 1][0], 0]
        pieces.append(
            _piece(
                segments,
                group[0],
                group[-1],
                own,
                prev_end,
                next_start,
                spans,
                seg_of,
                overlap,
                duration,
            )
        )
    return Plan(pieces, runs_of(seg_of < 0), segments)


def _piece(
    segments, first_seg, last_seg, own, prev_end, next_start, spans, seg_of, overlap, duration
) -> Piece:
    """A piece's call: its segments with a pad of pause, and `overlap` s of the neighbours'
    speech next to it (a long pause in between is left out of the call: spliced)."""
    stretches = [segment_call(segments, first_seg, duration, last_seg)]
    if prev_end is not None and overlap > 0:
        lead = (max(0.0, prev_end - overlap), prev_end + PAD_S)
        stretches.insert(0, lead)
    if next_start is not None and overlap > 0:
        stretches.append((next_start - PAD_S, min(duration, next_start + overlap)))
    merged: list[tuple[float, float]] = []
    for lo, hi in stretches:  # neighbours closer than the pads: one contiguous stretch
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    spoken = seg_of >= 0
    index = np.arange(len(seg_of))
    lo, hi = merged[0][0], merged[-1][1]
    lead = np.flatnonzero((index < own[0]) & spoken & (spans[:, 1] > lo))
    trail = np.flatnonzero((index > own[-1]) & spoken & (spans[:, 0] < hi))
    return Piece(lo, hi, own.tolist(), lead.tolist(), trail.tolist(), merged)


def to_recording(times: np.ndarray, stretches: Sequence[tuple[float, float]]) -> np.ndarray:
    """Times in a call's (spliced) audio to times in the recording."""
    lengths = np.array([b - a for a, b in stretches])
    call_starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    which = np.clip(np.searchsorted(call_starts, times, side="right") - 1, 0, len(stretches) - 1)
    origins = np.array([a for a, _ in stretches])
    return origins[which] + np.minimum(times - call_starts[which], lengths[which])
