"""`make gpu-check`: loud without CUDA, and the whole check run on CPU (`--quick`) on the reduced
real-width model, so that a lent GPU is never spent finding a bug: what autograd keeps matches
the memory planner within 10% at every piece length, and each real-model experiment trains at
its configured batch, validates, and reloads its adapter with the same logits."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_gpu_check_without_cuda_fails_with_what_to_install():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        ["make", "-s", "gpu-check", f"BIN={bin_dir}", "PYTHON=python3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "gpu-check needs a CUDA device, and torch 2.11.0" in done.stderr
    assert "This torch is built for CUDA 13.0, which needs an NVIDIA driver 580 or newer" in (
        done.stderr
    )
    assert "--quick" in done.stderr


def test_an_old_driver_gets_the_build_that_runs_on_it(monkeypatch):
    builds = load("cuda_builds")
    assert builds.index_for_driver("580.159.04") is None  # PyPI's CUDA 13.0 wheel
    assert builds.index_for_driver("575.51.03") == "https://download.pytorch.org/whl/cu128"
    assert builds.index_for_driver("550.54.15") == "https://download.pytorch.org/whl/cu126"
    assert builds.index_for_driver("470.256.02") == "https://download.pytorch.org/whl/cpu"
    assert builds.index_for_driver(None) is None
    assert (builds.needed_driver("13.0"), builds.needed_driver("12.8")) == (580, 570)
    gpu_check = load("gpu_check")
    monkeypatch.setattr(gpu_check.cuda_builds, "driver_version", lambda: "550.54.15")
    message = gpu_check.no_cuda_message()
    assert "This machine's driver is 550.54.15 (nvidia-smi)." in message
    assert (
        "rm -rf .venv && make install TORCH_INDEX=https://download.pytorch.org/whl/cu126" in message
    )


def test_the_cards_peak_flops_come_from_its_name():
    gpu_check = load("gpu_check")
    assert gpu_check.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_check.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_check.peak_tflops("NVIDIA H200") == 989.0
    assert gpu_check.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_check.peak_tflops("NVIDIA L40S") == 362.0
    assert gpu_check.peak_tflops("NVIDIA L4") == 121.0
    assert gpu_check.peak_tflops("NVIDIA A10") == 125.0
    assert gpu_check.peak_tflops("Tesla T4") is None  # no bf16: MFU prints "-"


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_memory_matches_the_planner(tmp_path, capsys):
    gpu_check = load("gpu_check")
    out = tmp_path / "out"
    argv = ["--quick", "--presets", "decoder_attn", "decoder_audio", "--steps", "2"]
    report = gpu_check.main([*argv, "--out", str(out), "--work", str(tmp_path / "work")])
    printed = capsys.readouterr().out
    markdown = (out / "gpu_check.md").read_text()
    assert markdown.strip() in printed  # the README's table is the file, as printed
    assert json.loads((out / "gpu_check.json").read_text()) == json.loads(json.dumps(report))
    assert "| decoder_attn | 0.08 M |" in markdown and "| decoder_audio | 0.23 M |" in markdown
    assert "bf16 inference (Aligner, SDPA, length-sorted batches of 8):" in markdown
    for preset in report["presets"]:
        assert [s for s, _, _ in preset["rows"]] == [2.0, 6.0, 9.0]
        for seconds, measured, planned in preset["rows"]:
            assert measured == pytest.approx(planned, rel=0.10), (preset["preset"], seconds)
        assert preset["audio_s_per_s"] > 0
    # each experiment at its configured batch, accumulation and checkpointing
    got = {
        r["experiment"]: (r["batch"], r["accumulate"], r["checkpointing"], r["eval_batch"])
        for r in report["experiments"]
    }
    assert got == {
        "medical_lora": (4, 2, True, 8),
        "qwen3_16gb": (2, 4, True, 4),
        "qwen3_80gb": (4, 2, False, 16),
    }
    for row in report["experiments"]:
        assert row["val_aas_ms"] is not None  # the validation pass ran
        assert row["adapter_logit_diff"] <= 1e-3  # reloaded adapter, same logits
        assert 0 < row["padding"] < 0.5 and row["padded_s"] <= 6.0  # real padding
        assert row["train_planner_gb"] > 0 and row["s_per_batch"] > 0
        assert f"| {row['experiment']} | {row['batch']} x {row['accumulate']} |" in markdown
    assert report["problems"] == [] and report["quick"] is True
