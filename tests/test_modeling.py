import json

import pytest
import torch

from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
from alignadapt.model.architecture import meta_aligner
from alignadapt.model.loading import load_aligner
from alignadapt.model.lora import LoraSpec, apply_lora, count_parameters, target_regex
from alignadapt.model.reference import (
    adapter_metadata,
    check_fits,
    load_model,
    read_reference,
    save_adapter,
)

ATTN = {"decoder": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def lora_names(model):
    return sorted({n.split(".lora_A")[0] for n, _ in model.named_parameters() if ".lora_A." in n})


def test_tiny_model_saves_and_loads_through_the_real_path(tiny_dir):
    files = {p.name for p in tiny_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "processor_config.json",
        "chat_template.jinja",
    } <= files
    model, processor = load_aligner(str(tiny_dir))
    assert type(model).__name__ == "Qwen3ASRForTokenClassification"
    assert model.config.num_labels == 200
    assert (
        processor.tokenizer.convert_tokens_to_ids("<timestamp>") == model.config.timestamp_token_id
    )


def test_tiny_prompt_is_audio_block_then_units_with_two_slots(processor):
    import numpy as np

    inputs, units = processor.prepare_forced_aligner_inputs(
        np.zeros(16000, dtype=np.float32), "Hello, world!"
    )
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert units == [["Hello", "world"]]
    assert (
        text
        == "<|audio_start|>"
        + "<|audio_pad|>" * 13
        + "<|audio_end|>Hello<timestamp><timestamp>world<timestamp><timestamp>"
    )


def test_real_architecture_default_preset_targets_112_modules_and_2293760_parameters():
    model = meta_aligner()
    total = sum(p.numel() for p in model.parameters())
    assert 917.0e6 < total < 918.5e6  # 917.7 M in the released checkpoint
    model.requires_grad_(False)
    peft_model = apply_lora(model, LoraSpec(r=8, alpha=32, dropout=0.1, targets=ATTN))
    names = lora_names(peft_model)
    assert len(names) == 112  # 28 layers x q/k/v/o
    assert all(".language_model.layers." in n for n in names)
    trainable, _ = count_parameters(peft_model)
    assert trainable == 2_293_760


def test_real_architecture_presets_reach_the_towers_they_name():
    model = meta_aligner().requires_grad_(False)
    audio = apply_lora(model, LoraSpec(targets={"decoder": ["q_proj"], "audio": ["q_proj", "fc1"]}))
    names = lora_names(audio)
    assert (
        sum(".audio_tower." in n for n in names) == 48
        and sum(".language_model." in n for n in names) == 28
    )
    head = apply_lora(meta_aligner().requires_grad_(False), LoraSpec(targets=ATTN, train_head=True))
    trainable, _ = count_parameters(head)
    assert trainable == 2_293_760 + 1024 * 5000  # plus the fully trained score head (no bias)


def test_presets_in_the_wrong_tower_fail_with_a_clear_message():
    with pytest.raises(
        ValueError, match="decoder: no module named 'fc1' in that tower .* it exists in: audio"
    ):
        target_regex({"decoder": ["fc1"]})
    with pytest.raises(ValueError, match="audio: no module named 'o_proj'.*it exists in: decoder"):
        target_regex({"audio": ["o_proj"]})
    with pytest.raises(ValueError, match="unknown tower 'text'"):
        target_regex({"text": ["q_proj"]})
    with pytest.raises(ValueError, match="targets no module"):
        target_regex({})


def test_full_training_preset_unfreezes_everything(tiny_dir):
    model, _ = load_aligner(str(tiny_dir))
    model.requires_grad_(False)
    out = apply_lora(model, LoraSpec(r=0, targets={}, name="none"))
    trainable, total = count_parameters(out)
    assert trainable == total


def test_adapter_round_trip_and_refusal_on_a_different_base(tiny_dir, tmp_path):
    torch.manual_seed(0)
    base, processor = load_aligner(str(tiny_dir))
    base.requires_grad_(False)
    spec = LoraSpec(targets=ATTN, train_head=True, name="decoder_attn_head")
    model = apply_lora(base, spec)
    for _name, p in model.named_parameters():  # make the adapter do something
        if p.requires_grad:
            p.data.normal_(0, 0.05)
    meta = adapter_metadata(str(tiny_dir), None, base.config, 80.0, spec)
    out = save_adapter(model, processor, tmp_path / "adapter", meta)
    saved = json.loads((out / "alignadapt_adapter.json").read_text())
    assert (
        saved["base_model"] == str(tiny_dir)
        and saved["num_labels"] == 200
        and saved["class_ms"] == 80.0
    )

    ids = torch.tensor([[5, 6, 7]])
    model.eval()
    expected = model(input_ids=ids).logits
    loaded, _, ref = load_model(out)
    assert (ref.kind, ref.base) == ("adapter", str(tiny_dir))
    assert torch.allclose(loaded.eval()(input_ids=ids).logits, expected, atol=1e-6)

    other = build_tiny_aligner(tmp_path / "other", TinySpec(num_labels=100))
    other_model, _ = load_aligner(str(other))
    with pytest.raises(ValueError, match="a different base .*differs in: num_labels"):
        check_fits(read_reference(out), other_model.config, 80.0)
    with pytest.raises(ValueError, match="differs in: class_ms"):
        check_fits(read_reference(out), base.config, 40.0)
    with pytest.raises(ValueError, match="a different base .*differs in: num_labels"):
        load_model(out, base=str(other))  # the same check on the loading path


def test_local_models_are_recorded_by_absolute_path_and_missing_ones_named(tiny_dir, monkeypatch):
    from alignadapt.model.loading import resolve_source

    monkeypatch.chdir(tiny_dir.parent)
    assert resolve_source(f"./{tiny_dir.name}") == str(tiny_dir.resolve())
    assert resolve_source("Qwen/Qwen3-ForcedAligner-0.6B-hf") == "Qwen/Qwen3-ForcedAligner-0.6B-hf"
    with pytest.raises(FileNotFoundError, match="model directory './no-such-model' does not exist"):
        load_aligner("./no-such-model")
