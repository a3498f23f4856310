"""Long recordings, step 2: which words each speech segment holds. No model is called here.

**Words to segments** (`assign_units`): one global dynamic programme over (segments, units)
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
"""

from __future__ import annotations

import numpy as np

# Costs of the programme, in the units of `_group_cost` (squared log duration ratio times
# seconds). The first four came with the programme (10fe737); the break cost and the costs of
# a skipped run with the punctuation rule (7bf7a25: an unspoken sentence found in 9 of 10 test
# recordings); the likeness scale with music (38a9e85); each set by hand on the long-recording
# tests and bench (tests/test_long.py, bench/long_recordings.py), not searched.
SLACK_S = 0.25  # seconds added to both durations before their log-ratio (short segments)
EMPTY_COST = 0.5  # per second of speech given no text
EMPTY_OPEN = 1.0  # per run of segments given no text
SKIP_OPEN = 1.0  # per run of text given no audio: where a sentence is missing is decided by
# how the others fit, not by which sentence is shortest to leave out
SKIP_COST = 0.05  # and per expected second of it
BREAK_COST = 1.0  # per pause that falls inside a clause (when the transcript has punctuation)
UNLIKE_SPEECH = (0.45, 0.6)  # speech likeness at or under the first: a segment given no text
# costs EMPTY_FLOOR of EMPTY_COST; from the second up: all of it (linear between)
EMPTY_FLOOR = 0.1
MIN_MISSING_S = 1.0  # words not spoken: only a run expected to last this long is believed

# Search: the speaking-rate search came with the other-speaker case (a guess 26% slow, see
# `fit_rate`); the band keeps an hour's programme in memory (ba4b5b4).
RATE_SEARCH = (0.6, 1.15)  # speaking rates tried, times all speech over all text,
RATE_STEPS = 4  # by golden section (5 programmes)
MAX_BAND = 3000  # units the programme's text position may stray from the expected one


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


def empty_costs(likeness: np.ndarray) -> np.ndarray:
    """Cost per second of giving a segment no text, by how much it sounds like speech."""
    lo, hi = UNLIKE_SPEECH
    return EMPTY_COST * np.clip((likeness - lo) / (hi - lo), EMPTY_FLOOR, 1.0)
