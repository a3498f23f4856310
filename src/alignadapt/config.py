"""Glue between Hydra configs and objects: resolvers, model sources, loggers, callbacks."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .tiny import TinySpec, build_tiny_aligner

log = logging.getLogger(__name__)


def _wandb_offline() -> bool:
    # WandbLogger(offline=True) overrides WANDB_MODE, so the default must come from it.
    return os.environ.get("WANDB_MODE", "offline").lower() not in ("online", "run")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", _wandb_offline)


register_resolvers()


def model_kwargs(model_cfg: DictConfig) -> dict[str, Any]:
    """The LightningModule's config, building the tiny model first when the config asks for it."""
    container = OmegaConf.to_container(model_cfg, resolve=True)
    build = container.pop("build_tiny", None)
    if build is not None and not Path(container["pretrained"]).exists():
        log.info("building the tiny aligner in %s", container["pretrained"])
        build_tiny_aligner(container["pretrained"], TinySpec(**build))
    return container


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Every `_target_` entry of a callbacks or logger group (None or {} gives none)."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]
