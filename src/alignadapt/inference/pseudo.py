"""Pseudo-labelling: timestamps for an unlabelled manifest, resumable, on one device or many.

Lines are cut into fixed groups (`batch_size` lines of similar length, decided from the
manifest alone: inference/batching.py); a group is one batch of Lightning's predict loop, so
a line is always aligned in the same batch whether the run was interrupted or not, and the
output is exactly that of an uninterrupted run. Every
rank appends its results to its own shard, `<out>.parts/rank<R>.jsonl`, one JSON line per
input line, keyed by the input line number. On start, the shards are read (a half-written
last line is ignored and cut off), and only groups with a missing line run again. At the
end the shards are merged in input order, each line once: the copies a distributed sampler
pads with are dropped by their key. The input manifest is only read.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from ..data.manifest import ManifestError, index_manifest, read_at, to_record, write_jsonl
from ..tasks import TaskResult
from .aligner import Aligner, AlignerSettings
from .batching import length_sorted_batches, recording_seconds
from .service import AlignRequest, prepare

log = logging.getLogger(__name__)


def line_numbers(manifest: Path) -> list[tuple[int, int]]:
    """(line number, byte offset) of every non-blank line."""
    offsets = index_manifest(manifest)
    with open(manifest, "rb") as f:
        data = f.read()
    starts = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    lines = np.searchsorted(np.concatenate([[0], starts]), offsets, side="right")
    return [(int(n), int(o)) for n, o in zip(lines, offsets, strict=True)]


def read_shards(parts_dir: Path) -> dict[int, dict]:
    """Results by input line from every shard; a line that does not parse (cut by a kill) is
    ignored. Duplicates (sampler padding, a group re-run after a kill) keep the first copy."""
    done: dict[int, dict] = {}
    for shard in sorted(parts_dir.glob("rank*.jsonl")):
        with open(shard, encoding="utf-8") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if raw.endswith("\n"):
                    done.setdefault(int(entry["line"]), entry)
    return done


def cut_partial_line(path: Path) -> None:
    """Drop a last line that has no newline (the process was killed while writing it)."""
    if not path.exists():
        return
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)


class LineGroups(Dataset):
    """One item = one fixed group of input lines, prepared for the aligner in a worker: read,
    split into units, and decoded when one call holds them (a longer recording stays on disk
    and is read piece by piece when aligned). A line that fails carries its error instead."""

    def __init__(self, manifest: Path, groups: list[list[tuple[int, int]]], aligner: Aligner):
        self.manifest, self.groups = manifest, groups
        self.processor, self.window = aligner.processor, aligner.window_s

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> list[dict]:
        items = []
        for line, offset in self.groups[index]:
            try:
                utt = read_at(self.manifest, offset, line)
                prepared = prepare(AlignRequest.of(utt), self.processor, self.window)
                items.append({"line": line, "utt": utt, "prepared": prepared})
            except (ManifestError, ValueError, OSError) as err:
                items.append({"line": line, "error": str(err)})
        return items


def keep_as_is(batch: Any) -> Any:
    return batch


class PseudoLabeller(L.LightningModule):
    """Predict step: align a group, build each line's record in the richer manifest form."""

    def __init__(self, aligner: Aligner, out_dir: Path):
        super().__init__()
        self.aligner = aligner
        self.model = aligner.model  # registered, so Lightning moves it to the device
        self.out_dir = out_dir

    def predict_step(self, batch: list[dict], batch_idx: int = 0) -> list[dict]:
        good = [b for b in batch if "error" not in b]
        out = [{"line": b["line"], "error": b["error"]} for b in batch if "error" in b]
        for i, result in self.aligner.align_many([b["prepared"] for b in good]):
            utt = good[i]["utt"]
            utt.spans = [(float(s), float(e)) for s, e in result.decoded.spans]
            utt.duration = result.duration
            record = to_record(utt, result.units, relative_to=self.out_dir)
            for word, c in zip(record["words"], result.word_confidence, strict=True):
                word["confidence"] = round(float(c), 4)
            record["alignment"] = result.provenance()
            out.append({"line": good[i]["line"], "record": record})
        return sorted(out, key=lambda x: x["line"])


class ShardWriter(Callback):
    """Each rank appends its results to its own shard, flushed after every batch.

    A plain callback rather than Lightning's BasePredictionWriter: the results carry their
    input line, so the batch indices that writer asks Lightning for (and warns it cannot
    infer from a batch-less loader) are not needed."""

    def __init__(self, parts_dir: Path):
        super().__init__()
        self.parts_dir = parts_dir

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.path = self.parts_dir / f"rank{trainer.global_rank}.jsonl"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        cut_partial_line(self.path)

    def on_predict_batch_end(
        self, trainer, pl_module, prediction, batch, batch_idx, dataloader_idx=0
    ) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for entry in prediction:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


@dataclass
class Plan:
    lines: list[tuple[int, int]]
    todo: list[list[tuple[int, int]]]  # groups with at least one line still missing
    done: int  # lines already in the shards


