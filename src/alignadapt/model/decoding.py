"""Slot logits -> times in seconds. One decoder for validation, evaluation and alignment.

`argmax`: the most likely class per slot, then the monotonic repair the released model's own
decoder applies (transformers' `decode_forced_alignment`): keep the longest non-decreasing
subsequence of slots, snap short runs of outliers to their nearest kept neighbour, interpolate
longer runs. The result matches the processor's decoder exactly (tested).

`subclass`: the same repair decides which slots are trusted; a trusted slot's time is then the
expected class over the probability mass around its peak (peak +- `SUBCLASS_RADIUS` classes),
so estimates fall between the 80 ms classes instead of on them.

`monotonic`: the most likely non-decreasing sequence of classes (a Viterbi pass over the slots'
log-probabilities). Where argmax picks an outlier and the repair throws it away, this weighs
every slot's whole distribution: a slot torn between two places takes the one that agrees
with its neighbours.

Every decoding also returns each slot's confidence: the probability of the argmax class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DECODINGS = ("argmax", "subclass", "monotonic")
SUBCLASS_RADIUS = 2  # classes either side of the peak read by sub-class decoding


@dataclass
class Decoded:
    times: np.ndarray  # seconds per slot: [s0, e0, s1, e1, ...]
    repaired: int  # how many slots the monotonic repair changed
    confidence: np.ndarray | None = None  # per slot: probability of the argmax class
    changed: np.ndarray | None = None  # per slot: True where the monotonic repair moved it

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
    peak = slot_logits.argmax(dim=-1)  # on the logits, exactly as the processor's decoder
    probs = torch.softmax(slot_logits.detach().float(), dim=-1)
    confidence = probs.gather(-1, peak[:, None])[:, 0]
    raw_ms = peak.double().cpu().numpy() * class_ms
    fixed_ms = monotonic_repair(raw_ms)
    changed = fixed_ms != np.trunc(raw_ms)
    return Decoded(
        times=fixed_ms / 1000.0,
        repaired=int(changed.sum()),
        confidence=confidence.double().cpu().numpy(),
        changed=changed,
    )


def decode_subclass(
    slot_logits: torch.Tensor, class_ms: float, radius: int = SUBCLASS_RADIUS
) -> Decoded:
    """Sub-class times: the expected class over peak +- `radius`, on the slots argmax trusts.

    Slots the monotonic repair changed keep the repaired (argmax) time; the rest read the
    probability mass around their peak. A final running maximum keeps the sequence monotonic.
    """
    base = decode_argmax(slot_logits, class_ms)
    if slot_logits.shape[0] == 0:
        return base
    peak = slot_logits.detach().argmax(dim=-1).cpu()
    probs = torch.softmax(slot_logits.detach().double(), dim=-1).cpu()
    window = peak[:, None] + torch.arange(-radius, radius + 1)[None, :]
    inside = (window >= 0) & (window < probs.shape[-1])
    window = window.clamp(0, probs.shape[-1] - 1)
    mass = probs.gather(1, window) * inside
    expected = (mass * window.double()).sum(-1) / mass.sum(-1).clamp_min(1e-300)
    times_ms = np.where(base.changed, base.times * 1000.0, expected.numpy() * class_ms)
    times_ms = np.maximum.accumulate(times_ms)
    return Decoded(times_ms / 1000.0, base.repaired, base.confidence, base.changed)


def decode_monotonic(slot_logits: torch.Tensor, class_ms: float) -> Decoded:
    """The classes c_0 <= c_1 <= ... maximising the summed log-probability of the slots.

    best[i, c] = log p_i(c) + max over c' <= c of best[i - 1, c']; a running maximum over the
    classes makes each slot O(classes). `repaired` and `changed` count the slots whose class
    differs from their argmax.
    """
    logp = torch.log_softmax(slot_logits.detach().double(), dim=-1).cpu().numpy()
    n, classes = logp.shape
    if n == 0:
        return Decoded(np.zeros(0), 0, np.zeros(0), np.zeros(0, dtype=bool))
    peak = logp.argmax(axis=-1)
    confidence = np.exp(logp[np.arange(n), peak])
    came_from = np.zeros((n, classes), dtype=np.int64)  # the best c' <= c of the slot before
    best = logp[0].copy()
    index = np.arange(classes)
    for i in range(1, n):
        # running argmax of `best` over c' <= c (on a tie, the later class)
        running = np.maximum.accumulate(best)
        at = np.where(best == running, index, 0)
        came_from[i] = np.maximum.accumulate(at)
        best = logp[i] + running
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(best.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = came_from[i, path[i]]
    changed = path != peak
    return Decoded(
        times=path * class_ms / 1000.0,
        repaired=int(changed.sum()),
        confidence=confidence,
        changed=changed,
    )


def decode(slot_logits: torch.Tensor, class_ms: float, method: str = "argmax") -> Decoded:
    """The one entry point: validation, evaluation, pseudo-labelling and alignment call this."""
    if method == "argmax":
        return decode_argmax(slot_logits, class_ms)
    if method == "subclass":
        return decode_subclass(slot_logits, class_ms)
    if method == "monotonic":
        return decode_monotonic(slot_logits, class_ms)
    raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, not {method!r}")
