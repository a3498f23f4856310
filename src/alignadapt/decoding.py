"""Slot logits -> times in seconds. One decoder for validation, evaluation and alignment.

`argmax`: the most likely class per slot, then the monotonic repair the released model's own
decoder applies (transformers' `decode_forced_alignment`): keep the longest non-decreasing
subsequence of slots, snap short runs of outliers to their nearest kept neighbour, interpolate
longer runs. The result matches the processor's decoder exactly (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Decoded:
    times: np.ndarray  # seconds per slot: [s0, e0, s1, e1, ...]
    repaired: int  # how many slots the monotonic repair changed

    @property
    def spans(self) -> np.ndarray:
        return self.times.reshape(-1, 2)


def monotonic_repair(values: np.ndarray) -> np.ndarray:
    """Make a slot sequence non-decreasing the way the aligner's reference decoder does."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        return data.copy()
    # Longest non-decreasing subsequence; ties go to the earliest predecessor, as upstream.
    length = np.ones(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    for cur in range(1, n):
        candidates = np.where(data[:cur] <= data[cur], length[:cur], 0)
        best = int(np.argmax(candidates))
        if candidates[best] + 1 > length[cur]:
            length[cur] = candidates[best] + 1
            parent[cur] = best
    keep = np.zeros(n, dtype=bool)
    idx = int(np.argmax(length))
    while idx != -1:
        keep[idx] = True
        idx = int(parent[idx])

    result = data.copy()
    i = 0
    while i < n:
        if keep[i]:
            i += 1
            continue
        j = i
        while j < n and not keep[j]:
            j += 1
        left = result[i - 1] if i > 0 else None  # slot i-1 is kept (or already final)
        right = result[j] if j < n else None
        if j - i <= 2:  # short run: snap each slot to the nearer kept neighbour
            for pos in range(i, j):
                if left is None:
                    result[pos] = right
                elif right is None:
                    result[pos] = left
                else:
                    result[pos] = left if (pos - (i - 1)) <= (j - pos) else right
        elif left is not None and right is not None:  # long run: interpolate
            step = (right - left) / (j - i + 1)
            result[i:j] = left + step * np.arange(1, j - i + 1)
        else:
            result[i:j] = left if left is not None else right
        i = j
    return np.trunc(result)  # upstream returns int() of each value


def decode_argmax(slot_logits: torch.Tensor, class_ms: float) -> Decoded:
    """Logits of one utterance's slots, shape (2 x units, num_labels) -> repaired times."""
    raw_ms = slot_logits.argmax(dim=-1).double().cpu().numpy() * class_ms
    fixed_ms = monotonic_repair(raw_ms)
    return Decoded(times=fixed_ms / 1000.0, repaired=int(np.sum(fixed_ms != np.trunc(raw_ms))))


def slot_logits_per_row(
    logits: torch.Tensor, input_ids: torch.Tensor, timestamp_token_id: int
) -> list[torch.Tensor]:
    """Split (batch, seq, classes) logits into each row's slot logits."""
    return [logits[row][input_ids[row] == timestamp_token_id] for row in range(input_ids.shape[0])]
