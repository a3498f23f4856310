"""Callbacks train.py adds by itself: a progress bar that counts steps in step-based runs, and
Ctrl-C that loses nothing (a checkpoint at the interrupted step and the exact resume command);
and the checkpoint callback of conf/callbacks/default.yaml, whose last.ckpt is always the last.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar, TQDMProgressBar

from ..data.datamodule import AlignDataModule


class Checkpoints(ModelCheckpoint):
    """ModelCheckpoint whose `last.ckpt` is written at every save point.

    Lightning 2.6 writes last.ckpt only at a step where a top-k checkpoint was also saved, so
    once validation stops improving, last.ckpt stays at the best step and `ckpt_path=last`
    silently resumes from there (seen: a pretraining run resumed at step 700 of 1,500).
    """

    _last_written_step = -1

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        super()._save_topk_checkpoint(trainer, monitor_candidates)
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, monitor_candidates)

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        if self._last_written_step == trainer.global_step:  # written at this step already
            return
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_written_step = trainer.global_step


def _step_description(trainer: L.Trainer) -> str | None:
    """'step 120/500' for a run bounded by max_steps and not by epochs, else None."""
    if trainer.max_steps is not None and trainer.max_steps > 0 and trainer.max_epochs in (None, -1):
        return f"step {trainer.global_step}/{trainer.max_steps}"
    return None


def _without_version(metrics: dict) -> dict:
    metrics.pop("v_num", None)  # the logger's run id: in the run folder's name already
    return metrics


class StepRichProgressBar(RichProgressBar):
    """Lightning's bar says `Epoch 2/-2` when max_epochs=-1; a step-based run shows its steps."""

    def get_metrics(self, trainer, pl_module) -> dict:
        return _without_version(super().get_metrics(trainer, pl_module))

    def _get_train_description(self, current_epoch: int) -> str:
        return _step_description(self.trainer) or super()._get_train_description(current_epoch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        description = _step_description(trainer)
        if description and self.progress is not None and self.train_progress_bar_id is not None:
            self.progress.update(self.train_progress_bar_id, description=description)


class StepTQDMProgressBar(TQDMProgressBar):
    """The same for the tqdm bar (used when rich is not installed)."""

    def get_metrics(self, trainer, pl_module) -> dict:
        return _without_version(super().get_metrics(trainer, pl_module))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        description = _step_description(trainer)
        if description:
            self.train_progress_bar.set_description(description)


def progress_bar() -> Callback:
    """The rich bar when rich is importable (Lightning's own choice), else tqdm."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return StepTQDMProgressBar()
    return StepRichProgressBar()


def launch_overrides() -> list[str]:
    """The command-line overrides this run was started with ([] outside @hydra.main)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not under @hydra.main (tests, notebooks): the overrides are unknown
        return []


def resume_command(run_dir: Path, checkpoint: Path) -> str:
    """The command that continues this run in the same folder from `checkpoint`: the script and
    the overrides it was started with, minus any earlier ckpt_path/hydra.run.dir."""
    overrides = launch_overrides()
    keep = [o for o in overrides if not o.lstrip("+~").startswith(("ckpt_path=", "hydra.run.dir="))]
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0].endswith(".py") else "train.py"
    words = ["python", script, *keep, f"hydra.run.dir={run_dir}", f"ckpt_path={checkpoint}"]
    return " ".join(shlex.quote(w) for w in words)


def rewind_unfinished_batch(trainer: L.Trainer) -> None:
    """Make the batch progress say the interrupted batch never began.

    Interrupted inside a batch (the usual case: forward or backward), Lightning's counters
    say that batch was fetched and started but not processed. Saved as they are, a resumed run
    counts that batch as done in its total (validation and logging steps come one batch early)
    and credits it with an optimizer step. The batch did not step, so the checkpoint records
    the state after the last finished batch; the resumed run trains the interrupted one again.
    """
    progress = trainer.fit_loop.epoch_loop.batch_progress
    for counts in (progress.current, progress.total):
        if counts.processed == counts.completed:  # not inside on_train_batch_end
            counts.ready = counts.started = counts.completed


class InterruptCheckpoint(Callback):
    """On Ctrl-C (KeyboardInterrupt) or SIGTERM: save `last.ckpt` at the interrupted step and
    print the command that resumes the run in the same folder.

    Lightning catches the interrupt, calls `on_exception`, and exits with status 1. The
    checkpoint holds the step, the optimizer and scheduler state, and the data loader's
    position in the epoch, so the resumed run sees exactly the batches it had not seen yet.
    """

    def __init__(self, dirpath: str | Path, run_dir: str | Path):
        super().__init__()
        self.dirpath, self.run_dir = Path(dirpath), Path(run_dir)
        self.saved: Path | None = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        # Ctrl-C, or a polite kill (SIGTERM: `kill PID`, a scheduler's preemption)
        if not isinstance(exception, KeyboardInterrupt | SIGTERMException):
            return
        if trainer.state.fn != "fit":
            return
        from lightning.pytorch.callbacks import ModelCheckpoint

        path = self.dirpath / "last.ckpt"
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and Path(callback.dirpath) == self.dirpath:
                # recorded as its own last.ckpt, so the resumed run overwrites it (Lightning
                # would otherwise write last-v1.ckpt beside a last.ckpt it did not make)
                callback.last_model_path = str(path)
        rewind_unfinished_batch(trainer)
        trainer.save_checkpoint(path)
        self.saved = path
        if trainer.is_global_zero:
            print(
                f"\ninterrupted at step {trainer.global_step}: saved {path}\n"
                f"resume with:\n  {resume_command(self.run_dir, path)}",
                file=sys.stderr,
                flush=True,
            )

    def state_dict(self) -> dict[str, Any]:
        return {}


