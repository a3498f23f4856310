"""Pretraining data made on the fly: broad espeak-ng speech straight into batches, nothing on disk.

Batch i of epoch e is a pure function of (seed, e, i): its length bucket, its utterances,
their voices and conditions. A short "epoch" of `steps_per_epoch` batches is the unit of
resumption: with checkpoints at epoch ends (`callbacks.model_checkpoint.every_n_epochs`),
resuming from `last.ckpt` continues with the batches an uninterrupted run would have seen.
The same texts, voices and conditions, not the same last sample: libespeak-ng's output
depends a little on what it spoke before in the same process, so word times agree to within
one 10 ms frame. A batch holds utterances of one length bucket, as many as fit
`batch_seconds` of audio, so short and long utterances cost the same per step and padding
stays low.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.datamodule import AlignDataModule, Example
from ..data.source import Source, worker_init
from ..model.prompt import split_units
from .broad import BUCKETS, LANGUAGES, Timing, make_utterance
from .degrade import Conditions
from .espeak import EspeakCrashed


class BroadStream(Dataset):
    """(epoch, batch index) -> a list of Examples of one length bucket, made on the spot."""

    def __init__(
        self,
        processor,
        seed: int,
        steps_per_epoch: int,
        batch_seconds: float = 60.0,
        languages: dict[str, float] | None = None,
        buckets: Sequence[Sequence[float]] = BUCKETS,
        split: str = "train",
        conditions: dict | None = None,
        timing: dict | None = None,
        stages: Sequence[dict] | None = None,
        natural_share: float = 0.0,
    ):
        self.processor = processor
        self.seed = seed
        self.steps_per_epoch = steps_per_epoch
        self.batch_seconds = batch_seconds
        languages = languages or {k: 1.0 for k in LANGUAGES}
        unknown = set(languages) - set(LANGUAGES)
        if unknown:
            raise ValueError(f"unknown demo languages {sorted(unknown)}: use {sorted(LANGUAGES)}")
        self.languages = list(languages)
        weights = np.asarray([languages[k] for k in self.languages], dtype=float)
        self.weights = weights / weights.sum()
        self.buckets = [tuple(float(x) for x in b) for b in buckets]
        self.split = split
        self.conditions = Conditions(**(conditions or {}))
        self.timing = Timing.from_dict(timing)
        if not 0.0 <= natural_share <= 1.0:
            raise ValueError(
                f"natural_share is a share of utterances in [0, 1], not {natural_share}"
            )
        self.natural_share = natural_share
        # natural silences (Timing's defaults: 0.05-0.5 s ends, 0.1-1 s pauses) with `timing`'s
        # rate changes and non-speech sounds
        self.natural = Timing(
            rate_change=self.timing.rate_change,
            nonspeech_prob=self.timing.nonspeech_prob,
            nonspeech_s=self.timing.nonspeech_s,
        )
        self.stages = [Stage.from_dict(stage, self) for stage in (stages or [])]
        self._engine = None  # one libespeak-ng per process, made where it is used

    def __len__(self) -> int:
        return self.steps_per_epoch

    @property
    def engine(self):
        if self._engine is None:
            from .espeak import IsolatedEspeak  # a crash in libespeak-ng costs a sentence

            self._engine = IsolatedEspeak()
        return self._engine

    def stage(self, step: int) -> tuple[list[str], np.ndarray, list[tuple[float, float]]]:
        """The languages, their weights and the length buckets drawn from at a step."""
        for stage in self.stages:
            if step < stage.until_step:
                return stage.languages, stage.weights, stage.buckets
        return self.languages, self.weights, self.buckets

    def batch(self, epoch: int, index: int) -> list[Example]:
        languages, weights, buckets = self.stage(epoch * self.steps_per_epoch + index)
        rng = np.random.default_rng([self.seed, epoch, index])
        bucket = buckets[rng.integers(len(buckets))]
        count = max(1, int(self.batch_seconds // bucket[1]))
        out, draw = [], 0
        while len(out) < count:
            rng = np.random.default_rng([self.seed, epoch, index, draw])  # one per utterance
            draw += 1
            language = languages[rng.choice(len(languages), p=weights)]
            timing = self.timing
            if self.natural_share > 0:  # its own draw: voice and sentences are drawn the same
                coin = np.random.default_rng([self.seed, epoch, index, draw, 1]).random()
                timing = self.natural if coin < self.natural_share else self.timing
            try:
                utt = make_utterance(
                    self.engine,
                    rng,
                    language,
                    float(rng.uniform(*bucket)),
                    split=self.split,
                    conditions=self.conditions,
                    timing=timing,
                )
            except EspeakCrashed:  # libespeak-ng crashes in this voice and pitch: next draw
                continue
            units = split_units(self.processor, utt.text, utt.language)
            if len(units) != len(utt.words):  # the splitter and espeak-ng disagree: rare, skip
                continue
            key = f"broad:{self.seed}:{epoch}:{index}:{len(out)}"
            spans = [(s, e) for _, s, e in utt.words]
            out.append(Example(key, utt.audio, units, spans, utt.language))
        return out

    def __getitem__(self, key: tuple[int, int]) -> list[Example]:
        epoch, index = key
        return self.batch(int(epoch), int(index))


@dataclass(frozen=True)
class Stage:
    """A step of the curriculum: until `until_step` (the global batch index, epoch x
    steps_per_epoch + index), draw from these languages and buckets only. Short English calls
    first: a fresh model learns to find words where the task is easiest, then widens."""

    until_step: int
    languages: list[str]
    weights: np.ndarray
    buckets: list[tuple[float, float]]

    @classmethod
    def from_dict(cls, values: dict, stream: BroadStream) -> Stage:
        values = dict(values)
        unknown = set(values) - {"until_step", "languages", "buckets"}
        if unknown or "until_step" not in values:
            raise ValueError(
                f"a curriculum stage takes until_step, languages and buckets, not {sorted(values)}"
            )
        languages = dict(
            values.get("languages") or dict(zip(stream.languages, stream.weights, strict=True))
        )
        unknown = set(languages) - set(LANGUAGES)
        if unknown:
            raise ValueError(f"unknown demo languages {sorted(unknown)}: use {sorted(LANGUAGES)}")
        weights = np.asarray([float(w) for w in languages.values()])
        buckets = values.get("buckets") or stream.buckets
        return cls(
            int(values["until_step"]),
            list(languages),
            weights / weights.sum(),
            [tuple(float(x) for x in b) for b in buckets],
        )


class EpochSampler(Sampler):
    """Yields (epoch, 0..n-1); Lightning sets the epoch through `set_epoch`."""

    def __init__(self, n: int, fixed_epoch: int | None = None):
        self.n, self.epoch, self.fixed_epoch = n, 0, fixed_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch if self.fixed_epoch is None else self.fixed_epoch
        return iter((epoch, i) for i in range(self.n))

    def __len__(self) -> int:
        return self.n


class BroadSource(Source):
    """Training and validation batches made on the fly (`BroadStream`), for
    `AlignDataModule(source=...)`; a test manifest, when given, is read like any other
    (`data.test_manifest`).

    Validation uses its own seed and the training side of voices and sentences: it watches
    the training distribution; generalisation is measured on the fixed test sets
    (`alignadapt demo-data --tests`)."""

    def __init__(
        self,
        seed: int = 0,
        steps_per_epoch: int = 100,
        val_batches: int = 8,
        batch_seconds: float = 60.0,
        languages: dict[str, float] | None = None,
        buckets: Sequence[Sequence[float]] = BUCKETS,
        conditions: dict | None = None,
        timing: dict | None = None,
        curriculum: Sequence[dict] | None = None,
        natural_share: float = 0.0,
    ):
        self.stream_args = dict(
            seed=seed,
            batch_seconds=batch_seconds,
            languages=dict(languages) if languages else None,
            buckets=[list(b) for b in buckets],
            conditions=dict(conditions) if conditions else None,
            timing=dict(timing) if timing else None,
        )
        self.curriculum = [dict(stage) for stage in (curriculum or [])]
        self.natural_share = float(natural_share)  # training only: validation stays on `timing`
        self.batch_seconds = batch_seconds
        self.steps_per_epoch = steps_per_epoch
        self.val_batches = val_batches
        self._val_cache: list | None = None

    def _stream(
        self, data: AlignDataModule, seed_offset: int, steps: int, stages=None, natural=0.0
    ):
        args = dict(self.stream_args)
        args["seed"] = int(args["seed"]) + seed_offset
        return BroadStream(
            data.collator.processor,
            steps_per_epoch=steps,
            stages=stages,
            natural_share=natural,
            **args,
        )

    def train_loader(self, data: AlignDataModule) -> DataLoader:
        return DataLoader(
            self._stream(data, 0, self.steps_per_epoch, self.curriculum, self.natural_share),
            sampler=EpochSampler(self.steps_per_epoch),
            batch_size=None,
            num_workers=data.num_workers,
            collate_fn=data.collator,
            persistent_workers=data.num_workers > 0,
            worker_init_fn=worker_init if data.num_workers > 0 else None,
        )

    def val_loader(self, data: AlignDataModule) -> DataLoader:
        if self._val_cache is None:  # the same batches every validation: made once, kept
            stream = self._stream(data, 10_000, self.val_batches)
            self._val_cache = [data.collator(stream.batch(0, i)) for i in range(self.val_batches)]
        return DataLoader(self._val_cache, batch_size=None, collate_fn=_same)

    def budget(self) -> tuple[float, str]:
        return self.batch_seconds, "audio seconds"  # one length bucket: at most this


def _same(batch):
    return batch
