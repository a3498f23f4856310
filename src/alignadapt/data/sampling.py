"""Which utterances go into which batch, on which rank: count or audio-seconds budgets,
length buckets, DDP shards with equal batch counts, and cutting long recordings.

The plan is a pure function of (durations, seed, epoch, rank, world size), so every rank
computes the same global list of batches and takes its share: each utterance is seen once
per epoch, every rank steps the same number of times (unequal counts hang DDP), and the
number of batches per epoch is known before training (the learning-rate schedule needs it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler


def plan_segments(
    spans: Sequence[Sequence[float]], duration: float, max_duration: float
) -> list[tuple[int, int, float, float]]:
    """Cut a labelled recording at word boundaries into segments of at most `max_duration` s.

    Returns (first unit, unit count, start s, end s) per segment. Cuts fall in the middle of
    the pause between two units (never inside one); a stretch of silence longer than a segment
    may be left out, a unit never is. ValueError when one unit alone is longer than a segment.
    """
    segments: list[tuple[int, int, float, float]] = []
    n, a, seg_start = len(spans), 0, 0.0
    while a < n:
        start_a, end_a = spans[a]
        if end_a - start_a > max_duration:
            raise ValueError(
                f"unit {a} lasts {end_a - start_a:.2f} s, longer than data.max_duration="
                f"{max_duration:g}: raise data.max_duration or check the timestamps"
            )
        seg_start = max(seg_start, end_a - max_duration)  # skip silence that would not fit
        b = a + 1
        while b < n and spans[b][1] - seg_start <= max_duration:
            b += 1
        last_end = spans[b - 1][1]
        if b == n:
            cut = max(last_end, min(duration, seg_start + max_duration))
        else:
            cut = max(last_end, min((last_end + spans[b][0]) / 2, seg_start + max_duration))
        segments.append((a, b - a, seg_start, cut))
        seg_start, a = cut, b
    return segments


class BatchPlan(DistributedSampler):
    """Batches of dataset indices for one rank; yields (epoch, [indices]).

    Two ways to fill a batch:
      - `batch_size`: a fixed number of utterances, in random order when shuffling (with
        one rank and no seed this is exactly `DataLoader(shuffle=True, batch_size=...)`);
      - `max_seconds`: a budget of *padded* audio seconds (utterances x the longest one).
        Utterances are grouped into length buckets (quantiles of the durations) so a batch
        holds utterances of similar length and padding stays low; each bucket's batch size
        is the budget over its longest utterance, so the number of batches is the same in
        every epoch.
    Sharding: the global list of batches is made divisible by the world size by splitting
    a few batches in two (never by repeating an utterance, unless there are fewer
    utterances than ranks), then rank r takes batches r, r + world, ...

    It subclasses DistributedSampler only so Lightning leaves it in place under DDP instead
    of injecting its own sampler (which would pad with repeated utterances).
    """

    def __init__(
        self,
        durations: np.ndarray,
        batch_size: int | None = None,
        max_seconds: float | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        num_buckets: int = 20,
    ):
        if (batch_size is None) == (max_seconds is None):
            raise ValueError("give exactly one of batch_size (utterances) or max_seconds (audio)")
        super().__init__(
            durations, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed or 0
        )
        self.durations = np.asarray(durations, dtype=np.float32)
        self.batch_size, self.max_seconds = batch_size, max_seconds
        self.user_seed = seed
        self.buckets: list[tuple[np.ndarray, int]] = []  # (member indices, batch size)
        if max_seconds is not None:
            self.buckets = self._make_buckets(num_buckets)
        self._len = self._global_count() // num_replicas
        self._epoch_seed: int | None = None  # the shuffle seed of the epoch being iterated
        self._resume: tuple[int, int, int | None] | None = None  # (epoch, batches done, seed)

    def _make_buckets(self, num_buckets: int) -> list[tuple[np.ndarray, int]]:
        n = len(self.durations)
        if n == 0:
            return []
        num_buckets = max(1, min(num_buckets, n // 16 or 1))
        edges = np.unique(np.quantile(self.durations, np.linspace(0, 1, num_buckets + 1)[1:-1]))
        ids = np.searchsorted(edges, self.durations, side="left")
        buckets = []
        for b in range(len(edges) + 1):
            members = np.flatnonzero(ids == b).astype(np.int32)  # 4 bytes an item
            if len(members):
                longest = float(self.durations[members].max())
                size = max(1, int(self.max_seconds // max(longest, 1e-6)))
                buckets.append((members, size))
        return buckets

    def _global_count(self) -> int:
        """Batches over all ranks, after making it divisible by the world size."""
        n = len(self.durations)
        if self.batch_size is not None:
            total = math.ceil(n / self.batch_size)
        else:
            total = sum(math.ceil(len(m) / size) for m, size in self.buckets)
        return total + (-total) % self.num_replicas

    def _generator(self) -> torch.Generator:
        if (
            self._resume is not None
            and self._resume[0] == self.epoch
            and self._resume[2] is not None
        ):
            seed = self._resume[2]  # the resumed epoch keeps the order it was interrupted in
        elif self.user_seed is not None:
            seed = self.user_seed + self.epoch
        elif self.num_replicas == 1:  # as torch's RandomSampler: from the global RNG, which
            seed = int(torch.empty((), dtype=torch.int64).random_().item())  # seed_everything sets
        else:  # every rank must agree: the seed Lightning's seed_everything exported
            seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) + self.epoch
        self._epoch_seed = seed
        return torch.Generator().manual_seed(seed)

    def global_batches(self) -> list[list[int]]:
        """Every batch of this epoch over all ranks, in order."""
        n = len(self.durations)
        g = self._generator() if self.shuffle else None
        if self.batch_size is not None:
            order = torch.randperm(n, generator=g).tolist() if g is not None else list(range(n))
            batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        else:
            batches = []
            for members, size in self.buckets:
                if g is not None:
                    members = members[torch.randperm(len(members), generator=g).numpy()]
                members = members.tolist()
                batches += [members[i : i + size] for i in range(0, len(members), size)]
            if g is not None:
                batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return self._divisible(batches)

    def _divisible(self, batches: list[list[int]]) -> list[list[int]]:
        missing = (-len(batches)) % self.num_replicas
        out: list[list[int]] = []
        for batch in batches:
            if missing and len(batch) > 1:
                half = (len(batch) + 1) // 2
                out += [batch[:half], batch[half:]]
                missing -= 1
            else:
                out.append(batch)
        while missing:  # fewer utterances than ranks: some rank must repeat one
            out.append(list(out[len(out) % max(1, len(batches))][:1]) if out else [0])
            missing -= 1
        return out

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        epoch = self.epoch
        self._epoch_seed = None
        mine = self.global_batches()[self.rank :: self.num_replicas]
        skip = 0
        if self._resume is not None and self._resume[0] == epoch:
            skip = self._resume[1]  # batches this rank had already trained on before the stop
        self._resume = None
        for batch in mine[skip:]:
            yield epoch, batch

    def state_dict(self, batches_done: int) -> dict:
        """Where the plan stands: epoch, batches of it already trained on, its shuffle seed."""
        return {"epoch": self.epoch, "batches_done": batches_done, "seed": self._epoch_seed}

    def load_state_dict(self, state: dict) -> None:
        """The next iteration over `state["epoch"]` yields only the batches not done yet, in the
        order the interrupted run had (the same seed)."""
        self._resume = (int(state["epoch"]), int(state["batches_done"]), state.get("seed"))

    def __len__(self) -> int:
        return self._len


class ResumableLoader(DataLoader):
    """A DataLoader over a BatchPlan that Lightning can checkpoint mid-epoch.

    Lightning saves `state_dict()` of a loader that has one and calls `load_state_dict` on
    resume (and stops warning that the dataloader is not resumable). The position is the
    number of batches the training loop has processed this epoch, asked from `batches_done`
    at save time: what the workers prefetched but the loop never trained on is not counted.
    """

    def __init__(self, *args, batches_done=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done or (lambda: 0)

    def state_dict(self) -> dict:
        return self.sampler.state_dict(int(self.batches_done()))

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def padding_share(batches: Sequence[Sequence[int]], durations: np.ndarray) -> float:
    """Share of the padded audio in a list of batches that is padding (0 = none)."""
    padded = real = 0.0
    for batch in batches:
        d = durations[list(batch)]
        padded += float(d.max()) * len(d)
        real += float(d.sum())
    return 1.0 - real / padded if padded else 0.0
