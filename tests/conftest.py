"""Shared fixtures: one tiny aligner and one synthetic corpus per test session, both built
on the fly (no download), and a composer for the real Hydra config pointed at tmp folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from alignadapt.demo.synthetic import SyntheticSpec, make_synthetic_corpus
from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
from alignadapt.tasks import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="session", autouse=True)
def index_cache_dir(tmp_path_factory) -> Path:
    """Checked manifest indexes go to a folder of this session, never the user's cache."""
    path = tmp_path_factory.mktemp("alignadapt-cache")
    os.environ["ALIGNADAPT_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_dir(shared_dir) -> Path:
    return build_tiny_aligner(shared_dir / "cache" / "tiny-aligner", TinySpec())


@pytest.fixture(scope="session")
def corpus(shared_dir) -> dict[str, Path]:
    return make_synthetic_corpus(shared_dir / "data" / "synthetic", SyntheticSpec())


@pytest.fixture(scope="session")
def processor(tiny_dir):
    from transformers import Qwen3ASRProcessor

    return Qwen3ASRProcessor.from_pretrained(tiny_dir)


def compose_train(
    overrides: list[str], out_dir: Path, shared: Path, config_name: str = "train"
) -> DictConfig:
    """The real config as `python train.py ...` would see it, writing into `out_dir`."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.data_dir = str(shared / "data")
        cfg.paths.cache_dir = str(shared / "cache")
        cfg.paths.log_dir = str(out_dir / "logs")
    return cfg


@pytest.fixture
def make_cfg(tmp_path, shared_dir, tiny_dir, corpus):
    """compose(overrides) -> config of a fast CPU run on the tiny model and synthetic data."""

    def _make(overrides: list[str] = (), out: Path | None = None) -> DictConfig:
        base = [
            "model=tiny",
            "trainer=cpu",
            "data=synthetic",
            "data.num_workers=0",
            "logger=csv",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
        ]
        return compose_train([*base, *overrides], out or tmp_path / "run", shared_dir)

    return _make
