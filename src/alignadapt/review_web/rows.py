"""A row of the review page: one model's (or the reference's) words over one line, with each
word's error against the reference when there is one. Shared by the server and the report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_abs_ms(a, b) -> float:
    """Mean |a - b| over every start and end, ms (AAS when `b` is the reference)."""
    return float(np.mean(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b))) * 1000.0)


def word_row(
    name: str,
    units: Sequence[str],
    spans,
    reference=None,
    confidence: Sequence[float | None] | None = None,
    editable: bool = False,
) -> dict:
    """{"name", "label", "editable", "words": [{"word", "start", "end", "confidence"?,
    "error_ms"?}]}: what the page draws for one row."""
    words = []
    for i, (unit, (start, end)) in enumerate(zip(units, spans, strict=True)):
        word = {"word": unit, "start": round(float(start), 4), "end": round(float(end), 4)}
        if confidence and confidence[i] is not None:
            word["confidence"] = confidence[i]
        if reference is not None:
            word["error_ms"] = round(mean_abs_ms([start, end], reference[i]), 1)
        words.append(word)
    return {"name": name, "label": name, "editable": editable, "words": words}
