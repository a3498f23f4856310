"""One reader for every model reference: the five forms, one set of errors, and the adapter
folders and checkpoints that earlier versions of alignadapt wrote still load to the same model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alignadapt.data.audio import load_audio
from alignadapt.data.manifest import iter_manifest
from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
from alignadapt.inference.aligner import Aligner
from alignadapt.model.prompt import split_units
from alignadapt.model.reference import load_for_inference, load_model, read_reference

from .adapters import random_adapter

LEGACY = Path(__file__).parent / "fixtures" / "legacy_run"


@pytest.mark.parametrize("name", ["adapter", "ckpt"])
def test_adapter_and_checkpoint_from_before_the_regrouping_load_to_the_same_logits(
    name, corpus, tmp_path
):
    """tests/fixtures/legacy_run: the adapter/ and last.ckpt of a `python train.py model=tiny`
    run made with the flat package (commit 199fb93), and the slot logits it gave then."""
    source = LEGACY / ("adapter" if name == "adapter" else "last.ckpt")
    # the base it was trained on: the tiny aligner as built then, with transformers' N(0, 0.02)
    # audio front end (issue 24 initialises it to the positions' norm)
    tiny_dir = build_tiny_aligner(tmp_path / "legacy-base", TinySpec(front_end_ratio=0.0))
    model, processor = load_for_inference(source, base=str(tiny_dir))
    utt = next(iter_manifest(corpus["test"]))
    units = split_units(processor, utt.text, utt.language)
    logits = Aligner(model, processor).slot_logits([load_audio(utt.audio_path)], [units])[0]
    expected = np.load(LEGACY / "expected_logits.npz")[name]
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)
    base_model, _ = load_for_inference(tiny_dir)
    base_logits = Aligner(base_model, processor).slot_logits([load_audio(utt.audio_path)], [units])
    assert np.abs(base_logits[0].numpy() - expected).max() > 0.05  # the trained weights applied


def test_every_form_is_read_with_its_base(tiny_dir, tmp_path, monkeypatch):
    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    hub = read_reference("Qwen/Qwen3-ForcedAligner-0.6B-hf")
    assert (hub.kind, hub.base) == ("model", "Qwen/Qwen3-ForcedAligner-0.6B-hf")
    local = read_reference(tiny_dir)
    assert (local.kind, local.base) == ("model", str(tiny_dir.resolve()))
    ref = read_reference(adapter)
    assert (ref.kind, ref.base, ref.metadata["lora_preset"]) == (
        "adapter",
        str(tiny_dir),
        "decoder_attn",
    )
    ckpt = read_reference(LEGACY / "last.ckpt", base=str(tiny_dir))
    assert (ckpt.kind, ckpt.base, ckpt.lora.name) == ("checkpoint", str(tiny_dir), "decoder_attn")
    # the base an adapter names is found from any folder (recorded as an absolute path)
    monkeypatch.chdir(tmp_path)
    model, _, loaded = load_model(adapter)
    assert loaded.kind == "adapter" and hasattr(model, "get_base_model")


def test_missing_and_half_references_say_what_is_wrong(tiny_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint /no/such/run/last.ckpt does not exist"):
        read_reference("/no/such/run/last.ckpt")
    with pytest.raises(FileNotFoundError, match="model directory '/does/not/exist/adapter'"):
        read_reference("/does/not/exist/adapter")
    half = tmp_path / "peft_only"
    half.mkdir()
    (half / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="alignadapt_adapter.json is missing"):
        read_reference(half)
    nameless = tmp_path / "nameless.ckpt"
    torch.save({"state_dict": {}}, nameless)
    with pytest.raises(ValueError, match="names no base model"):
        read_reference(nameless)


def test_the_train_module_refuses_an_adapter_as_its_base(tiny_dir, tmp_path):
    from alignadapt.model.lora import LoraSpec
    from alignadapt.training.module import AlignerModule

    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    with pytest.raises(ValueError, match=f"model.pretrained={tiny_dir}"):
        AlignerModule(str(adapter), LoraSpec(), optimizer=torch.optim.AdamW)


def test_old_adapter_metadata_is_plain_json():
    meta = json.loads((LEGACY / "adapter" / "alignadapt_adapter.json").read_text())
    assert meta["lora_preset"] == "decoder_attn" and meta["num_labels"] == 200


def test_cli_help_imports_no_torch():
    """`alignadapt --help` lists the subcommands without importing any of them."""
    code = (
        "import sys\n"
        "from alignadapt.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'lightning') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "align" in out.stdout and "HEAVY []" in out.stdout