def line_seconds(manifest: Path, offset: int, line: int) -> float:
    """A line's recording length for grouping (0 for a line that does not parse: it fails
    again, with its reason, when its group runs)."""
    try:
        utt = read_at(manifest, offset, line)
    except (ManifestError, UnicodeDecodeError):
        return 0.0
    return recording_seconds(utt.audio_path, utt.duration)


def plan(manifest: Path, parts_dir: Path, batch_size: int) -> Plan:
    """Fixed groups of `batch_size` lines of similar length (shortest first, ties by line:
    the same groups on every run of the same manifest), and which of them still have work."""
    lines = line_numbers(manifest)
    lengths = [line_seconds(manifest, offset, line) for line, offset in lines]
    groups = [[lines[i] for i in b] for b in length_sorted_batches(lengths, batch_size)]
    done = read_shards(parts_dir) if parts_dir.exists() else {}
    todo = [g for g in groups if any(line not in done for line, _ in g)]
    return Plan(lines, todo, sum(line in done for line, _ in lines))


def parts_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def loader(manifest: Path, todo: list, aligner: Aligner, num_workers: int) -> DataLoader:
    return DataLoader(
        LineGroups(manifest, todo, aligner),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=keep_as_is,
    )


def merge(manifest: Path, out: Path, low_confidence: str, force: bool) -> dict[str, int]:
    """Shards -> the output manifest in input order, each line once; dropped and failed lines
    go to `<out>.rejected.jsonl` with the reason. Removes the shards afterwards."""
    parts_dir = parts_dir_for(out)
    done = read_shards(parts_dir)
    lines = line_numbers(manifest)
    missing = [line for line, _ in lines if line not in done]
    if missing:
        raise RuntimeError(
            f"{len(missing)} line(s) have no result yet (e.g. line {missing[0]}); run again to finish"
        )
    kept, rejected = [], []
    for line, _ in lines:
        entry = done[line]
        if "error" in entry:
            rejected.append({"line": line, "reason": entry["error"]})
            log.warning("%s:%d: not labelled: %s", manifest, line, entry["error"])
        elif entry["record"]["alignment"]["low_confidence"] and low_confidence == "drop":
            conf = entry["record"]["alignment"]["confidence"]
            rejected.append(
                {"line": line, "reason": f"low confidence {conf}", "record": entry["record"]}
            )
        else:
            kept.append(entry["record"])
    write_jsonl(out, kept, force=force)
    rejects = out.with_name(out.name + ".rejected.jsonl")
    if rejected:
        write_jsonl(rejects, rejected, force=True)
    for shard in parts_dir.glob("rank*.jsonl"):
        shard.unlink()
    parts_dir.rmdir()
    flagged = sum(r["alignment"]["low_confidence"] for r in kept)
    return {
        "lines": len(lines),
        "written": len(kept),
        "flagged": flagged,
        "rejected": len(rejected),
    }


def pseudo_label(cfg) -> TaskResult:
    """The pseudo_label.py task: label what is left, merge when everything is (on rank 0)."""
    from hydra.utils import instantiate

    manifest, out = Path(cfg.manifest), Path(cfg.out)
    if not manifest.exists():
        raise FileNotFoundError(f"manifest {manifest} does not exist")
    if out.exists() and not cfg.force:
        raise FileExistsError(f"{out} exists; pass force=true to replace it")
    if cfg.low_confidence not in ("flag", "drop"):
        raise ValueError(f"low_confidence must be flag or drop, not {cfg.low_confidence!r}")
    settings = AlignerSettings.from_config(cfg.aligner)
    parts = parts_dir_for(out)
    work = plan(manifest, parts, settings.batch_size)
    print(f"{manifest}: {len(work.lines)} lines, {work.done} already labelled in {parts}")
    from ..model.reference import read_reference

    # read once (a checkpoint with its weights); its resolved source names it in every line
    labeller = read_reference(cfg.labeller, cfg.base)
    aligner = Aligner.load(labeller, settings=settings, label=labeller.source)
    module = PseudoLabeller(aligner, out.parent)
    trainer = instantiate(cfg.trainer, callbacks=[ShardWriter(parts)])
    if work.todo:
        data = loader(manifest, work.todo, aligner, cfg.num_workers)
        trainer.predict(module, dataloaders=data, return_predictions=False)
    if trainer.world_size > 1:
        trainer.strategy.barrier()
    if not trainer.is_global_zero:
        return TaskResult()
    counts = merge(manifest, out, cfg.low_confidence, cfg.force)
    print(
        f"{out}: {counts['written']} of {counts['lines']} lines written, {counts['flagged']} flagged "
        f"low-confidence, {counts['rejected']} rejected"
    )
    outputs = {"labelled manifest": out}
    if counts["rejected"]:
        outputs["rejected lines"] = out.with_name(out.name + ".rejected.jsonl")
    return TaskResult({k: float(v) for k, v in counts.items()}, outputs)
