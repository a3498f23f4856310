"""Seconds <-> timestamp classes, and the label layout the aligner is trained on.

The aligner classifies every `<timestamp>` slot into one of `num_labels` classes; class k
means k x `class_ms` milliseconds (80 ms in the released model). Slot 2i is unit i's start,
slot 2i+1 its end. These functions are pure so they are tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE_INDEX = -100  # the value torch's cross-entropy skips
# The released model was trained on at most 3,750 classes (300 s of 80 ms; Qwen3-ASR technical
# report, forced-aligner training) although its head has 5,000: labels past that are classes
# the head never learned, so training refuses them.
TRAINED_SECONDS = 300.0
# The official pipeline never aligns more than this in one call (MAX_FORCE_ALIGN_INPUT_SECONDS in
# qwen_asr/inference/utils.py), so the released model never practised longer inputs; its
# timestamps collapse after about 270 s. The default longest call of aligning and of training.
OFFICIAL_CALL_SECONDS = 180.0


def model_window(num_labels: int, class_ms: float) -> float:
    """The most audio one call can time, in seconds: the last class, `num_labels` - 1, kept as
    one class of headroom (15.92 s for the tiny model's 200 classes of 80 ms)."""
    return (num_labels - 1) * class_ms / 1000.0


def longest_item(num_labels: int, class_ms: float, requested: float | None = None) -> float:
    """The longest training item for a model, in seconds (`data.max_duration`, derived at setup).

    By default the official longest call, within what the model's classes express and what it
    was trained on (TRAINED_SECONDS): 180 s for the released model, 15.92 s for the tiny one.
    A `requested` length (a user's own cap) is kept when the model can time it, so a shorter
    cap (less memory) or a longer one that the model's classes still express works; beyond
    that, a ValueError says what the model can do.
    """
    most = min(model_window(num_labels, class_ms), TRAINED_SECONDS)
    if requested is None:
        return min(OFFICIAL_CALL_SECONDS, most)
    if requested <= 0:
        raise ValueError(
            f"data.max_duration must be a positive number of seconds, not {requested:g}"
        )
    if requested > most:
        why = f"{num_labels} classes of {class_ms:g} ms"
        if most == TRAINED_SECONDS:
            why += f", trained up to {TRAINED_SECONDS:g} s"
        raise ValueError(
            f"data.max_duration={requested:g} s is more than this model can time in one call: "
            f"at most {most:g} s ({why}); set it no higher, or leave it unset (null) for the "
            "model's longest call"
        )
    return float(requested)


def seconds_to_class(seconds: float, class_ms: float) -> int:
    """Nearest class for a time in seconds (round half away from zero, as a user would).

    Whether the release labelled its training data by nearest class or by floor is not stated
    in its code or report and cannot be shown without its weights: unverified. The two differ
    by at most half a class (40 ms) and never by more."""
    return int(seconds * 1000.0 / class_ms + 0.5)


def class_to_seconds(cls: float, class_ms: float) -> float:
    return float(cls) * class_ms / 1000.0


def flatten_spans(spans: Sequence[Sequence[float]]) -> list[float]:
    """[[s0, e0], [s1, e1], ...] -> [s0, e0, s1, e1, ...]: the order of the slots."""
    return [float(t) for span in spans for t in span]


def slot_labels(
    input_ids: torch.Tensor,
    timestamp_token_id: int,
    spans: Sequence[Sequence[Sequence[float]]],
    class_ms: float,
    num_labels: int,
) -> torch.Tensor:
    """Labels for a batch: -100 everywhere but the `<timestamp>` slots, which hold classes.

    `spans[b]` holds the reference [start, end] of every unit of utterance b, in order.
    Raises ValueError when a row's slot count differs from 2 x its units, a time falls
    outside what `num_labels` classes can express, or past TRAINED_SECONDS (300 s), the
    longest the released model was trained on.
    """
    last_trained = seconds_to_class(TRAINED_SECONDS, class_ms)  # class 3,750 at 80 ms
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for row, row_spans in enumerate(spans):
        slots = (input_ids[row] == timestamp_token_id).nonzero(as_tuple=True)[0]
        times = flatten_spans(row_spans)
        if len(slots) != len(times):
            raise ValueError(
                f"row {row}: {len(slots)} <timestamp> slots in the prompt but {len(times)} "
                "reference times; the units were not split by the processor's splitter"
            )
        classes = [seconds_to_class(t, class_ms) for t in times]
        if classes and max(classes) >= num_labels:
            limit = model_window(num_labels, class_ms)
            raise ValueError(
                f"row {row}: a time of {max(times):.2f} s is past the last class "
                f"({limit:.2f} s with {num_labels} classes of {class_ms:g} ms); "
                "cut long recordings into shorter segments (data.max_duration)"
            )
        if classes and max(classes) > last_trained:
            raise ValueError(
                f"row {row}: a time of {max(times):.2f} s is past class {last_trained} "
                f"({TRAINED_SECONDS:g} s), the longest the released model was trained on (its "
                f"head has {num_labels} classes, but the ones past {TRAINED_SECONDS:g} s never "
                "saw a label); cut long recordings into shorter segments (data.max_duration)"
            )
        labels[row, slots] = torch.tensor(classes, dtype=labels.dtype)
    return labels
