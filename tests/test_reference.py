"""One module for every model reference and checkpoint format: the five forms, one set of
errors, adapter/.ckpt/merged round trips, a .ckpt read once, and the adapter folders and
checkpoints that earlier versions of alignadapt wrote still load to the same model."""

from __future__ import annotations

import json
import re
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
from alignadapt.model.reference import (
    CKPT_META,
    CTC_HEAD,
    EXPORT_META,
    NET,
    load_for_inference,
    load_model,
    read_reference,
    save_adapter,
    save_merged,
)

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


# ---- the one checkpoint format: what a .ckpt keeps, round trips, one read, the refusals ------
IDS = torch.tensor([[5, 6, 7]])
ATTN_MLP = {"name": "attn_gate", "targets": {"decoder": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"]}}  # fmt: skip


def trained_module(tiny_dir: Path, lora: dict | None = None, ctc_weight: float = 0.0):
    """The training module on the tiny model, its trained weights set at random (so they
    matter)."""
    from alignadapt.training.module import AlignerModule

    module = AlignerModule(
        pretrained=str(tiny_dir),
        lora=lora or {"name": "decoder_attn"},
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        ctc_weight=ctc_weight,
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.net.parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    return module


def save_ckpt(module, path: Path) -> Path:
    """What Lightning writes: its checkpoint dict through the module's `on_save_checkpoint`."""
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return path


def test_a_ckpt_keeps_what_trains_under_the_training_modules_names(tiny_dir, tmp_path):
    module = trained_module(tiny_dir, ctc_weight=0.5)
    ckpt = torch.load(save_ckpt(module, tmp_path / "last.ckpt"), weights_only=True)
    layers = module.base_config.text_config.num_hidden_layers
    lora = {n for n, p in module.net.named_parameters() if p.requires_grad}
    assert len(lora) == layers * 4 * 2 and all(".lora_" in n for n in lora)  # q/k/v/o x A, B
    head = {n for n, _ in module.ctc_head.named_parameters()}
    assert head == {"weight", "bias"}
    assert set(ckpt["state_dict"]) == {NET + n for n in lora} | {CTC_HEAD + n for n in head}
    # the names Lightning restores by on resume: the module's own state_dict keys
    assert set(ckpt["state_dict"]) <= set(module.state_dict())
    assert ckpt[CKPT_META] == module.metadata()
    assert ckpt[CKPT_META]["base_model"] == str(tiny_dir.resolve())


def test_ckpt_adapter_and_merged_model_round_trip_to_the_same_logits(tiny_dir, tmp_path):
    module = trained_module(tiny_dir, ctc_weight=0.5)  # its CTC head is kept, never exported
    expected = module.net.eval()(input_ids=IDS).logits
    path = save_ckpt(module, tmp_path / "last.ckpt")

    model, processor, ref = load_model(path)
    assert (ref.kind, ref.source, ref.base, ref.lora.name) == (
        "checkpoint",
        str(path.resolve()),
        str(tiny_dir.resolve()),
        "decoder_attn",
    )
    assert not any("ctc" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(model.eval()(input_ids=IDS).logits, expected, atol=0, rtol=0)

    adapter = save_adapter(model, processor, tmp_path / "adapter", ref.metadata)
    assert json.loads((adapter / "alignadapt_adapter.json").read_text()) == module.metadata()
    again, _, from_adapter = load_model(adapter)
    assert (from_adapter.kind, from_adapter.base) == ("adapter", str(tiny_dir.resolve()))
    torch.testing.assert_close(again.eval()(input_ids=IDS).logits, expected, atol=0, rtol=0)

    provenance = {"source": str(path), "dtype": "float32", "merged_from": ref.metadata}
    merged_dir = save_merged(model, processor, tmp_path / "merged", "float32", provenance)
    assert json.loads((merged_dir / EXPORT_META).read_text()) == provenance
    merged, _, from_merged = load_model(merged_dir)
    assert (from_merged.kind, from_merged.base) == ("model", str(merged_dir.resolve()))
    assert not hasattr(merged, "peft_config")
    torch.testing.assert_close(merged(input_ids=IDS).logits, expected, atol=1e-5, rtol=1e-5)


def test_evaluate_and_align_read_a_ckpt_once(tiny_dir, corpus, tmp_path, monkeypatch):
    """Before one checkpoint module, evaluate read a .ckpt three times (its reference, then
    the Aligner's reference again and its weights) and align twice."""
    from alignadapt.cli import main
    from alignadapt.evaluation.run import run_evaluation

    path = save_ckpt(trained_module(tiny_dir), tmp_path / "last.ckpt")
    source = Path(corpus["test"])
    rows = [json.loads(x) for x in source.read_text().splitlines()[:2]]
    for r in rows:
        r["audio_path"] = str((source.parent / r["audio_path"]).resolve())
    manifest = tmp_path / "two.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reads = []
    load = torch.load

    def counted(f, *args, **kwargs):
        reads.append(str(f))
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counted)
    metrics = run_evaluation(
        manifest, {"step": str(path)}, None, tmp_path / "report", bootstrap=10, naive=False
    )
    assert reads == [str(path)]
    assert list(metrics["columns"]) == ["base", "step"]
    assert metrics["models"] == {"base": str(tiny_dir.resolve()), "step": str(path)}

    reads.clear()
    out = tmp_path / "one.json"
    assert main(["align", "--model", str(path), rows[0]["audio_path"], rows[0]["text"], "--out", str(out)]) == 0  # fmt: skip
    assert reads == [str(path)]
    assert json.loads(out.read_text())["model"] == str(path)


def test_a_ckpt_of_another_base_is_refused_naming_the_file_and_the_fix(tiny_dir, tmp_path):
    path = save_ckpt(trained_module(tiny_dir), tmp_path / "last.ckpt")
    trained_on = str(tiny_dir.resolve())
    other = build_tiny_aligner(tmp_path / "other", TinySpec(num_labels=100)).resolve()
    differs = f"a different base from '{other}' (differs in: num_labels); "
    expected = (
        f"{path} was trained on '{trained_on}', {differs}load it onto the base it was trained on"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        load_model(path, base=str(other))
    # resuming: the same check, from the training module's hook, before Lightning loads
    resumed = trained_module(other)
    expected = f"the checkpoint was trained on '{trained_on}', {differs}resume with model.pretrained={trained_on}"  # fmt: skip
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        resumed.on_load_checkpoint(torch.load(path, weights_only=True))


def test_a_ckpt_missing_trained_weights_is_refused_naming_one_and_the_fix(tiny_dir, tmp_path):
    path = save_ckpt(trained_module(tiny_dir), tmp_path / "last.ckpt")
    ckpt = torch.load(path, weights_only=True)
    layers = trained_module(tiny_dir).base_config.text_config.num_hidden_layers
    first = "base_model.model.model.language_model.layers.0.mlp.gate_proj.lora_A.default.weight"
    lacks = f"lacks {2 * layers} trained weights (e.g. net.{first}), so it was made with another LoRA preset: "  # fmt: skip
    # its hyper-parameters name a preset with more modules than its weights hold
    edited = tmp_path / "edited.ckpt"
    ckpt["hyper_parameters"]["lora"] = ATTN_MLP
    torch.save(ckpt, edited)
    fix = "not the one its hyper-parameters name; load the run's adapter/ folder instead"
    with pytest.raises(ValueError, match=f"^{re.escape(f'{edited} {lacks}{fix}')}$"):
        load_model(edited)
    # resuming with a wider preset than the run was started with
    fix = "resume with the LoRA preset the run was started with (its .hydra/config.yaml)"
    with pytest.raises(ValueError, match=f"^{re.escape(f'the checkpoint {lacks}{fix}')}$"):
        trained_module(tiny_dir, ATTN_MLP).on_load_checkpoint(torch.load(path, weights_only=True))
