"""Pseudo-label a manifest: word timestamps from a model, for recordings that have none.

Usage (every key in conf/pseudo_label.yaml can be overridden):

    # the base model over an unlabelled manifest, on CPU
    python pseudo_label.py manifest=data/unlabelled.jsonl out=data/pseudo.jsonl \
        labeller=Qwen/Qwen3-ForcedAligner-0.6B-hf

    # one GPU; every GPU of the machine (DDP, one shard per rank, merged at the end)
    python pseudo_label.py ... trainer=gpu aligner.dtype=bfloat16 aligner.batch_size=16
    python pseudo_label.py ... trainer=ddp

    # keep only confident lines (the others go to <out>.rejected.jsonl)
    python pseudo_label.py ... aligner.min_confidence=0.3 low_confidence=drop

Killed or stopped, the same command finishes the remaining lines (results so far are in
<out>.parts/); the output then has every input line exactly once, as an uninterrupted run.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from alignadapt.inference.pseudo import pseudo_label
from alignadapt.tasks import run_main, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="pseudo_label")
def main(cfg: DictConfig) -> None:
    run_task(pseudo_label, cfg)


if __name__ == "__main__":
    run_main(main, "pseudo_label")
