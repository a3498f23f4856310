"""Training from Shar shards streamed from a folder or an object store, on any number of ranks.

Each reader (a DataLoader worker of a rank) owns its own shards: in pass p over the corpus
the shard list is shuffled with (seed, p), the same on every rank, and reader i of n takes
shards i, i + n, ... So every rank and every node reads only its own shards, and the
stream never ends: training runs by steps (`trainer.max_steps`), and every rank steps the
same number of times. Lhotse's dynamic bucketing (`DynamicBucketer`, the engine of its
`DynamicBucketingSampler`) groups cuts of similar duration into batches of an audio-seconds
budget.

The sampler runs on the cuts' metadata alone (the small `cuts.*.jsonl.gz`); audio is read
from the shard's tar as the batches that need it come out. That makes the stream a pure
function of (shards, seed, rank, worker): resuming after N training batches replays the
sampler on metadata for N batches, reads no audio for them, and continues with batch N + 1.
Nothing is lost or repeated. The data module keeps N in the checkpoint (`state_dict`).

Reading a shard that fails (a dropped connection, a server error) is retried
`read_retries` times, reopening the shard where it stopped; after that the run stops with
an error that names the shard and says how to resume.
"""

from __future__ import annotations

import io
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from ..model.prompt import SAMPLE_RATE, split_units
from .audio import load_audio
from .augment import AugmentSpec, augment
from .cuts import cut_words
from .sampling import plan_segments
from .shar import ShardIndex, iter_cuts

if TYPE_CHECKING:
    from lhotse.cut import Cut

log = logging.getLogger(__name__)
Key = tuple[int, int, int]  # (pass, shard, position in the shard)


class ShardReadError(OSError):
    """A shard could not be read after every retry."""


def _root_cause(err: BaseException) -> str:
    """The first error of a chain (the network's own words, not a wrapper's), as `Type: text`."""
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    return f"{type(err).__name__}: {err}"


class _ShardCursor:
    """Cuts of one shard in order, reopened where it stopped when a read fails."""

    def __init__(self, index: ShardIndex, shard: int, audio: bool, retries: int, backoff: float):
        self.index, self.shard, self.audio = index, shard, audio
        self.retries, self.backoff = retries, backoff
        self.position = 0  # cuts handed out
        self._it: Iterator | None = None

    def next(self) -> Cut | None:
        """The next cut, or None at the end of the shard."""
        for attempt in range(self.retries + 1):
            try:
                if self._it is None:
                    self._it = iter(iter_cuts(self.index, [self.shard], audio=self.audio))
                    for _ in range(self.position):  # skip what was already handed out
                        next(self._it)
                cut = next(self._it, None)
                self.position += cut is not None
                return cut
            except Exception as err:  # network errors come in many types (Lhotse wraps
                # some in ValueError); a corrupt shard fails every retry and stops the same way
                self._it = None
                what = (
                    self.index.recordings[self.shard] if self.audio else self.index.cuts[self.shard]
                )
                if attempt == self.retries:
                    raise ShardReadError(
                        f"reading {what} failed {self.retries + 1} times, the last with "
                        f"{_root_cause(err)}. Training stops here; resume it with "
                        "ckpt_path=<run>/checkpoints/last.ckpt once the store answers again "
                        "(the stream continues after the last checkpointed batch)"
                    ) from err
                log.warning("reading %s failed (%s); retry %d", what, _root_cause(err), attempt + 1)
                time.sleep(self.backoff * 2**attempt)
        return None  # unreachable


