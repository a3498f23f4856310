import numpy as np
import pytest

from alignadapt.evaluation.naive import naive_align, voiced_span


def test_naive_spreads_units_over_the_voiced_span_by_length():
    audio = np.zeros(16000 * 3, dtype=np.float32)
    audio[8000:40000] = 0.5 * np.sin(np.arange(32000) * 0.3)  # voiced from 0.5 s to 2.5 s
    assert voiced_span(audio) == pytest.approx((0.5, 2.5))
    times = naive_align(audio, ["a", "bbb"])  # 1 and 3 characters: a quarter and three quarters
    assert times.tolist() == pytest.approx([0.5, 1.0, 1.0, 2.5])


def test_naive_on_silence_uses_the_whole_clip():
    times = naive_align(np.zeros(16000, dtype=np.float32), ["x", "y"])
    assert times.tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0])
