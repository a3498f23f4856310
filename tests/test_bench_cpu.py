"""bench/cpu_align.py, the real model on a CPU: its int8 path quantises exactly the text
decoder's linear layers of the model `alignadapt align` loads, and its table says per hour."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from .conftest import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("cpu_align", ROOT / "bench" / "cpu_align.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_int8_path_quantises_the_decoder_linears_only(tiny_dir):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    bench = load_bench()
    fp32 = bench.load_path(str(tiny_dir), "float32")
    int8 = bench.load_path(str(tiny_dir), "int8")
    decoder = int8.core.model.language_model
    linears = [m for m in decoder.modules() if isinstance(m, torch.nn.Linear)]
    quantised = [m for m in decoder.modules() if isinstance(m, DynamicLinear)]
    assert not linears and len(quantised) == 7 * len(decoder.layers)  # q k v o gate up down
    assert not any(isinstance(m, DynamicLinear) for m in int8.core.model.audio_tower.modules())
    assert isinstance(int8.core.score, torch.nn.Linear)  # the head stays fp32
    audio = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    (a,), (b,) = fp32.slot_logits([audio], [["a", "b"]]), int8.slot_logits([audio], [["a", "b"]])
    assert a.shape == b.shape == (4, 200) and torch.isfinite(b).all()


def test_table_gives_minutes_per_hour_and_agreement():
    bench = load_bench()
    speed = {
        "float32": {"audio_s_per_s": 2.0, "peak_rss_gb": 4.04},
        "int8": {"audio_s_per_s": 3.0, "peak_rss_gb": 3.0},
    }
    agree = {
        "float32": {"same_class": 1.0, "within_one_class": 1.0, "aas_ms": 120.4},
        "int8": {"same_class": 0.953, "within_one_class": 0.99, "aas_ms": 121.6},
    }
    lines = bench.table(speed, agree).splitlines()
    assert lines[2] == "| float32 | 2.00 | 30 | 4.0 | (reference) |  | 120 |"
    assert lines[3] == "| int8 (decoder linears, dynamic) | 3.00 | 20 | 3.0 | 95.3% | 99.0% | 122 |"
