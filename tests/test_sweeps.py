"""Hydra multirun grids (the offline sweep path) and the W&B sweep file."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from .conftest import ROOT, compose_train


@pytest.mark.slow
def test_two_job_multirun_on_the_tiny_model(tmp_path):
    env = dict(os.environ, ALIGNADAPT_ROOT=str(tmp_path), WANDB_MODE="offline")
    cmd = [
        sys.executable, str(ROOT / "train.py"), "-m", "lora.r=4,8", "model=tiny", "trainer=cpu",
        "trainer.max_epochs=-1", "trainer.max_steps=2", "trainer.val_check_interval=2",
        "trainer.check_val_every_n_epoch=null", "trainer.enable_progress_bar=false",
        "data.num_workers=0", "test=false",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]  # each trial in its own folder
    ranks = [json.loads((job / "adapter" / "adapter_config.json").read_text())["r"] for job in jobs]
    assert ranks == [4, 8]
    assert all((job / "checkpoints" / "last.ckpt").exists() for job in jobs)


def test_wandb_sweep_file_overrides_are_valid_hydra_overrides(tmp_path, shared_dir):
    sweep = yaml.safe_load((ROOT / "sweeps" / "wandb_bayes.yaml").read_text())
    assert sweep["program"] == "train.py" and sweep["metric"] == {
        "name": "val/aas_ms",
        "goal": "minimize",
    }
    assert "${args_no_hyphens}" in sweep["command"]
    first = {
        k: (v["values"][0] if "values" in v else v["min"]) for k, v in sweep["parameters"].items()
    }
    overrides = [f"{k}={v}" for k, v in first.items()]
    cfg = compose_train(overrides, tmp_path, shared_dir)
    assert cfg.lora.name == first["lora"] and cfg.lora.r == first["lora.r"]
    assert cfg.model.optimizer.lr == first["model.optimizer.lr"]
