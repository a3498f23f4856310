"""The naive baseline every report shows: units spread over the voiced span by length.

No model: find where the audio is voiced (frame energy within 35 dB of the peak), then share
that span out among the units in proportion to their character counts. A model that does not
beat this is not worth its cost on that data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.audio import SAMPLE_RATE, frame_rms


def voiced_span(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, floor_db: float = 35.0
) -> tuple[float, float]:
    """(first, last) voiced second: 10 ms frames whose RMS is within `floor_db` of the loudest."""
    frame = sample_rate // 100
    n = len(audio) // frame
    if n == 0:
        return 0.0, len(audio) / sample_rate
    rms = frame_rms(audio, frame)
    loud = np.nonzero(rms > rms.max() * 10 ** (-floor_db / 20))[0]
    if len(loud) == 0:
        return 0.0, len(audio) / sample_rate
    return loud[0] * frame / sample_rate, (loud[-1] + 1) * frame / sample_rate


def naive_align(
    audio: np.ndarray, units: Sequence[str], sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """[s0, e0, s1, e1, ...] in seconds: consecutive spans tiling the voiced span by unit length."""
    start, end = voiced_span(audio, sample_rate)
    weights = np.array([max(len(u), 1) for u in units], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return np.stack([edges[:-1], edges[1:]], axis=1).ravel()