class ScheduleCheck(Callback):
    """Before the first step: a run that would never validate, or whose warm-up is longer than
    the run, is adapted with the reason printed (small data met with a big-data recipe).

    - `val_check_interval` (batches) beyond the run's batches: validation moves to the end of
      the run (or of each epoch when Lightning counts per epoch), so a best checkpoint exists;
    - `num_warmup_steps` at or beyond the run's optimizer steps: the learning rate would never
      leave the warm-up (and a cosine decay would end at 0 before it peaked); warm-up becomes a
      tenth of the run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        data = trainer.datamodule
        if stage != "fit" or trainer.fast_dev_run or not isinstance(data, AlignDataModule):
            return
        per_epoch = data.train_batches_per_epoch()  # None: a source streams (shards, demo)
        if not per_epoch:
            return
        if per_epoch < trainer.log_every_n_steps:  # else Lightning warns and logs no step
            trainer.log_every_n_steps = per_epoch
        accumulate = trainer.accumulate_grad_batches
        steps = None
        if trainer.max_epochs not in (None, -1):
            steps = -(-per_epoch // accumulate) * max(trainer.max_epochs, 1)
        if trainer.max_steps not in (None, -1):
            steps = min(steps, trainer.max_steps) if steps is not None else trainer.max_steps
        if steps is None:
            return
        batches = min(steps * accumulate, per_epoch * (trainer.max_epochs or 1))
        if trainer.max_epochs in (None, -1):
            batches = steps * accumulate
        interval = trainer.val_check_interval
        if isinstance(interval, int) and data.has_manifest("val"):
            limit = per_epoch if trainer.check_val_every_n_epoch is not None else batches
            if interval > limit:
                trainer.val_check_interval = limit
                where = (
                    "each epoch's" if trainer.check_val_every_n_epoch is not None else "the run's"
                )
                self.note(
                    f"validation every {interval} batches would never run ({per_epoch} batches an "
                    f"epoch, {steps} optimizer steps in all): validating at {where} last batch "
                    f"({limit}) instead; set trainer.val_check_interval to choose"
                )
        factory = getattr(pl_module, "scheduler_factory", None)
        warmup = getattr(factory, "keywords", {}).get("num_warmup_steps")
        if warmup is not None and warmup >= steps:
            new = max(1, steps // 10) if steps > 1 else 0
            factory.keywords["num_warmup_steps"] = new
            self.note(
                f"warm-up of {warmup} steps is not shorter than the run ({steps} optimizer steps): "
                f"warming up over {new} steps instead; set model.scheduler.num_warmup_steps to choose"
            )

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self.trainer_is_zero:
            print(f"note: {message}", flush=True)

    @property
    def trainer_is_zero(self) -> bool:
        from lightning.pytorch.utilities.rank_zero import rank_zero_only

        return getattr(rank_zero_only, "rank", 0) == 0


class ListeningCheck(Callback):
    """After each validation: a model whose timestamps hardly depend on its audio
    (`val/listening`, the error with the audio withheld over the error with it, under
    `min_ratio`) is reported loudly, and with `stop` the run ends there: training on would
    only polish a guess from the text and the call's length (evaluation/listening.py).

    `after_step`: the first step judged (a fresh model is deaf before it has learned anything).
    """

    def __init__(self, min_ratio: float | None = None, after_step: int = 0, stop: bool = False):
        from ..evaluation.listening import MIN_RATIO

        super().__init__()
        self.min_ratio = MIN_RATIO if min_ratio is None else min_ratio
        self.after_step, self.stop = after_step, stop
        self.failed_at: int | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or "val/listening" not in metrics:
            return
        if trainer.global_step < self.after_step:
            return
        ratio = float(metrics["val/listening"])
        if ratio >= self.min_ratio:
            return
        self.failed_at = trainer.global_step
        aas, deaf = float(metrics["val/aas_ms"]), float(metrics["val/aas_withheld_ms"])
        message = (
            f"NOT LISTENING at step {trainer.global_step}: validation AAS {aas:.0f} ms with the "
            f"audio, {deaf:.0f} ms with another recording's ({ratio:.2f}x, under "
            f"{self.min_ratio}): this model guesses times from the text and the call's length"
        )
        if self.stop:
            trainer.should_stop = True
            message += "; stopping the run (callbacks.listening_check.stop=false trains on)"
        if trainer.is_global_zero:
            print(f"\n{message}\n", file=sys.stderr, flush=True)
