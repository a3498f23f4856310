"""`data=shar`: train from Shar shards (local or `s3://...`), validate and test on manifests.

The training batches come from `shar_stream.ShardStream` (each rank and worker its own
shards, audio-seconds batches from length buckets, an endless stream, so training runs by
`trainer.max_steps`); validation and test read JSONL manifests exactly as `data=manifest`
does. Batches go through the same `Collator` into the same LightningModule. The number of
batches trained is kept in the checkpoint, so a resumed run continues the stream where it
stopped.
"""

from __future__ import annotations

import logging
import os

from torch.utils.data import DataLoader

from .datamodule import AlignDataModule, _worker_init
from .shar import read_index
from .shar_stream import ShardStream

log = logging.getLogger(__name__)


class ShardDataModule(AlignDataModule):
    """Training batches streamed from Shar shards; `val_manifest`/`test_manifest` as JSONL.

    `max_seconds` is the audio budget of a training batch (Lhotse's `max_duration`: the sum
    of the batch's durations; with buckets padding stays small). `buffer_size` cuts are held
    (metadata only) to fill the buckets and shuffle. Other arguments are `AlignDataModule`'s.
    """

    def __init__(
        self,
        pretrained: str,
        train_shards: str,
        val_manifest: str | None = None,
        test_manifest: str | None = None,
        max_seconds: float = 120.0,
        num_buckets: int = 20,
        buffer_size: int = 2000,
        eval_batch_size: int = 8,
        num_workers: int = 2,
        revision: str | None = None,
        max_duration: float | None = None,
        seed: int | None = None,
        read_retries: int = 3,
        retry_backoff: float = 1.0,
        skip_bad_lines: bool = False,
        augment: dict | None = None,
        index_cache: bool = True,
    ):
        super().__init__(
            pretrained,
            train_manifest=None,
            val_manifest=val_manifest,
            test_manifest=test_manifest,
            batch_size=eval_batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            revision=revision,
            max_duration=max_duration,
            max_seconds=max_seconds,
            num_buckets=num_buckets,
            seed=seed,
            skip_bad_lines=skip_bad_lines,
            augment=augment,
            index_cache=index_cache,
        )
        self.train_shards = train_shards
        self.buffer_size = buffer_size
        self.read_retries, self.retry_backoff = read_retries, retry_backoff
        self.stream: ShardStream | None = None
        self.resume_batches = 0  # batches this rank trained on before a resume

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)  # the processor, the collator and the val/test manifests
        if stage not in (None, "fit") or self.stream is not None:
            return
        trainer = self.trainer
        if trainer is not None and trainer.max_steps < 0:
            raise ValueError(
                "data=shar streams without end: set trainer.max_steps (optimizer steps), "
                "and trainer.val_check_interval (batches) to validate along the way"
            )
        index = read_index(self.train_shards)
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        self.stream = ShardStream(
            index,
            self.collator.processor,
            max_seconds=self.max_seconds,
            num_buckets=self.num_buckets,
            buffer_size=self.buffer_size,
            seed=seed,
            max_duration=self.max_duration,
            augment=self.augment,
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

    def train_dataloader(self) -> DataLoader:
        stream = self.stream
        if stream is None:
            raise ValueError("setup('fit') first: no training shards are open")
        trainer = self.trainer
        stream.rank = trainer.global_rank if trainer is not None else 0
        stream.world_size = trainer.world_size if trainer is not None else 1
        readers = stream.world_size * max(1, self.num_workers)
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
            num_workers=self.num_workers,
            collate_fn=self.collator,
            worker_init_fn=_worker_init if self.num_workers > 0 else None,
        )

    # ---- the stream's position, in the checkpoint ----------------------------------------
    def state_dict(self) -> dict:
        trainer = self.trainer
        batches = 0
        if trainer is not None:
            batches = int(trainer.fit_loop.epoch_loop.batch_progress.total.processed)
        return {
            "batches": batches,
            "world_size": trainer.world_size if trainer is not None else 1,
            "num_workers": self.num_workers,
            "train_shards": str(self.train_shards),
        }

    def load_state_dict(self, state: dict) -> None:
        world = self.trainer.world_size if self.trainer is not None else 1
        if (state["world_size"], state["num_workers"]) != (world, self.num_workers):
            raise ValueError(
                f"the checkpoint's stream ran on {state['world_size']} rank(s) x "
                f"{state['num_workers']} worker(s), this run on {world} x {self.num_workers}: "
                "resume with the same trainer.devices/num_nodes and data.num_workers, so the "
                "stream continues exactly where it stopped"
            )
        self.resume_batches = int(state["batches"])
        log.info("resuming the shard stream after %d batches", self.resume_batches)
