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
    python train.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt

Writes into the run folder: checkpoints/ (last.ckpt and the best two by val/aas_ms, adapter
weights and optimizer state only), adapter/ (peft save_pretrained), csv/ or wandb/ logs.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from alignadapt.config import instantiate_group, model_kwargs
from alignadapt.module import AlignerModule

log = logging.getLogger("alignadapt.train")


def train(cfg: DictConfig) -> tuple[dict[str, float], Path]:
    """Fit, test the best checkpoint, save the adapter; returns the metrics and the run folder."""
    L.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)

    module_cfg = model_kwargs(cfg.model)
    module: AlignerModule = instantiate(
        module_cfg, lora=OmegaConf.to_container(cfg.lora, resolve=True), _convert_="all"
    )
    datamodule = instantiate(cfg.data)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:  # the resolved config and the code version, with every run
        logger.log_hyperparams(
            {**OmegaConf.to_container(cfg, resolve=True), "git_commit": git_commit()}
        )

    if cfg.train:
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True
        )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test") and cfg.data.get("test_manifest"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})

    if trainer.is_global_zero and not cfg.trainer.get("fast_dev_run"):
        # The weights in memory are those of the best checkpoint when a test ran, else the last step.
        adapter_dir = module.save_adapter(out_dir / "adapter")
        log.info("adapter saved to %s", adapter_dir)
        if cfg.get("log_adapter"):
            log_adapter_artifact(loggers, adapter_dir)
    return metrics, out_dir


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def log_adapter_artifact(loggers: list, adapter_dir: Path) -> None:
    """The adapter as a W&B artifact, through the run (WandbLogger refuses log_model offline)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            artifact = wandb.Artifact(f"adapter-{logger.experiment.id}", type="model")
            artifact.add_dir(str(adapter_dir))
            logger.experiment.log_artifact(artifact)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics, _ = train(cfg)
    finally:
        import wandb  # close the W&B run even when training fails, so it is not left "running"

        if wandb.run is not None:
            wandb.finish()
    metric = cfg.get("optimized_metric")
    return metrics.get(metric) if metric else None


if __name__ == "__main__":
    main()
