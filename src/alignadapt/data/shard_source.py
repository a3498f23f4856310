"""`data=shar`: train from Shar shards (local or `s3://...`), validate and test on manifests.

The training batches come from `shar_stream.ShardStream` (each rank and worker its own
shards, batches of `summed_seconds` of audio from length buckets, an endless stream, so
training runs by `trainer.max_steps`); validation and test read JSONL manifests exactly as
`data=manifest` does. Batches go through the same `Collator` into the same LightningModule.
The number of batches trained is kept in the checkpoint, so a resumed run continues the
stream where it stopped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from torch.utils.data import DataLoader

from .shar import read_index
from .shar_stream import ShardStream
from .source import Source, worker_init

if TYPE_CHECKING:
    from .datamodule import AlignDataModule

log = logging.getLogger(__name__)


class ShardSource(Source):
    """Training batches streamed from Shar shards, for `AlignDataModule(source=...)`.

    `summed_seconds` is the audio budget of a training batch: the sum of its durations
    (Lhotse's `max_duration`; with `num_buckets` length buckets padding stays small), unlike
    the manifests' `padded_seconds`. `buffer_size` cuts are held (metadata only) to fill the
    buckets and shuffle; a failed read is retried `read_retries` times, `retry_backoff` s
    first, doubling.
    """

    def __init__(
        self,
        train_shards: str,
        summed_seconds: float = 360.0,
        num_buckets: int = 20,
        buffer_size: int = 2000,
        read_retries: int = 3,
        retry_backoff: float = 1.0,
    ):
        self.train_shards = train_shards
        self.summed_seconds, self.num_buckets = summed_seconds, num_buckets
        self.buffer_size = buffer_size
        self.read_retries, self.retry_backoff = read_retries, retry_backoff
        self.stream: ShardStream | None = None
        self.resume_batches = 0  # batches this rank trained on before a resume

    def setup(self, data: AlignDataModule, stage: str | None) -> None:
        if stage not in (None, "fit") or self.stream is not None:
            return
        trainer = data.trainer
        if trainer is not None and trainer.max_steps < 0:
            raise ValueError(
                "data=shar streams without end: set trainer.max_steps (optimizer steps), "
                "and trainer.val_check_interval (batches) to validate along the way"
            )
        if self.summed_seconds < data.max_duration:
            raise ValueError(
                f"data.source.summed_seconds={self.summed_seconds:g} is under the longest item "
                f"({data.max_duration:g} s, data.max_duration): a batch could not hold it; "
                "raise data.source.summed_seconds or set a shorter data.max_duration"
            )
        index = read_index(self.train_shards)
        self.stream = ShardStream(
            index,
            data.collator.processor,
            max_seconds=self.summed_seconds,
            num_buckets=self.num_buckets,
            buffer_size=self.buffer_size,
            seed=data.run_seed(),
            max_duration=data.max_duration,
            augment=data.augment,
            read_retries=self.read_retries,
            retry_backoff=self.retry_backoff,
        )
        log.info(
            "training from %s: %d shards, %d cuts, %.1f h",
            index.location,
            index.num_shards,
            sum(index.counts),
            sum(index.seconds) / 3600,
        )

    def train_loader(self, data: AlignDataModule) -> DataLoader:
        stream = self.stream
        if stream is None:
            raise ValueError("setup('fit') first: no training shards are open")
        trainer = data.trainer
        stream.rank = trainer.global_rank if trainer is not None else 0
        stream.world_size = trainer.world_size if trainer is not None else 1
        readers = stream.world_size * max(1, data.num_workers)
        if stream.index.num_shards < readers:
            raise ValueError(
                f"{stream.index.location} has {stream.index.num_shards} shard(s) for {readers} "
                "readers (ranks x data.num_workers): every reader needs a shard of its own; "
                "write smaller shards (alignadapt shards write --shard-size) or lower "
                "data.num_workers"
            )
        stream.skip_batches = self.resume_batches
        return DataLoader(
            stream,
            batch_size=None,
            num_workers=data.num_workers,
            collate_fn=data.collator,
            worker_init_fn=worker_init if data.num_workers > 0 else None,
        )

    def budget(self) -> tuple[float, str]:
        return self.summed_seconds, "audio seconds (summed)"

    # ---- the stream's position, in the checkpoint ----------------------------------------
    def state_dict(self, data: AlignDataModule) -> dict:
        trainer = data.trainer
        batches = 0
        if trainer is not None:
            batches = int(trainer.fit_loop.epoch_loop.batch_progress.total.processed)
        return {
            "batches": batches,
            "world_size": trainer.world_size if trainer is not None else 1,
            "num_workers": data.num_workers,
            "train_shards": str(self.train_shards),
        }

    def load_state_dict(self, data: AlignDataModule, state: dict) -> None:
        world = data.trainer.world_size if data.trainer is not None else 1
        if (state["world_size"], state["num_workers"]) != (world, data.num_workers):
            raise ValueError(
                f"the checkpoint's stream ran on {state['world_size']} rank(s) x "
                f"{state['num_workers']} worker(s), this run on {world} x {data.num_workers}: "
                "resume with the same trainer.devices/num_nodes and data.num_workers, so the "
                "stream continues exactly where it stopped"
            )
        self.resume_batches = int(state["batches"])
        log.info("resuming the shard stream after %d batches", self.resume_batches)
