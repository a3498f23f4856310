"""The LightningDataModule: manifests in, processor inputs plus slot labels out.

Manifests are indexed by byte offset and read line by line in the dataset, so memory holds
a small index (about 20 bytes an utterance), never the manifest. Audio is decoded, augmented
and collated a whole batch at a time in the DataLoader's worker processes. Every training
and validation line gets the checks of `alignadapt validate` in `setup`, before the first
step (the result is cached for an unchanged manifest: see index_cache.py); bad lines stop
the run with file and line named (or are skipped and logged when `data.skip_bad_lines`).
Long labelled recordings are cut at word boundaries into segments no longer than the longest
item (`data.max_duration`: the model's longest call unless set shorter). Other sources of
batches (shards, the demo's broad stream, a corpus written first) plug in: see source.py.
"""

from __future__ import annotations

import logging
import os
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import Qwen3ASRProcessor

from ..model.prompt import SAMPLE_RATE, build_inputs, split_units
from ..model.timing import longest_item, slot_labels
from .audio import load_audio
from .augment import AugmentSpec, augment
from .index_cache import ARRAYS, file_digest, index_key, load_index, save_index
from .manifest import ManifestError, Utterance, index_manifest, read_at
from .sampling import BatchPlan, ResumableLoader, plan_segments
from .source import Source, worker_init
from .validation import Issue, inspect_manifest

log = logging.getLogger(__name__)
KEEP = 1000  # issues of each kind kept for messages; the rest are counted


@dataclass
class Example:
    key: str  # "manifest:line" ("manifest:line@12.34s" for a segment): traceable to its input
    audio: np.ndarray
    units: list[str]
    spans: list[tuple[float, float]]
    language: str | None


