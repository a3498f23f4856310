"""Long recordings: where to cut, and which words each piece gets. No model is called here.

A forced aligner places every unit it is given: handed more text than its audio holds, it
squeezes the surplus in and moves the words around it. So the words of a piece cannot be
found by asking the aligner (any answer depends on how it squeezes); they are decided first,
from evidence the aligner does not shape, and each piece is then aligned with exactly its
words.

1. **Speech and pauses** (`speech_segments`): 10 ms frame energy (`audio.frame_rms`), read in
   blocks so an hour costs a few MB. Frames well below the recording's loud level are quiet;
   quiet runs of at least `MIN_PAUSE_S` are pauses, the rest are speech segments. A segment
   longer than a piece can hold is split at its quietest frame. Energy cannot tell music
   (or a hum, a held tone) from speech, so the same pass measures spectral flux, how much the
   40 log-mel bands change over 50 ms; a segment whose flux is well under the recording's
   typical segment does not sound like speech (`speech_likeness`).
2. **Words to segments** (`assign_units`): one global dynamic programme over (segments, units)
   gives every speech segment a contiguous run of units whose expected duration (characters x
   the recording's speaking rate, as the naive baseline assumes) best matches the segment's
   length. Because it is global, an error does not carry on along the hour: every pause
   re-anchors the text. Two more moves make mismatch a finding instead of a squeeze: a run of
   units may take no audio (words not spoken), and a segment may take no units (music, another
   speaker); each run of either pays once and then in proportion to its length, so the
   programme takes them only when forcing the text in would distort durations more, and
   prefers one stretch without text to the same slack scattered over short segments. A
   segment that does not sound like speech costs a tenth as much to leave without text
   (`empty_costs`), and counts a tenth as much towards the first guess of the speaking rate.
   Speech the transcript leaves out (another speaker) does count, so the rate is then searched for
   (`fit_rate`: the rate whose programme costs least). Durations alone cannot say *where* text
   is missing (shifting every later segment's text by a sentence costs nothing while the
   sentences' lengths line up), so when the transcript has punctuation (`unit_breaks`), a
   pause that falls inside a clause costs `BREAK_COST`: text shifted against the pauses pays
   at every pause it crosses, and leaving the unspoken sentence out is cheaper.
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data.audio import frame_rms
from ..model.prompt import SAMPLE_RATE

FRAME_S = 0.01  # energy frames
MIN_PAUSE_S = 0.2  # a quieter run at least this long is a pause (stop closures are shorter)
QUIET_DB = 35.0  # quiet: this far below the recording's loud level (95th percentile frame)
MIN_MISSING_S = 1.0  # words not spoken: only a run expected to last this long is believed
SKIP_OPEN = 1.0  # per run of text given no audio: where a sentence is missing is decided by
# how the others fit, not by which sentence is shortest to leave out
SKIP_COST = 0.05  # and per expected second of it
EMPTY_COST = 0.5  # per second of speech given no text
EMPTY_OPEN = 1.0  # per run of segments given no text
MAX_BAND = 3000  # units the programme's text position may stray from the expected one
RATE_SEARCH = (0.6, 1.15)  # speaking rates tried, times all speech over all text,
RATE_STEPS = 4  # by golden section (5 programmes)
FLUX_WINDOW_S = 0.025  # spectral flux: 25 ms windows, 40 log-mel bands from 100 Hz to 4 kHz,
FLUX_LAG_S = 0.05  # compared 50 ms apart
UNLIKE_SPEECH = (0.45, 0.6)  # speech likeness at or under the first: a segment given no text
# costs EMPTY_FLOOR of EMPTY_COST; from the second up: all of it (linear between)
EMPTY_FLOOR = 0.1
BREAK_COST = 1.0  # per pause that falls inside a clause (when the transcript has punctuation)
SLACK_S = 0.25  # seconds added to both durations before their log-ratio (short segments)
PAD_S = 0.3  # seconds of pause kept next to speech in a call (the demo corpus pads 0.15-0.4)


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


@dataclass
class Frames:
    """Per 10 ms frame of a recording: level (dB) and spectral flux (dB, `SpectralFlux`)."""

    levels_db: np.ndarray
    flux_db: np.ndarray


def frame_features(blocks: Iterable[np.ndarray]) -> Frames:
    """Level and spectral flux of every 10 ms frame of a recording given as consecutive 16 kHz
    blocks (an hour costs a few MB: only two floats a frame are kept)."""
    frame = int(FRAME_S * SAMPLE_RATE)
    win = int(FLUX_WINDOW_S * SAMPLE_RATE)
    mel = _mel()
    flux = SpectralFlux()
    levels = []
    carry = np.zeros(0, np.float32)  # samples after the last whole frame
    tail = np.zeros(0, np.float32)  # samples of the last frames' windows that reach past them
    for block in blocks:
        data = np.concatenate([carry, block]) if len(carry) else block
        n = len(data) // frame * frame
        if n:
            levels.append(20 * np.log10(np.maximum(frame_rms(data[:n], frame), 1e-5)))
            # a window per frame from the frame's start: the samples reach win - frame past
            # the block's last frame, so the next block finishes the last few windows
            whole = np.concatenate([tail, data[:n]])
            count = (len(whole) - win) // frame + 1
            if count > 0:
                flux.add(_log_mel(mel, whole[: (count - 1) * frame + win]))
                tail = whole[count * frame :]
            else:
                tail = whole
        carry = data[n:]
    if not levels:
        return Frames(np.zeros(0, np.float32), np.zeros(0, np.float32))
    levels_db = np.concatenate(levels).astype(np.float32)
    return Frames(levels_db, flux.result(len(levels_db)))


class SpectralFlux:
    """Mean absolute change of the 40 log-mel bands over FLUX_LAG_S, per frame, fed the
    log-mel frames in order a block at a time (only the last FLUX_LAG_S of them are kept).
    The first frames and the last few, whose windows run past the end, repeat their
    neighbours."""

    def __init__(self):
        self.lag = int(round(FLUX_LAG_S / FRAME_S))
        self.last = np.zeros((0, 40), np.float32)
        self.parts: list[np.ndarray] = []

    def add(self, logmel: np.ndarray) -> None:
        joined = np.concatenate([self.last, logmel])
        if len(joined) > self.lag:
            self.parts.append(np.abs(joined[self.lag :] - joined[: -self.lag]).mean(axis=1))
        self.last = joined[-self.lag :].copy()  # not a view holding the whole block

    def result(self, frames: int) -> np.ndarray:
        if not self.parts:
            return np.zeros(frames, np.float32)
        flux = np.concatenate(self.parts)
        flux = np.concatenate([np.full(self.lag, flux[0]), flux])[:frames]
        return np.pad(flux, (0, frames - len(flux)), mode="edge").astype(np.float32)


def _mel():
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE,
        n_fft=int(FLUX_WINDOW_S * SAMPLE_RATE),
        hop_length=int(FRAME_S * SAMPLE_RATE),
        n_mels=40,
        f_min=100.0,
        f_max=4000.0,
        center=False,
    )


def _log_mel(mel, audio: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        power = mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).T.numpy()


def speech_likeness(flux_db: np.ndarray, voiced: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Per segment, how much its spectrum keeps changing against the recording's typical
    segment (1: as much, 0: not at all): speech moves between sounds every few tens of ms,
    a held tone, a hum or sustained music hardly does, so its flux is lower. A segment's
    flux is the 75th percentile over its frames that are sound at both ends of the lag
    (`voiced`; a word's onset out of silence is a change of level, not of sound, and in noise
    a speech segment's quieter frames carry the noise's flux while its sounds still change);
    the reference is the duration-weighted median over segments, so a recording that is
    mostly speech (any transcript's recording) is its own scale: noise, reverberation and
    the microphone change every segment alike."""
    if len(segments) == 0:
        return np.zeros(0)
    lag = int(round(FLUX_LAG_S / FRAME_S))
    both = voiced.copy()
    both[lag:] &= voiced[:-lag]
    both[:lag] = False
    frames = (segments / FRAME_S).round().astype(int)
    flux = np.zeros(len(frames))
    for j, (a, b) in enumerate(frames):
        inside = flux_db[a:b][both[a:b]]
        flux[j] = np.percentile(inside, 75) if len(inside) else np.nan
    # a segment too short to measure (under the lag plus a frame) is taken for speech
    measured = np.isfinite(flux)
    if not measured.any():
        return np.ones(len(flux))
    lengths = np.maximum(frames[:, 1] - frames[:, 0], 1)[measured]
    order = np.argsort(flux[measured])
    half = np.searchsorted(np.cumsum(lengths[order]), lengths.sum() / 2)
    typical = float(flux[measured][order][min(half, len(order) - 1)])
    if typical <= 0:
        return np.ones(len(flux))
    return np.where(measured, flux / typical, 1.0)


