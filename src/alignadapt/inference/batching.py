"""Length-sorted batching for inference: `Aligner.align_many` (every caller) and pseudo-label's
fixed groups batch through here.

A batch is padded to its longest recording, so batching recordings in the order they come
pays for the difference between each batch's longest and every other one (on a manifest of
mixed lengths, about half the audio a batch holds is padding). Sorting by length first and
cutting consecutive runs keeps the recordings of a batch alike. The groups depend only on
the lengths and the batch size (ties broken by input position), so a resumed run forms the
same groups, and results are handed back by input position, so outputs keep the input order.
Batching does not change a timestamp: `tests/test_batching.py` checks sorted and input-order
runs give the same times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from ..data.audio import audio_info

T = TypeVar("T")
R = TypeVar("R")


def length_sorted_batches(
    lengths: Sequence[float], batch_size: int, sort: bool = True
) -> list[list[int]]:
    """Input positions grouped into batches of at most `batch_size`: shortest first when
    `sort` (ties keep input order), in input order otherwise."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    order = (
        sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        if sort
        else list(range(len(lengths)))
    )
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def recording_seconds(path: str | Path, known: float | None = None) -> float:
    """A recording's length for sorting: the manifest's `duration` when given, else the file
    header's; 0 when the file cannot be read (its error is reported when it is loaded)."""
    if known:
        return float(known)
    try:
        return audio_info(path).duration
    except (ValueError, OSError):
        return 0.0


def sorted_map(
    items: Sequence[T],
    lengths: Sequence[float],
    batch_size: int,
    run_batch: Callable[[list[T]], Sequence[R]],
    sort: bool = True,
    progress: Callable[[int], object] | None = None,
) -> Iterator[tuple[int, R]]:
    """(input position, result) for every item, running `run_batch` on length-sorted batches.

    Yields as each batch finishes (callers that write files write them as they go);
    `progress(n)` is called with the number of items done in each batch.
    """
    for batch in length_sorted_batches(lengths, batch_size, sort):
        results = run_batch([items[i] for i in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        yield from zip(batch, results, strict=True)
        if progress is not None:
            progress(len(batch))


def in_input_order(pairs: Iterator[tuple[int, R]], n: int) -> list[R]:
    """The results of `sorted_map` (and so of `Aligner.align_many`) back in input order."""
    out: list = [None] * n
    for i, result in pairs:
        out[i] = result
    return out
