"""`make gpu-check` without a GPU: the same code on the reduced real-width model, so it cannot
rot; what autograd keeps matches the memory planner within 10% at every piece length."""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_memory_matches_the_planner(capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    results = gpu_check.main(["--quick", "--presets", "decoder_attn", "decoder_audio"])
    out = capsys.readouterr().out
    assert "| decoder_attn | 0.08 M |" in out and "| decoder_audio | 0.23 M |" in out
    assert "bf16 inference (Aligner, SDPA, length-sorted batches of 8):" in out
    for preset, rows, speed in results:
        assert [s for s, _, _ in rows] == [2.0, 6.0, 9.0]
        for seconds, measured, planned in rows:
            assert measured == pytest.approx(planned, rel=0.10), (preset, seconds)
        assert speed > 0
