"""The LightningDataModule: manifests in, processor inputs plus slot labels out.

Manifests are indexed by byte offset and read line by line in the dataset, so memory holds
the index, not the manifest. Audio is decoded in the DataLoader's worker processes. Every
training and validation line is checked (JSON, fields, one timestamp pair per unit as the
processor splits the text) in `setup`, before the first step, and a bad line stops the run
with its file and line named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from transformers import Qwen3ASRProcessor

from .audio import SAMPLE_RATE, audio_duration, load_audio
from .manifest import ManifestError, check_units, index_manifest, parse_line, read_at
from .synthetic import SyntheticSpec, make_synthetic_corpus
from .timing import slot_labels

log = logging.getLogger(__name__)


def split_units(processor: Qwen3ASRProcessor, text: str, language: str | None) -> list[str]:
    """The aligner's units for a transcript: the processor's own splitter, used everywhere."""
    return processor.split_words_for_alignment(text, language)


def build_inputs(
    processor: Qwen3ASRProcessor, audios: list[np.ndarray], unit_lists: list[list[str]]
):
    """Processor inputs for a batch from already-split units (the prompt the aligner expects).

    Same conversation as `processor.prepare_forced_aligner_inputs`, but the units come from
    the one split made when the line was read, so labels and prompt can never disagree.
    """
    conversations = [
        [
            {
                "role": "user",
                "content": [
                    {"type": "audio", "audio": audio},
                    *({"type": "text", "text": u} for u in units),
                ],
            }
        ]
        for audio, units in zip(audios, unit_lists, strict=True)
    ]
    return processor.apply_chat_template(
        conversations,
        tokenize=True,
        return_dict=True,
        processor_kwargs={"sampling_rate": SAMPLE_RATE},
    )


@dataclass
class Example:
    key: str  # "manifest:line", so every output can be traced to its input line
    audio: np.ndarray
    units: list[str]
    spans: list[tuple[float, float]]
    language: str | None


class ManifestDataset(Dataset):
    """Random access to a manifest through its byte-offset index."""

    def __init__(self, manifest: str | Path, processor: Qwen3ASRProcessor):
        self.manifest = Path(manifest)
        if not self.manifest.exists():
            raise FileNotFoundError(f"manifest {self.manifest} does not exist")
        self.offsets = index_manifest(self.manifest)
        self.lines: np.ndarray | None = None
        self.processor = processor

    def __len__(self) -> int:
        return len(self.offsets)

    def line_of(self, index: int) -> int:
        if self.lines is None:  # line numbers only matter for messages: count them once, lazily
            with open(self.manifest, "rb") as f:
                starts = [0]
                starts += [i + 1 for i, b in enumerate(f.read()) if b == 10]
            self.lines = np.searchsorted(np.asarray(starts), self.offsets, side="right")
        return int(self.lines[index])

    def __getitem__(self, index: int) -> Example:
        line = self.line_of(index)
        utt = read_at(self.manifest, int(self.offsets[index]), line)
        units = split_units(self.processor, utt.text, utt.language)
        return Example(
            f"{self.manifest.name}:{line}",
            load_audio(utt.audio_path),
            units,
            utt.spans or [],
            utt.language,
        )

    def check(self, require_labels: bool, max_duration: float | None = None) -> None:
        """Read every line before training; raise on the first bad one, naming it."""
        with open(self.manifest, encoding="utf-8") as f:
            for number, raw in enumerate(
                tqdm(f, desc=f"checking {self.manifest.name}", leave=False), start=1
            ):
                if not raw.strip():
                    continue
                utt = parse_line(raw, number, self.manifest)
                if require_labels and not utt.labelled:
                    raise ManifestError(
                        self.manifest,
                        number,
                        "no reference timestamps",
                        "training needs timestamps: pseudo-label the manifest with the base model first",
                    )
                check_units(utt, split_units(self.processor, utt.text, utt.language))
                if not utt.audio_path.exists():
                    raise ManifestError(
                        self.manifest,
                        number,
                        f"audio file {utt.audio_path} does not exist",
                        "paths are relative to the manifest's folder",
                    )
                if max_duration is not None:
                    seconds = (
                        utt.duration if utt.duration is not None else audio_duration(utt.audio_path)
                    )
                    if seconds > max_duration:
                        raise ManifestError(
                            self.manifest,
                            number,
                            f"{seconds:.1f} s of audio, over data.max_duration={max_duration:g}",
                            "cut the recording at word boundaries into shorter lines, or raise data.max_duration",
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
        batch["ref_times"] = [
            torch.tensor([t for s in e.spans for t in s], dtype=torch.float64) for e in examples
        ]
        batch["audio_seconds"] = float(sum(len(e.audio) for e in examples) / SAMPLE_RATE)
        return batch


class AlignDataModule(L.LightningDataModule):
    """Train/val/test manifests -> batches for the aligner.

    `batch_size` counts utterances per device. `synthetic`, when set, makes a small corpus of
    exact-time tone sequences at the manifest paths on first use (the default data).
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
        synthetic: dict | None = None,
        synthetic_dir: str | None = None,
        max_duration: float | None = None,
    ):
        super().__init__()
        self.pretrained, self.revision = pretrained, revision
        self.manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.synthetic = SyntheticSpec(**synthetic) if synthetic else None
        self.synthetic_dir = synthetic_dir
        self.max_duration = max_duration
        self.datasets: dict[str, ManifestDataset] = {}
        self.collator: Collator | None = None

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            make_synthetic_corpus(self.synthetic_dir, self.synthetic)

    def setup(self, stage: str | None = None) -> None:
        if self.collator is None:
            from .modeling import load_processor_and_config

            processor, config = load_processor_and_config(self.pretrained, self.revision)
            self.collator = Collator(
                processor,
                config.timestamp_token_id,
                processor.timestamp_segment_time,
                config.num_labels,
            )
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(
            stage or "", ("train", "val", "test")
        )
        for split in wanted:
            path = self.manifests[split]
            if path and split not in self.datasets:
                dataset = ManifestDataset(path, self.collator.processor)
                dataset.check(require_labels=True, max_duration=self.max_duration)
                self.datasets[split] = dataset

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        if split not in self.datasets:
            raise ValueError(f"no {split} manifest configured (data.{split}_manifest)")
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)


__all__ = ["AlignDataModule", "Collator", "ManifestDataset", "build_inputs", "split_units"]
