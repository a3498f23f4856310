"""Fine-tune Qwen3-ForcedAligner with LoRA: Lightning for the loop, Hydra for the configs.

Usage (every key in conf/ can be overridden on the command line):

    # the whole loop on a laptop: tiny model, synthetic data, CPU (about a minute)
    python train.py model=tiny trainer=cpu

    # your data on one GPU, bf16, the real model
    python train.py model=qwen3_fa_0.6b trainer=gpu data=manifest \
        data.train_manifest=train.jsonl data.val_manifest=val.jsonl data.test_manifest=test.jsonl

    # the reference recipe, then every GPU of the machine, then 2 machines (torchrun per node)
    python train.py experiment=medical_lora data.train_manifest=... data.val_manifest=...
    python train.py experiment=medical_lora trainer=ddp
    torchrun --nnodes 2 --nproc-per-node 8 ... train.py experiment=medical_lora trainer=ddp trainer.num_nodes=2

    # other LoRA presets, precision, W&B, a sweep grid, resume
    python train.py lora=decoder_attn_mlp trainer.precision=bf16-mixed logger=wandb
    python train.py -m lora.r=4,8,16
    # resume in the same folder (Ctrl-C prints this command, with the run's own overrides)
    python train.py hydra.run.dir=logs/train/runs/<run> ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt

Writes into the run folder: checkpoints/ (last.ckpt and the best two by val/aas_ms, adapter
weights and optimizer state only), adapter/ (peft save_pretrained and a model card), csv/ or
wandb/ logs, and ends by printing where they are. Paths on the command line are relative to
the current folder; the config's own (models/, data/, logs/) to the project (conf/paths/).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from alignadapt.tasks import run_main, run_task
from alignadapt.training.run import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_task(train, cfg).metrics
    metric = cfg.get("optimized_metric")
    return metrics.get(metric) if metric else None  # what a sweeper minimises


if __name__ == "__main__":
    run_main(main, "train")