def voice_threshold(levels_db: np.ndarray) -> float:
    """dB above which a frame is speech (or other sound): QUIET_DB under the loud level, or
    a third of the way up from the noise floor in a noisy recording."""
    if len(levels_db) == 0:
        return 0.0
    loud = float(np.percentile(levels_db, 95))
    floor = float(np.percentile(levels_db, 5))
    return max(loud - QUIET_DB, floor + 0.3 * (loud - floor))


def speech_segments(levels_db: np.ndarray, max_len: float) -> np.ndarray:
    """(start, end) seconds of every speech run between pauses, none longer than `max_len`."""
    if len(levels_db) == 0:
        return np.zeros((0, 2))
    voiced = levels_db > voice_threshold(levels_db)
    min_pause = int(round(MIN_PAUSE_S / FRAME_S))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2)  # [first voiced frame, first quiet frame after)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < min_pause:
            merged[-1][1] = b  # a short dip inside speech
        else:
            merged.append([int(a), int(b)])
    limit = max(1, int(max_len / FRAME_S))
    out: list[tuple[int, int]] = []
    stack = merged[::-1]
    while stack:
        a, b = stack.pop()
        if b - a <= limit:
            out.append((a, b))
            continue
        lo, hi = a + (b - a) // 4, b - (b - a) // 4  # split near the middle, at the quietest
        cut = lo + int(np.argmin(levels_db[lo:hi]))
        stack += [(cut, b), (a, cut)]
    return np.array(out, dtype=np.float64).reshape(-1, 2) * FRAME_S


