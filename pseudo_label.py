"""Pseudo-label a manifest: word timestamps from a model, for recordings that have none.

Usage (every key in conf/pseudo_label.yaml can be overridden):

    # the base model over an unlabelled manifest, on CPU
    python pseudo_label.py manifest=data/unlabelled.jsonl out=data/pseudo.jsonl \
        aligner=Qwen/Qwen3-ForcedAligner-0.6B-hf

    # one GPU; every GPU of the machine (DDP, one shard per rank, merged at the end)
    python pseudo_label.py ... trainer=gpu dtype=bfloat16 batch_size=16
    python pseudo_label.py ... trainer=ddp

    # keep only confident lines (the others go to <out>.rejected.jsonl)
    python pseudo_label.py ... min_confidence=0.3 low_confidence=drop

Killed or stopped, the same command finishes the remaining lines (results so far are in
<out>.parts/); the output then has every input line exactly once, as an uninterrupted run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from alignadapt.config import register_resolvers
from alignadapt.inference import Aligner, load_for_inference
from alignadapt.pseudo import PseudoLabeller, ShardWriter, loader, merge, parts_dir_for, plan

log = logging.getLogger("alignadapt.pseudo_label")
register_resolvers()


def pseudo_label(cfg: DictConfig) -> dict[str, int] | None:
    """Label what is left, merge when everything is; returns the merge's counts (rank 0)."""
    manifest, out = Path(cfg.manifest), Path(cfg.out)
    if not manifest.exists():
        raise FileNotFoundError(f"manifest {manifest} does not exist")
    if out.exists() and not cfg.force:
        raise FileExistsError(f"{out} exists; pass force=true to replace it")
    if cfg.low_confidence not in ("flag", "drop"):
        raise ValueError(f"low_confidence must be flag or drop, not {cfg.low_confidence!r}")
    parts = parts_dir_for(out)
    work = plan(manifest, parts, cfg.batch_size)
    print(f"{manifest}: {len(work.lines)} lines, {work.done} already labelled in {parts}")
    model, processor = load_for_inference(cfg.aligner, cfg.base, cfg.dtype)
    aligner = Aligner(
        model, processor, [cfg.decoding], cfg.window, cfg.window_margin, cfg.max_units_per_second
    )
    module = PseudoLabeller(aligner, out.parent, str(cfg.aligner), cfg.min_confidence)
    trainer = instantiate(cfg.trainer, callbacks=[ShardWriter(parts)])
    if work.todo:
        data = loader(manifest, work.todo, processor, cfg.num_workers)
        trainer.predict(module, dataloaders=data, return_predictions=False)
    if trainer.world_size > 1:
        trainer.strategy.barrier()
    if not trainer.is_global_zero:
        return None
    counts = merge(manifest, out, cfg.low_confidence, cfg.force)
    print(
        f"{out}: {counts['written']} of {counts['lines']} lines written, {counts['flagged']} flagged "
        f"low-confidence, {counts['rejected']} rejected"
    )
    return counts


@hydra.main(version_base="1.3", config_path="conf", config_name="pseudo_label")
def main(cfg: DictConfig) -> None:
    pseudo_label(cfg)


if __name__ == "__main__":
    main()
