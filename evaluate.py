"""Prove the gain: the base model against adapted models on a held-out manifest.

Usage (every key in conf/evaluate.yaml can be overridden on the command line):

    # the adapter a train.py run saved, against the base it was trained on
    python evaluate.py manifest=data/demo/domain_test.jsonl \
        models.adapted=logs/train/runs/<run>/adapter

    # several models (adapter dir, merged export, checkpoint), both decodings, domain terms
    python evaluate.py manifest=test.jsonl base=Qwen/Qwen3-ForcedAligner-0.6B-hf \
        models.adapted=runs/a/adapter +models.merged=exports/merged \
        +models.step200=runs/a/checkpoints/step000200-aas41.3.ckpt \
        'aligner.decodings=[argmax,subclass]' 'terms=[dyspnoea,tachycardia]' \
        aligner.device=cuda aligner.dtype=bfloat16

    # W&B (offline unless WANDB_MODE=online)
    python evaluate.py manifest=test.jsonl models.adapted=... logger=wandb

Writes one folder (logs/evaluate/runs/<date>_<time>/ or out_dir=...): metrics.json,
table.txt (also printed), words.csv and plots/ (error distribution, error by position in
the utterance, timelines of the worst utterances).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from alignadapt.evaluation.run import evaluate
from alignadapt.tasks import run_main, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_task(evaluate, cfg)


if __name__ == "__main__":
    run_main(main, "evaluate")