class ShardStream(IterableDataset):
    """An endless stream of batches (lists of `datamodule.Example`) from Shar shards.

    `rank`/`world_size` are set by the data module before the loader starts; `skip_batches`
    (batches this rank already trained on) by its `load_state_dict` on resume.
    """

    def __init__(
        self,
        index: ShardIndex,
        processor: Any,
        max_seconds: float,
        num_buckets: int = 20,
        buffer_size: int = 2000,
        seed: int = 0,
        max_duration: float | None = None,
        augment: AugmentSpec | None = None,
        read_retries: int = 3,
        retry_backoff: float = 1.0,
    ):
        self.index, self.processor = index, processor
        self.max_seconds, self.num_buckets, self.buffer_size = max_seconds, num_buckets, buffer_size
        self.seed, self.max_duration = seed, max_duration
        self.augment = augment if augment is not None and augment.active else None
        self.read_retries, self.retry_backoff = read_retries, retry_backoff
        self.rank, self.world_size, self.skip_batches = 0, 1, 0

    # ---- which shards this reader owns -------------------------------------------------
    def reader(self) -> tuple[int, int, int]:
        """(this reader's number, number of readers, number of this rank's workers).

        The DataLoader takes batch k from worker k % workers. A resumed loader starts again
        at worker 0 while the next batch is number `skip_batches`, so worker w plays the part
        of worker (w + skip_batches) % workers of the first run: same shards, same batches.
        """
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        worker = (worker + self.skip_batches) % workers
        return self.rank * workers + worker, self.world_size * workers, workers

    def shards_of_pass(self, p: int, reader: int, readers: int) -> list[int]:
        order = np.random.default_rng([self.seed, p]).permutation(self.index.num_shards)
        return [int(s) for s in order[reader::readers]]

    # ---- the metadata stream the sampler reads -------------------------------------------
    def _metadata(self, reader: int, readers: int, pending: Counter, done: set) -> Iterator[Cut]:
        from lhotse.utils import fastcopy

        for p in itertools.count():
            for shard in self.shards_of_pass(p, reader, readers):
                cursor = _ShardCursor(
                    self.index, shard, False, self.read_retries, self.retry_backoff
                )
                while (cut := cursor.next()) is not None:
                    key = (p, shard, cursor.position - 1)
                    for piece in self._pieces(cut):
                        pending[key] += 1
                        yield fastcopy(
                            cut,
                            id=f"{cut.id}@{piece[2]:.2f}" if piece[1] else cut.id,
                            duration=piece[3] - piece[2] if piece[1] else cut.duration,
                            custom={**(cut.custom or {}), "_key": key, "_piece": piece},
                        )
                done.add((p, shard))

    def _pieces(self, cut: Cut) -> list[tuple[int, int, float, float]]:
        """(first unit, count, start, end) per piece; (0, 0, 0, duration) for the whole cut."""
        if self.max_duration is None or cut.duration <= self.max_duration:
            return [(0, 0, 0.0, cut.duration)]
        spans = [(s, e) for _, s, e in cut_words(cut) or []]
        return plan_segments(spans, cut.duration, self.max_duration)

    def __iter__(self) -> Iterator[list]:
        from lhotse.dataset.sampling.base import SamplingDiagnostics
        from lhotse.dataset.sampling.dynamic_bucketing import DynamicBucketer

        reader, readers, workers = self.reader()
        if self.index.num_shards < readers:
            raise ValueError(
                f"{self.index.location} has {self.index.num_shards} shard(s) for {readers} "
                "readers (ranks x workers): every reader needs a shard of its own; write "
                "smaller shards (alignadapt shards write --shard-size) or use fewer workers"
            )
        pending: Counter = Counter()  # key -> pieces read by the sampler, not yet in a batch
        done: set = set()  # (pass, shard) whose metadata has been read to the end

        class Metadata:  # re-iterable, as Lhotse expects
            def __iter__(inner):
                return self._metadata(reader, readers, pending, done)

        # Lhotse's bucketer behind DynamicBucketingSampler, given its random generators
        # directly: the sampler seeds its bucket choice from the physical worker id, while a
        # resumed worker must replay a logical reader (see `reader`)
        sampler = DynamicBucketer(
            Metadata(),
            duration_bins=self.index.duration_bins(self.num_buckets),
            world_size=1,
            max_duration=self.max_seconds,
            buffer_size=self.buffer_size,
            shuffle=True,
            rng=random.Random(self.seed * 1000 + reader),
            bucket_rng=random.Random(self.seed * 1000 + reader + 1),
            diagnostics=SamplingDiagnostics(),
        )
        # batch k of this rank came from worker k % workers: skip this worker's share
        worker = reader % workers
        skip = len(range(worker, self.skip_batches, workers))
        audio = _AudioFetcher(self, pending, done)
        for number, batch in enumerate(sampler):
            wanted = [(c.custom["_key"], c.custom["_piece"], c) for c in batch]
            # the audio first, while the batch's cuts still count as pending: reading one
            # may pass over another of the same batch, which must then be kept
            data = None if number < skip else [audio.get(key) for key, _, _ in wanted]
            for key, _, _ in wanted:
                pending[key] -= 1
                if pending[key] <= 0:
                    del pending[key]
            if data is None:  # already trained on before the resume: no audio was read
                continue
            yield [
                self._example(cut, key, piece, raw)
                for (key, piece, cut), raw in zip(wanted, data, strict=True)
            ]
            audio.drop_finished()

    def _example(self, cut: Cut, key: Key, piece: tuple, data: bytes):
        from .datamodule import Example

        supervision = cut.supervisions[0]
        units = split_units(self.processor, supervision.text, supervision.language)
        spans = [(s, e) for _, s, e in cut_words(cut) or []]
        source = (cut.custom or {}).get("source", cut.id)
        if not spans:
            raise ValueError(
                f"{self.index.cuts[key[1]]} (cut {cut.id}, from {source}) has no word times: "
                "training needs them; pseudo-label the manifest before writing the shards"
            )
        if len(spans) != len(units):
            raise ValueError(
                f"{self.index.cuts[key[1]]} (cut {cut.id}, from {source}): the text splits into "
                f"{len(units)} units but there are {len(spans)} word times; write the shards "
                "with the same model's splitter"
            )
        first, count, start, end = piece
        if count:
            audio = load_audio(io.BytesIO(data), start=start, end=end)
            length = len(audio) / SAMPLE_RATE
            units = units[first : first + count]
            spans = [
                (min(max(s - start, 0.0), length), min(max(e - start, 0.0), length))
                for s, e in spans[first : first + count]
            ]
            name = f"{source}@{start:.2f}s"
        else:
            audio, name = load_audio(io.BytesIO(data)), source
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, *key, int(start * 1000)])
            audio, spans = augment(audio, list(spans), self.augment, rng)
        return Example(name, audio, units, list(spans), supervision.language)