class ManifestDataset(Dataset):
    """Random access to a manifest through a small index; one line is read per item.

    Before `check`, the index is the byte offset of every line (8 bytes a line). `check`
    reads every line once, runs the checks of `alignadapt validate` (headers only, no
    decoding), and replaces it with an index of training items: per item the line's offset,
    its number, its audio duration and, for a recording cut into segments, which segment (20
    bytes an item, plus 24 per segment). Items are whole lines or segments of long labelled ones.

    An item is an int; the data module's batch plan asks for whole batches,
    `(epoch, [items])`, so a worker decodes a batch and augmentation can draw per epoch.
    """

    def __init__(
        self,
        manifest: str | Path,
        processor: Qwen3ASRProcessor,
        augment: AugmentSpec | None = None,
        seed: int = 0,
        index_cache: bool = True,
    ):
        self.manifest = Path(manifest)
        if not self.manifest.exists():
            raise FileNotFoundError(f"manifest {self.manifest} does not exist")
        self._offsets: np.ndarray | None = None  # byte offsets, read on first use
        self.index_cache = index_cache
        self.lines: np.ndarray | None = None
        self.durations: np.ndarray | None = None  # seconds per item, known after check()
        self.segments: np.ndarray | None = None  # per item: -1 the whole line, else its segment
        # per segment: first unit, unit count (int32) and start, end in seconds (float64)
        self.segment_units = np.zeros((0, 2), dtype=np.int32)
        self.segment_times = np.zeros((0, 2), dtype=np.float64)
        self.processor = processor
        self.augment = augment if augment is not None and augment.active else None
        self.seed = seed

    @property
    def offsets(self) -> np.ndarray:
        if self._offsets is None:  # a checked index from the cache needs no pass over the file
            self._offsets = index_manifest(self.manifest)
        return self._offsets

    @offsets.setter
    def offsets(self, value: np.ndarray) -> None:
        self._offsets = value

    def __len__(self) -> int:
        return len(self.offsets)

    def line_of(self, index: int) -> int:
        if self.lines is None:  # line numbers only matter for messages: count them once, lazily
            with open(self.manifest, "rb") as f:
                starts = [0]
                starts += [i + 1 for i, b in enumerate(f.read()) if b == 10]
            self.lines = np.searchsorted(np.asarray(starts), self.offsets, side="right")
        return int(self.lines[index])

    def example(self, index: int, rng: np.random.Generator | None = None) -> Example:
        line = self.line_of(index)
        utt = read_at(self.manifest, int(self.offsets[index]), line)
        units = split_units(self.processor, utt.text, utt.language)
        spans = utt.spans or []
        key = f"{self.manifest.name}:{line}"
        segment = -1 if self.segments is None else int(self.segments[index])
        if segment < 0:
            audio = load_audio(utt.audio_path, channel=utt.channel)
        else:
            first, count = (int(x) for x in self.segment_units[segment])
            start, end = (float(x) for x in self.segment_times[segment])
            audio = load_audio(utt.audio_path, channel=utt.channel, start=start, end=end)
            units = units[first : first + count]
            length = len(audio) / SAMPLE_RATE
            spans = [
                (min(max(s - start, 0.0), length), min(max(e - start, 0.0), length))
                for s, e in spans[first : first + count]
            ]
            key += f"@{start:.2f}s"
        if rng is not None and self.augment is not None:
            audio, spans = augment(audio, list(spans), self.augment, rng)
        return Example(key, audio, units, list(spans), utt.language)

    def __getitem__(self, key: int | list[int] | tuple[int, list[int]]):
        if isinstance(key, tuple):  # (epoch, batch) from the batch plan
            epoch, indices = key
            return [
                self.example(i, np.random.default_rng([self.seed, epoch, int(i)])) for i in indices
            ]
        if isinstance(key, list):
            return [self.example(i) for i in key]
        return self.example(int(key))

    def check(
        self,
        require_labels: bool,
        max_duration: float | None = None,
        skip_bad: bool = False,
        progress: bool = True,
    ) -> list[Issue]:
        """Read every line before training, run every check, and build the item index.

        Problems raise one ManifestError listing them all (file:line: reason), unless
        `skip_bad`: then bad lines are left out of the index. Returns every issue found
        (warnings and, when skipping, the skipped lines' problems). Labelled lines longer
        than `max_duration` are cut at word boundaries into segments; unlabelled ones cannot
        be and are problems.
        """
        key = None
        if self.index_cache:  # an unchanged manifest checked with the same settings: reuse
            tokenizer = getattr(self.processor, "tokenizer", None)
            settings = {
                "require_labels": require_labels,
                "max_duration": max_duration,
                "skip_bad": skip_bad,
                "splitter": [getattr(tokenizer, "name_or_path", ""), len(tokenizer or ())],
            }
            key = index_key(self.manifest, file_digest(self.manifest), settings)
            found = load_index(key)
            if found is not None:
                arrays, meta = found
                for name, value in arrays.items():
                    setattr(self, name, value)
                issues = [Issue(**i) for i in meta["issues"]]
                self._log_issues(issues, meta["bad"], meta["n_warnings"])
                log.info("%s: checked index from the cache (%d items)", self.manifest, len(self))
                return issues
        offsets, lines, durations, segments = array("q"), array("i"), array("f"), array("i")
        segment_units, segment_times = array("i"), array("d")
        issues: list[Issue] = []  # the first KEEP problems and warnings: memory stays flat
        bad = n_problems = n_warnings = 0

        def split(text: str, language: str | None) -> list[str]:
            return split_units(self.processor, text, language)

        for report in inspect_manifest(
            self.manifest, split, require_labels=require_labels, progress=progress
        ):
            cuts = None
            if report.ok and max_duration is not None and report.duration > max_duration:
                try:
                    if not report.utt.labelled:
                        raise ValueError(
                            f"{report.duration:.1f} s of audio without timestamps, over "
                            f"data.max_duration={max_duration:g}: it cannot be cut; "
                            "pseudo-label it first so it can be cut at word boundaries"
                        )
                    cuts = plan_segments(report.utt.spans, report.duration, max_duration)
                except ValueError as err:
                    report.issues.append(Issue(str(self.manifest), report.line, str(err)))
            for issue in report.issues:
                n_warnings += issue.warning
                n_problems += not issue.warning
                if (n_warnings if issue.warning else n_problems) <= KEEP:
                    issues.append(issue)
            if not report.ok:
                bad += 1
                continue
            for first, count, start, end in cuts or [(0, 0, 0.0, report.duration)]:
                offsets.append(report.offset)
                lines.append(report.line)
                durations.append(end - start)
                if cuts is None:
                    segments.append(-1)
                else:
                    segments.append(len(segment_units) // 2)
                    segment_units.extend((first, count))
                    segment_times.extend((start, end))
        problems = [i for i in issues if not i.warning]
        if problems and not skip_bad:
            raise ManifestProblems(self.manifest, problems, n_problems)
        self._log_issues(issues, bad, n_warnings)
        # numpy views of the arrays' own buffers: no second copy of the index, ever
        self.offsets = np.frombuffer(offsets, dtype=np.int64)
        self.lines = np.frombuffer(lines, dtype=np.int32)
        self.durations = np.frombuffer(durations, dtype=np.float32)
        self.segments = np.frombuffer(segments, dtype=np.int32)
        self.segment_units = np.frombuffer(segment_units, dtype=np.int32).reshape(-1, 2)
        self.segment_times = np.frombuffer(segment_times, dtype=np.float64).reshape(-1, 2)
        if not len(self.offsets):
            raise ManifestError(self.manifest, 0, "no usable line", "run alignadapt validate on it")
        if key is not None:
            save_index(
                key,
                {name: getattr(self, name) for name in ARRAYS},
                {"issues": [asdict(i) for i in issues], "bad": bad, "n_warnings": n_warnings},
            )
        return issues

    def _log_issues(self, issues: list[Issue], bad: int, n_warnings: int) -> None:
        problems = [i for i in issues if not i.warning]
        if bad:
            log.warning(
                "%s: skipping %d bad line(s) (data.skip_bad_lines=true): %s",
                self.manifest,
                bad,
                "; ".join(f"line {i.line}: {i.message}" for i in problems[:20])
                + (" ..." if len(problems) > 20 else ""),
            )
        if n_warnings:
            log.warning(
                "%s: %d warning(s), e.g. %s (run alignadapt validate for all)",
                self.manifest,
                n_warnings,
                next(str(i) for i in issues if i.warning).replace("\n", " "),
            )


class ManifestProblems(ManifestError):
    """Every problem of a manifest at once, each as file:line: reason."""

    def __init__(self, manifest: str | Path, problems: list[Issue], total: int | None = None):
        first = problems[0]
        super().__init__(manifest, first.line, first.message, first.hint)
        self.problems = problems
        total = total or len(problems)
        shown = "\n".join(str(p) for p in problems[:50])
        more = f"\n... and {total - 50} more" if total > 50 else ""
        self.args = (
            f"{total} problem(s) in {manifest}; training stops before the first step:\n"
            f"{shown}{more}\n"
            "Fix them (alignadapt validate lists them), or set data.skip_bad_lines=true to "
            "train without those lines.",
        )


class Collator:
    """Examples -> one padded batch: processor outputs, slot labels and reference times."""

    def __init__(
        self,
        processor: Qwen3ASRProcessor,
        timestamp_token_id: int,
        class_ms: float,
        num_labels: int,
    ):
        self.processor = processor
        self.timestamp_token_id = timestamp_token_id
        self.class_ms = class_ms
        self.num_labels = num_labels

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        inputs = build_inputs(
            self.processor, [e.audio for e in examples], [e.units for e in examples]
        )
        batch = dict(inputs)
        batch.pop("num_audio_tokens", None)
        try:
            batch["labels"] = slot_labels(
                batch["input_ids"],
                self.timestamp_token_id,
                [e.spans for e in examples],
                self.class_ms,
                self.num_labels,
            )
        except ValueError as err:
            raise ValueError(f"{err} (batch: {', '.join(e.key for e in examples)})") from None
        batch["keys"] = [e.key for e in examples]
        batch["units"] = [e.units for e in examples]
        batch["ref_times"] = [
            torch.tensor([t for s in e.spans for t in s], dtype=torch.float64) for e in examples
        ]
        batch["audio_seconds"] = float(sum(len(e.audio) for e in examples) / SAMPLE_RATE)
        return batch


class AlignDataModule(L.LightningDataModule):
    """Train/val/test manifests, or a pluggable source, -> batches for the aligner.

    Every split is read from its JSONL manifest unless `source` (data/source.py) supplies it:
    Shar shards, the demo's broad stream, or a corpus written on first use. `batch_size`
    counts utterances per device; `padded_seconds`, when set, replaces it with a budget of
    padded audio seconds per batch (utterances x the longest), filled from length buckets.
    Under DDP each rank gets its share of the batches (see `sampling.BatchPlan`).

    `max_duration`, the longest item in seconds, comes from the model at setup (its longest
    call: `model.timing.longest_item`); a value given here is a cap of one's own, refused when
    the model cannot time that much in one call. Longer labelled recordings are cut at word
    boundaries. Every line is checked in `setup`; a bad one stops the run unless
    `skip_bad_lines`. With `index_cache`, the checked index of an unchanged manifest comes from
    the cache (`index_cache.py`). `augment` (training only) is an `AugmentSpec` as a dict.
    """

    def __init__(
        self,
        pretrained: str,
        train_manifest: str | None = None,
        val_manifest: str | None = None,
        test_manifest: str | None = None,
        batch_size: int = 4,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        revision: str | None = None,
        max_duration: float | None = None,
        padded_seconds: float | None = None,
        num_buckets: int = 20,
        seed: int | None = None,
        skip_bad_lines: bool = False,
        augment: dict | None = None,
        replay: dict | None = None,
        index_cache: bool = True,
        source: Source | None = None,
    ):
        super().__init__()
        self.source = source
        self.index_cache = index_cache  # reuse the checked index of an unchanged manifest
        # {manifest, share, seed, out}: mix general utterances into training (see replay.py)
        self.replay = replay if replay and replay.get("manifest") else None
        self.pretrained, self.revision = pretrained, revision
        self.manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.requested_max_duration = max_duration
        self.max_duration: float | None = None  # the longest item, known at setup
        self.padded_seconds = padded_seconds
        self.num_buckets = num_buckets
        self.seed = seed
        self.skip_bad_lines = skip_bad_lines
        if augment is not None and not isinstance(augment, dict):  # a DictConfig from Hydra
            from omegaconf import OmegaConf

            augment = OmegaConf.to_container(augment, resolve=True)
        self.augment = AugmentSpec.from_dict(augment)
        self.datasets: dict[str, ManifestDataset] = {}
        self.collator: Collator | None = None

    def run_seed(self) -> int:
        """`seed`, or the run's seed (seed_everything) when unset: batch order, augmentation."""
        return self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))

    def prepare_data(self) -> None:
        if self.source is not None:
            self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.collator is None:
            from ..model.reference import load_processor

            processor, config = load_processor(self.pretrained, revision=self.revision)
            class_ms = processor.timestamp_segment_time
            self.collator = Collator(
                processor, config.timestamp_token_id, class_ms, config.num_labels
            )
            self.max_duration = longest_item(
                config.num_labels, class_ms, self.requested_max_duration
            )
            if self.padded_seconds is not None and self.padded_seconds < self.max_duration:
                raise ValueError(
                    f"data.padded_seconds={self.padded_seconds:g} is under the longest item "
                    f"({self.max_duration:g} s, data.max_duration): a batch could not hold it; "
                    "raise data.padded_seconds or set a shorter data.max_duration"
                )
        # fit checks the test manifest too: a bad test line must stop the run before the first
        # step, not after hours of training
        wanted = {"fit": ("train", "val", "test"), "validate": ("val",), "test": ("test",)}.get(
            stage or "", ("train", "val", "test")
        )
        for split in wanted:
            path = self.manifests[split]
            if path and split == "train" and self.replay and "train" not in self.datasets:
                from .replay import mix_with_replay

                r = self.replay
                path = mix_with_replay(
                    path, r["manifest"], r.get("share", 0.5), r.get("seed", 0), r["out"]
                )
                log.info(
                    "training on %s: %s with %.0f%% replay",
                    path,
                    self.manifests[split],
                    100 * r["share"],
                )
            if path and split not in self.datasets:
                dataset = ManifestDataset(
                    path,
                    self.collator.processor,
                    augment=self.augment if split == "train" else None,
                    seed=self.run_seed(),  # augmentation draws per (seed, epoch, item)
                    index_cache=self.index_cache,
                )
                dataset.check(
                    require_labels=True,
                    max_duration=self.max_duration,
                    skip_bad=self.skip_bad_lines,
                )
                self.datasets[split] = dataset
        if self.source is not None:
            self.source.setup(self, stage)

    # ---- what callbacks ask of the data ------------------------------------------------
    def batch_budget(self) -> tuple[float, str]:
        """What one device's training batch holds, (amount, unit): utterances, padded audio
        seconds, or a source's own budget. The global batch is this x devices x accumulation."""
        budget = self.source.budget() if self.source is not None else None
        if budget is not None:
            return budget
        if self.padded_seconds is not None:
            return self.padded_seconds, "padded audio seconds"
        return self.batch_size, "utterances"

    def has_manifest(self, split: str) -> bool:
        """Whether a split is read from a checked manifest (after setup)."""
        return split in self.datasets

    def train_batches_per_epoch(self) -> int | None:
        """This rank's training batches an epoch, known before the first (after setup);
        None when training does not come from a manifest (a source streams it)."""
        if "train" not in self.datasets:
            return None
        return len(self.batch_plan("train", True, self.batch_size))

    def cut_recordings(self, split: str, limit: int) -> list[Utterance]:
        """The first `limit` lines of a split's manifest that setup cut into segments
        (labelled, longer than `max_duration`), each read once from its checked index."""
        dataset = self.datasets.get(split)
        if dataset is None or dataset.segments is None:
            return []
        cut = np.flatnonzero(dataset.segments >= 0)
        _, first = np.unique(dataset.lines[cut], return_index=True)
        return [
            read_at(dataset.manifest, int(dataset.offsets[i]), int(dataset.lines[i]))
            for i in cut[np.sort(first)][:limit]
        ]

    # ---- batches -------------------------------------------------------------------------
    def batch_plan(self, split: str, shuffle: bool, batch_size: int) -> BatchPlan:
        """This rank's batches of a split's manifest (len() is the number of steps per epoch)."""
        if split not in self.datasets:
            raise ValueError(f"no {split} manifest configured (data.{split}_manifest)")
        dataset = self.datasets[split]
        trainer = self.trainer
        durations = dataset.durations if dataset.durations is not None else np.ones(len(dataset))
        return BatchPlan(
            durations,
            batch_size=None if self.padded_seconds else batch_size,
            max_seconds=self.padded_seconds,
            shuffle=shuffle,
            seed=self.seed,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            num_buckets=self.num_buckets,
        )

    def _batches_done(self) -> int:
        """Training batches processed in this epoch (what a mid-epoch checkpoint records)."""
        trainer = self.trainer
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed if trainer else 0

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        # The plan yields whole batches, so `batch_size=None`: a worker decodes and collates
        # a batch at once, and the processor runs once per batch, not per utterance.
        # Training resumes mid-epoch where it stopped (ResumableLoader), evaluation restarts.
        extra = {"batches_done": self._batches_done} if split == "train" else {}
        return (ResumableLoader if split == "train" else DataLoader)(
            self.datasets.get(split),
            sampler=self.batch_plan(split, shuffle, batch_size),
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=self.collator,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=worker_init if self.num_workers > 0 else None,
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        loader = self.source.train_loader(self) if self.source is not None else None
        return loader if loader is not None else self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        loader = self.source.val_loader(self) if self.source is not None else None
        return loader if loader is not None else self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    # ---- a source's position (the shard stream's), in the checkpoint ----------------------
    def state_dict(self) -> dict:
        return self.source.state_dict(self) if self.source is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.source is not None:
            self.source.load_state_dict(self, state)
