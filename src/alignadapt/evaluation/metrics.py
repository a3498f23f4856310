"""Alignment accuracy over all starts and ends matched by unit index (the README's "Evaluation").

AAS (accumulated average shift) is the mean |predicted - reference| in ms over every start
and end; the published figure for the base model is 42.9 ms on MFA-labelled data.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

THRESHOLDS_MS = (20, 50, 100)


def slot_errors_ms(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|predicted - reference| in ms per slot; both are seconds, flattened [s0, e0, s1, e1, ...]."""
    predicted, reference = (
        np.asarray(predicted, dtype=np.float64).ravel(),
        np.asarray(reference, dtype=np.float64).ravel(),
    )
    if predicted.shape != reference.shape:
        raise ValueError(
            f"{predicted.size} predicted slots against {reference.size} reference slots"
        )
    return np.abs(predicted - reference) * 1000.0


def summarize(errors_ms: Iterable[float] | np.ndarray, prefix: str = "") -> dict[str, float]:
    """AAS, median, 90th percentile and the share within 20/50/100 ms."""
    errors = np.asarray(
        list(errors_ms) if not isinstance(errors_ms, np.ndarray) else errors_ms, dtype=np.float64
    )
    if errors.size == 0:
        return {}
    out = {
        f"{prefix}aas_ms": float(errors.mean()),
        f"{prefix}median_ms": float(np.median(errors)),
        f"{prefix}p90_ms": float(np.percentile(errors, 90)),
    }
    for limit in THRESHOLDS_MS:
        out[f"{prefix}within_{limit}ms"] = float(np.mean(errors <= limit))
    return out