class _AudioFetcher:
    """Audio bytes by key, read in order from each shard's tar; bytes of cuts passed over on
    the way are kept only while the sampler still holds them (pending)."""

    def __init__(self, stream: ShardStream, pending: Counter, done: set):
        self.stream, self.pending, self.done = stream, pending, done
        self.cursors: dict[tuple[int, int], _ShardCursor] = {}
        self.kept: dict[Key, bytes] = {}

    def get(self, key: Key) -> bytes:
        if key in self.kept:
            return self.kept[key]
        p, shard, position = key
        cursor = self.cursors.get((p, shard))
        if cursor is None:
            cursor = self.cursors[(p, shard)] = _ShardCursor(
                self.stream.index, shard, True, self.stream.read_retries, self.stream.retry_backoff
            )
        while cursor.position <= position:
            at = cursor.position
            cut = cursor.next()
            if cut is None:
                raise ValueError(f"{self.stream.index.recordings[shard]} ends before cut {at}")
            here = (p, shard, at)
            if at == position or here in self.pending:
                self.kept[here] = cut.recording.sources[0].source
        return self.kept[key]

    def drop_finished(self) -> None:
        """Forget audio no batch will ask for again, and close shards that are done."""
        self.kept = {k: v for k, v in self.kept.items() if k in self.pending}
        live = {k[:2] for k in self.pending}
        for p_shard in list(self.cursors):
            if p_shard in self.done and p_shard not in live:
                del self.cursors[p_shard]
