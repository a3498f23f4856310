"""What every Hydra entry point shares: resolvers, building callback and logger groups, and
the task wrapper that closes loggers and says where the outputs went.

train.py, evaluate.py and pseudo_label.py are a few lines each: `@hydra.main` around
`run_task(body, cfg)`, where the body (`alignadapt.training.run.train`,
`alignadapt.evaluation.run.evaluate`, `alignadapt.inference.pseudo.pseudo_label`) returns a
`TaskResult`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _wandb_offline() -> bool:
    # WandbLogger(offline=True) overrides WANDB_MODE, so the default must come from it.
    return os.environ.get("WANDB_MODE", "offline").lower() not in ("online", "run")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", _wandb_offline)


register_resolvers()


class _DropTips(logging.Filter):
    """Lightning advertises its cloud logger ("💡 Tip: ... litlogger") on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party() -> None:
    """Silence the third-party lines a user cannot act on, each by its exact source and text:
    Lightning's litlogger advertisement (a filter on the one logger that emits it) and
    Lightning's use of torch's deprecated `LeafSpec` (a FutureWarning from Lightning's
    `_pytree` module only). Everything else from those libraries still shows."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in rank_zero.filters):
        rank_zero.addFilter(_DropTips())
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


quiet_third_party()


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Every `_target_` entry of a callbacks or logger group (None or {} gives none)."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


@dataclass
class TaskResult:
    """What a task hands back: its metrics (for sweeps) and the paths a person looks at next."""

    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)  # what -> where


def close_loggers() -> None:
    """Finish the W&B run, if one is open, so a failed task does not leave it "running"."""
    import sys

    wandb = sys.modules.get("wandb")  # imported only if a task used it
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def run_task(body: Callable[[DictConfig], TaskResult | None], cfg: DictConfig) -> TaskResult:
    """Run a task body, close its loggers whatever happens, print where its outputs are."""
    try:
        result = body(cfg) or TaskResult()
    finally:
        close_loggers()
    for what, path in result.outputs.items():
        print(f"{what}: {path}")
    return result
