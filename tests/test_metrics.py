import numpy as np
import pytest

from alignadapt.evaluation.metrics import slot_errors_ms, summarize


def test_summary_of_known_errors():
    pred = np.array([0.0, 0.5, 1.0, 1.5])
    ref = np.array([0.01, 0.45, 1.2, 1.5])
    errors = slot_errors_ms(pred, ref)
    assert errors == pytest.approx([10, 50, 200, 0])
    stats = summarize(errors, prefix="val/")
    assert stats["val/aas_ms"] == pytest.approx(65.0)
    assert stats["val/median_ms"] == pytest.approx(30.0)
    assert stats["val/within_20ms"] == 0.5
    assert stats["val/within_50ms"] == 0.75
    assert stats["val/within_100ms"] == 0.75


def test_slot_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 predicted slots against 4"):
        slot_errors_ms(np.zeros(3), np.zeros(4))
