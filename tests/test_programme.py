"""The words-to-segments dynamic programme (`inference.programme.programme`) finds the cheapest
assignment: checked against every assignment of small cases, and on a long one."""

import itertools

import numpy as np
import pytest

from alignadapt.inference import programme as P
from alignadapt.inference.signal import speech_likeness


def cost_of(seg_of, d, w, rate, breaks, empty) -> float:
    """The programme's cost of one assignment, written out from the module docstring (inf:
    a segment given more text than it can plausibly hold)."""
    n, c = len(w), np.concatenate([[0.0], np.cumsum(w)])
    inside = np.zeros(n + 1)
    if breaks is not None:
        inside[1:n] = np.where(breaks[:-1], 0.0, P.BREAK_COST / 2)
    total = 0.0
    for j in range(len(d)):
        units = np.flatnonzero(seg_of == j)
        if len(units):
            a, b = units[0], units[-1] + 1
            if c[b] - c[a] > (3 * d[j] + 1.0) / rate:
                return np.inf
            total += float(P._group_cost(d[j], np.array([rate * (c[b] - c[a])]))[0])
            total += inside[a] + inside[b]
        else:  # a run of segments without text opens once
            opens = j == 0 or (seg_of == j - 1).any()
            total += empty[j] * d[j] + (P.EMPTY_OPEN if opens else 0.0)
    for first, count in P.runs_of(seg_of < 0):
        total += P.SKIP_OPEN + P.SKIP_COST * rate * w[first : first + count].sum()
    return total


def assignments(m: int, n: int):
    """Every assignment of n units in order to m segments, a segment's units contiguous."""
    for seg_of in itertools.product(range(-1, m), repeat=n):
        kept = [s for s in seg_of if s >= 0]
        if kept != sorted(kept):
            continue
        arr = np.array(seg_of)
        if all(np.ptp(np.flatnonzero(arr == j)) + 1 == kept.count(j) for j in set(kept)):
            yield arr


def test_the_programme_finds_the_cheapest_assignment_of_small_cases():
    rng = np.random.default_rng(1)
    for _ in range(300):
        m, n = int(rng.integers(1, 4)), int(rng.integers(1, 6))
        w = rng.integers(1, 8, n).astype(float)
        d = rng.uniform(0.05, 3, m)
        rate, empty = float(rng.uniform(0.05, 0.4)), rng.uniform(0.05, 0.5, m)
        breaks = rng.random(n) < 0.5 if rng.random() < 0.5 else None
        seg_of, cost = P.programme(d, w, rate, breaks, empty)
        best = min(cost_of(s, d, w, rate, breaks, empty) for s in assignments(m, n))
        assert cost == pytest.approx(best), (m, n, w, d, rate, seg_of)
        assert cost_of(seg_of, d, w, rate, breaks, empty) == pytest.approx(cost)


def test_text_far_beyond_its_audio_is_left_unspoken_in_a_long_transcript():
    """9,000 units (the band is capped) for 200 segments that hold about 6,700 of them: the
    last segment's band reaches the text's end, so the rest is skipped, not a crash."""
    seg_of, cost = P.programme(np.full(200, 10.0), np.full(9000, 5.0), 0.06)
    assert np.isfinite(cost)
    assert (np.diff(seg_of[seg_of >= 0]) >= 0).all()
    assert seg_of[-1] == -1 and 6000 < (seg_of >= 0).sum() < 7000


def test_a_segment_too_short_to_measure_is_taken_for_speech():
    """A 30 ms sound after a pause has no frame voiced at both ends of the 50 ms lag, so no
    flux of its own: it counts as speech, not as the least speech-like sound there is."""
    voiced = np.ones(1000, bool)
    voiced[400:450] = False  # a pause before it
    flux = np.full(1000, 3.0)
    flux[450:453] = 0.0  # what a measurement there would read
    flux[500:] = 1.0  # a held sound
    segments = np.array([[0.0, 4.0], [5.0, 8.0], [4.5, 4.53]])  # the last: 3 frames
    likeness = speech_likeness(flux, voiced, segments)
    assert likeness.tolist() == pytest.approx([1.0, 1 / 3, 1.0])
