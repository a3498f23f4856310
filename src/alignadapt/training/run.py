"""The train task behind train.py: build everything from the config, fit, test, save the adapter."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..model.card import card_command, model_card, write_card
from ..tasks import TaskResult, instantiate_group
from .callbacks import InterruptCheckpoint, ScheduleCheck, launch_overrides, progress_bar
from .long_validation import LongValidation
from .module import AlignerModule

log = logging.getLogger(__name__)


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> TaskResult:
    """Fit, test the best checkpoint, save the adapter; returns the metrics and the run's paths.
    `extra_callbacks` join the configured ones (bench/gpu_check.py measures steps with one)."""
    L.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)

    module: AlignerModule = instantiate(cfg.model, _convert_="all")
    datamodule = instantiate(cfg.data)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    callbacks = run_callbacks(cfg, [*callbacks, *extra_callbacks], loggers, out_dir)
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

    outputs = {"run": out_dir}
    if trainer.is_global_zero and not cfg.trainer.get("fast_dev_run"):
        # The weights in memory are those of the best checkpoint when a test ran, else the last step.
        outputs["adapter"] = module.save_adapter(out_dir / "adapter")
        write_card(outputs["adapter"], run_card(cfg, module, metrics))
        if cfg.get("log_adapter"):
            log_adapter_artifact(loggers, outputs["adapter"])
    return TaskResult(metrics, outputs)


def run_card(cfg: DictConfig, module: AlignerModule, metrics: dict[str, float]) -> str:
    """The adapter's model card: base, preset, manifests, metrics, the command that made it."""
    data = cfg.data
    return model_card(
        f"alignadapt adapter: {cfg.get('task_name', 'train')}",
        module.pretrained,
        module.lora.name,
        (module.trainable, module.total),
        {s: data.get(f"{s}_manifest") for s in ("train", "val", "test")},
        metrics,
        card_command(launch_overrides()),
        git_commit(),
    )


def run_callbacks(cfg: DictConfig, callbacks: list, loggers: list, out_dir: Path) -> list:
    """The configured callbacks plus what every run gets: the schedule check, the long
    recordings' validation (`val/long_aas_ms`, when the validation manifest has any), a
    checkpoint on Ctrl-C, a step-counting progress bar. Without a logger the learning-rate monitor has
    nowhere to write (Lightning refuses it), so it is left out."""
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar

    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks = [*callbacks, ScheduleCheck()]
    if not cfg.trainer.get("fast_dev_run"):  # long validation recordings, aligned as align does
        callbacks.append(LongValidation())
    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    if checkpoint is not None and checkpoint.dirpath and not cfg.trainer.get("fast_dev_run"):
        callbacks.append(InterruptCheckpoint(checkpoint.dirpath, out_dir))
    bar_on = cfg.trainer.get("enable_progress_bar", True)
    if bar_on and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(progress_bar())
    return callbacks


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
