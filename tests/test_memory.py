"""The memory planner: its per-token figure agrees with what autograd keeps on a deeper model,
and `alignadapt memory` prints the table from (cached) measurements."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from alignadapt.cli import main
from alignadapt.model.architecture import REAL_PARAMETERS, real_config
from alignadapt.model.lora import LoraSpec
from alignadapt.model.timing import longest_item
from alignadapt.training import memory

from .conftest import ROOT, compose_train


@pytest.mark.slow
def test_per_token_figure_predicts_what_a_three_layer_model_keeps():
    """Measured at 1-2 layers and 2-4 s, predicted for 3 decoder layers and a 6 s piece."""
    spec = LoraSpec(name="decoder_attn")
    m = memory.measure(spec, "bf16", lengths=(2.0, 4.0), checkpointing_too=False)
    # bf16 autocast, LoRA on attention: ~80 KiB per token per layer (fp32 casts in the norms,
    # the head and peft), twice the 40 KB the first estimates assumed
    assert 70 * 1024 < m.decoder_per_token_layer < 90 * 1024
    assert m.decoder_per_token_layer == pytest.approx(RECORDED.decoder_per_token_layer, rel=0.10)
    processor = memory.measuring_processor()
    dtype, autocast = memory.PRECISIONS["bf16"]
    measured = {}
    for layers in (1, 3):
        net = memory.lora_model(layers, 1, processor, spec, dtype, checkpointing=False)
        measured[layers], tokens = memory.saved_bytes(net, processor, 6.0, dtype, autocast)
    predicted = 2 * (m.decoder_per_layer + m.decoder_per_token_layer * tokens)
    assert measured[3] - measured[1] == pytest.approx(predicted, rel=0.10)
    whole = (
        m.fixed
        + m.fixed_per_second * 6
        + 3 * (m.decoder_per_layer + m.decoder_per_token_layer * tokens)
    )
    whole += m.audio_per_layer + m.audio_per_second_layer * 6
    assert measured[3] == pytest.approx(whole, rel=0.10)


def test_plan_fits_the_card_with_headroom_and_grows_with_it():
    m = memory.Measured(
        decoder_per_token_layer=80 * 1024,
        checkpointed_per_token_layer=2048,
        checkpointed_audio_per_second_layer=26624,
        decoder_per_layer=0,
        audio_per_second_layer=0,
        audio_per_layer=0,
        fixed_per_second=0,
        fixed=0,
        conv_per_second=12_288_000,
        infer_per_token_layer=24576,
        trainable=2_293_760,
        weight_bytes=2,
        trained_bytes=4 * 2_293_760,
    )
    plans = {gb: memory.plan(m, gb, checkpointing=False) for gb in (16, 80)}
    for gb, p in plans.items():
        budget = gb * 1e9 * 0.9
        if p["train_batch"]:
            assert m.training_peak(p["train_batch"], 180.0, False) <= budget
        assert m.training_peak(p["train_batch"] + 1, 180.0, False) > budget
    assert plans[80]["train_batch"] > plans[16]["train_batch"]
    assert memory.plan(m, 16, checkpointing=True)["train_batch"] > plans[16]["train_batch"]


def test_memory_command_prints_the_table_from_cached_measurements(tmp_path, capsys):
    spec = LoraSpec(name="decoder_attn")
    figures = dict(
        decoder_per_token_layer=82152.0,
        checkpointed_per_token_layer=2048.0,
        checkpointed_audio_per_second_layer=26624.0,
        decoder_per_layer=163840.0,
        audio_per_second_layer=0.0,
        audio_per_layer=0.0,
        fixed_per_second=0.0,
        fixed=0.0,
        conv_per_second=12288000.0,
        infer_per_token_layer=24576.0,
        trainable=2293760,
        weight_bytes=2,
        trained_bytes=4 * 2293760,
    )
    key = f"{spec.name}-r{spec.r}-bf16-torch{torch.__version__}-v2.json"
    (tmp_path / key).write_text(json.dumps(figures))
    args = ["memory", "--presets", "decoder_attn", "--precisions", "bf16", "--cache", str(tmp_path)]
    assert main([*args, "--cards", "16", "80"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("| decoder_attn")]
    assert len(rows) == 2  # checkpointing off and on
    m = memory.Measured(**figures)
    for row, ckpt in zip(rows, (False, True), strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        expected = [memory.plan(m, gb, ckpt) for gb in (16, 80)]
        assert cells[:4] == [
            "decoder_attn",
            "bf16",
            "on" if ckpt else "off",
            f"{figures['decoder_per_token_layer' if not ckpt else 'checkpointed_per_token_layer'] / 1024:.1f}",
        ]
        assert cells[4:] == [
            f"{p['train_longest_s']:.0f} / {p['train_batch']} / {p['eval_batch']}" for p in expected
        ]
    assert asdict(m) == figures


# What `alignadapt memory` measured for the default preset in bf16 (torch 2.11, this CPU); the
# slow test above checks a fresh measurement still agrees.
RECORDED = memory.Measured(
    **json.loads((ROOT / "tests" / "fixtures" / "memory" / "decoder_attn_bf16.json").read_text())
)


@pytest.mark.parametrize(
    ("experiment", "card_gb"), [("qwen3_16gb", 16), ("medical_lora", 24), ("qwen3_80gb", 80)]
)
def test_each_real_model_experiment_fits_its_card(experiment, card_gb, tmp_path, shared_dir):
    cfg = compose_train([f"experiment={experiment}"], tmp_path, shared_dir)
    assert cfg.lora.name == "decoder_attn" and cfg.model.dtype == "bfloat16"
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.data.max_duration is None  # the model's longest call, derived at setup:
    config = real_config()
    seconds = longest_item(config.num_labels, config.timestamp_segment_time)
    assert seconds == 180.0  # the official aligner's longest call
    assert (
        cfg.data.batch_size * cfg.trainer.accumulate_grad_batches == 8
    )  # the reference global batch
    budget = card_gb * 1e9 * (1 - memory.HEADROOM)
    ckpt = cfg.model.gradient_checkpointing
    assert RECORDED.training_peak(cfg.data.batch_size, seconds, ckpt) <= budget
    assert RECORDED.evaluation_peak(cfg.data.eval_batch_size, seconds) <= budget


@pytest.mark.parametrize(
    ("preset", "bytes_per_trained"), [("none", 8), ("decoder_attn_head", None)]
)
def test_training_state_is_what_adamw_keeps_after_a_step(preset, bytes_per_trained):
    """bf16 weights, real width (1 + 1 layers): after a step, each trained parameter holds its
    weight, gradient and AdamW's two moments in its own dtype, 8 bytes for a bf16 parameter
    (full fine-tuning), 16 for an fp32 one (peft's LoRA weights): the planner's 4 copies."""
    from alignadapt.model.prompt import slot_logits, unwrap

    processor = memory.measuring_processor()
    spec = memory.preset_spec(preset)
    net = memory.lora_model(1, 1, processor, spec, torch.bfloat16, checkpointing=False)
    trained = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5, foreach=True)  # CUDA's default path
    inputs, targets = memory.probe(processor, 2.0, torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = slot_logits(net, inputs, unwrap(net).config.timestamp_token_id, dropout=True)
    torch.nn.functional.cross_entropy(logits.float(), targets).backward()
    optimizer.step()
    kept = sum(
        p.nbytes
        + p.grad.nbytes
        + sum(t.nbytes for k, t in optimizer.state[p].items() if k != "step")
        for p in trained
    )
    one_copy = sum(p.numel() * p.element_size() for p in trained)
    assert kept == 4 * one_copy
    if bytes_per_trained is not None:
        assert kept == bytes_per_trained * sum(p.numel() for p in trained)
    # the planner's figure for the full-depth model counts the same dtypes
    count, full = memory.trained_parameters(spec, torch.bfloat16)
    if preset == "none":
        assert (count, full) == (REAL_PARAMETERS, 2 * REAL_PARAMETERS)
    else:  # fp32 LoRA on the decoder's attention, the bf16 head (1024 x 5000 + 5000)
        assert (count, full) == (7_413_760, 4 * 2_293_760 + 2 * 5_120_000)


def test_full_fine_tuning_in_bf16_plans_8_bytes_per_parameter():
    """The `none` preset in bf16 was planned at 16 bytes a parameter, 7.3 GB too much."""
    m = memory.Measured(
        **{**asdict(RECORDED), "trainable": REAL_PARAMETERS, "trained_bytes": 2 * REAL_PARAMETERS}
    )
    assert m.training_state() == 8 * REAL_PARAMETERS  # 7.34 GB, no frozen weights
    old = 16 * REAL_PARAMETERS
    assert (old - m.training_state()) / 1e9 == pytest.approx(7.34, abs=0.01)
    saved = m.saved(1, 30.0, False) + m.conv_per_second * 30.0
    assert m.training_peak(1, 30.0, False) == memory.CUDA_CONTEXT + 8 * REAL_PARAMETERS + saved