def _group_cost(d: float, expected: np.ndarray) -> np.ndarray:
    """Mismatch between a segment of d s and units expected to last `expected` s."""
    return np.log((d + SLACK_S) / (expected + SLACK_S)) ** 2 * (d + expected)


def assign_units(
    durations: np.ndarray,
    weights: np.ndarray,
    rate: float | None = None,
    breaks: np.ndarray | None = None,
    empty: np.ndarray | None = None,
) -> np.ndarray:
    """Segment index of every unit (-1: not spoken), by the dynamic programme of the module
    docstring. `durations`: seconds of each speech segment; `weights`: characters per unit;
    `rate`: seconds per character (default: total speech over total characters); `breaks`:
    units a clause ends on (None: unknown, pauses cost nothing; see `assign`); `empty`: cost
    per second of each segment given no text (default EMPTY_COST for all)."""
    return programme(durations, weights, rate, breaks, empty)[0]


def programme(
    durations: np.ndarray,
    weights: np.ndarray,
    rate: float | None = None,
    breaks: np.ndarray | None = None,
    empty: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """`assign_units` and the total cost of its assignment."""
    m, n = len(durations), len(weights)
    empty = np.full(m, EMPTY_COST) if empty is None else empty
    seg_of = np.full(n, -1, dtype=np.int64)
    if m == 0 or n == 0:
        return seg_of, 0.0
    # inside[i]: BREAK_COST / 2 if text position i (between units i-1 and i) is inside a
    # clause; a segment's text starting or ending there pays it
    inside = np.zeros(n + 1)
    if breaks is not None:
        inside[1:n] = np.where(breaks[:-1], 0.0, BREAK_COST / 2)
    c = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
    rate = rate or float(np.sum(durations)) / c[-1]
    skip = SKIP_COST * rate * c  # cumulative cost of leaving units 1..i without audio
    # a band around where the text should be at each segment (n x m would not fit an hour):
    # a quarter of the text, at most MAX_BAND units (15-20 minutes of speech) either way, so
    # what backtracking keeps grows with the length, not with its square
    expect = np.searchsorted(c * rate, np.concatenate([[0.0], np.cumsum(durations)]))
    expect = np.minimum(expect, n)  # audio past the text's expected end: the end
    band = n if n <= MAX_BAND else max(1500, min(MAX_BAND, n // 4))
    idx = np.arange(n + 1)
    # two rows of costs: after a segment that took text (or none yet), and after one that took
    # none, so a run of segments without text pays EMPTY_OPEN once (audio without words comes
    # in stretches: a piece of music, another speaker; scattering the text's slack over
    # several short silences instead must pay for each)
    prev_t = skip + SKIP_OPEN  # row 0: no segment yet, units skipped
    prev_t[0] = 0.0
    prev_e = np.full(n + 1, np.inf)
    steps = []
    for j in range(1, m + 1):
        d = float(durations[j - 1])
        lo, hi = max(0, expect[j] - band), min(n, expect[j] + band)
        hi = n if j == m else hi  # the text must end, however much of it was not spoken
        opened = prev_t[lo : hi + 1] + EMPTY_OPEN
        stay = prev_e[lo : hi + 1] <= opened  # this segment takes no units
        base_e = np.where(stay, prev_e[lo : hi + 1], opened) + empty[j - 1] * d
        either = np.minimum(prev_t, prev_e)
        after_empty = prev_e < prev_t
        # the segment takes the k units before text position i, for every k up to the
        # first that no position can plausibly hold, all at once
        longest = (3 * d + 1.0) / rate  # characters a segment can plausibly hold
        ends = idx[lo : hi + 1]
        most = 0
        while most < hi:
            later = ends[np.searchsorted(ends, most + 1) :]
            if (c[later] - c[later - most - 1]).min() > longest:
                break
            most += 1
        if most:
            # row k - 1: the value at text position `ends - k` (a view, no copy)
            held = c[ends] - _back(c, lo, hi, most, 0.0)
            cand = _back(either, lo, hi, most, np.inf) + _back(inside, lo, hi, most, 0.0)
            cand = cand + _group_cost(d, rate * held) + inside[ends]
            best_k = np.argmin(cand, axis=0)  # the fewest units among equals
            base_t = cand[best_k, np.arange(len(ends))]
            choice = np.where(np.isfinite(base_t), best_k + 1, 0).astype(np.int32)
        else:
            base_t = np.full(hi - lo + 1, np.inf)
            choice = np.zeros(hi - lo + 1, dtype=np.int32)
        came_e = after_empty[np.maximum(ends - choice, 0)]
        cur_t, source_t = _skips(base_t, skip[lo : hi + 1])
        cur_e, source_e = _skips(base_e, skip[lo : hi + 1])
        prev_t, prev_e = np.full(n + 1, np.inf), np.full(n + 1, np.inf)
        prev_t[lo : hi + 1], prev_e[lo : hi + 1] = cur_t, cur_e
        # what backtracking needs, in small types (an hour keeps ~1000 of these)
        steps.append(
            (lo, choice, came_e, stay, source_t.astype(np.int32), source_e.astype(np.int32))
        )
    i, empty_row = n, bool(prev_e[n] < prev_t[n])
    cost = float(min(prev_e[n], prev_t[n]))
    for j in range(m, 0, -1):
        lo, choice, came_e, stay, source_t, source_e = steps[j - 1]
        if empty_row:
            src = int(source_e[i - lo]) + lo
            empty_row = bool(stay[src - lo])
            i = src
        else:
            src = int(source_t[i - lo]) + lo
            k = int(choice[src - lo])
            seg_of[src - k : src] = j - 1
            empty_row = bool(came_e[src - lo])
            i = src - k
    return seg_of, cost


def _back(values: np.ndarray, lo: int, hi: int, most: int, fill: float) -> np.ndarray:
    """(most, hi - lo + 1): row k - 1, column x is values[lo + x - k] (`fill` before 0)."""
    part = values[max(0, lo - most) : hi]
    part = np.concatenate([np.full(most - min(most, lo), fill), part])
    return np.lib.stride_tricks.sliding_window_view(part, hi - lo + 1)[::-1]


def _skips(base: np.ndarray, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Units may be skipped after a segment, a run paying SKIP_OPEN once:
    cur[i] = min(base[i], min_{i' < i} base[i'] + skip[i] - skip[i'] + SKIP_OPEN); returns
    cur and, per position, the position the segment's text ended at."""
    shifted = base - skip
    running = np.minimum.accumulate(shifted)
    best = np.maximum.accumulate(np.where(shifted <= running, np.arange(len(base)), 0))
    skipped = np.concatenate([[np.inf], running[:-1]]) + skip + SKIP_OPEN
    kept = base <= skipped
    source = np.where(kept, np.arange(len(base)), np.concatenate([[0], best[:-1]]))
    return np.where(kept, base, skipped), source


def fit_rate(
    durations: np.ndarray,
    weights: np.ndarray,
    rate: float,
    breaks: np.ndarray | None,
    empty: np.ndarray,
) -> float:
    """The speaking rate (seconds per character) whose programme costs least, by golden-
    section search over RATE_SEARCH times `rate`. All speech over all text, the first guess,
    is too slow when a good share of the speech has no text (another speaker the transcript
    leaves out: 40 s of it in 3 minutes made the guess 26% slow, and at that rate the
    programme spreads the text over the other speaker instead of leaving them out); the
    programme's cost, leaving audio without text included, is least near the true rate."""
    lo, hi = RATE_SEARCH
    golden = (np.sqrt(5) - 1) / 2
    cost = {}

    def at(f: float) -> float:
        if f not in cost:
            cost[f] = programme(durations, weights, rate * f, breaks, empty)[1]
        return cost[f]

    a, b = lo + (1 - golden) * (hi - lo), lo + golden * (hi - lo)
    for _ in range(RATE_STEPS):
        if at(a) <= at(b):
            hi, b = b, a
            a = lo + (1 - golden) * (hi - lo)
        else:
            lo, a = a, b
            b = lo + golden * (hi - lo)
    return rate * min(cost, key=cost.get)


def keep_short_skips(seg_of: np.ndarray, weights: np.ndarray, rate: float) -> np.ndarray:
    """Give runs of unassigned units expected under MIN_MISSING_S back to a neighbour segment
    (a short word the energy missed is not a missing sentence)."""
    seg_of = seg_of.copy()
    for first, count in runs_of(seg_of < 0):
        if rate * weights[first : first + count].sum() >= MIN_MISSING_S:
            continue
        before, after = first - 1, first + count
        if before >= 0:
            seg_of[first : first + count] = seg_of[before]
        elif after < len(seg_of):
            seg_of[first : first + count] = seg_of[after]
    return seg_of


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, count) of every run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b - a)) for a, b in edges.reshape(-1, 2)]


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


def empty_costs(likeness: np.ndarray) -> np.ndarray:
    """Cost per second of giving a segment no text, by how much it sounds like speech."""
    lo, hi = UNLIKE_SPEECH
    return EMPTY_COST * np.clip((likeness - lo) / (hi - lo), EMPTY_FLOOR, 1.0)


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
