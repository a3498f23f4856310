"""One reader for every way a user names a model.

A model reference is one of five forms, and every command (train, evaluate, pseudo-label,
export, align, validate, prepare) reads it here, with one set of checks and errors:

- a hub id (`Qwen/Qwen3-ForcedAligner-0.6B-hf`) or a local model directory (the demo base,
  a merged `alignadapt export --merge`): the model itself;
- an adapter directory (a run's `adapter/`, `alignadapt export` without `--merge`): peft
  weights plus `alignadapt_adapter.json`, which names the base it was trained on;
- a train.py checkpoint (`.ckpt`): only the trained weights, the LoRA preset in its
  hyper-parameters and the base in its metadata; loaded with `weights_only=True`.

`read_reference` looks without loading weights (what the data side needs: the processor);
`load_model` returns the model with its adapter or trained weights applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .loading import load_aligner, load_processor_and_config, resolve_source
from .lora import ADAPTER_META, LoraSpec, apply_lora, base_fingerprint, peft_quietly

KINDS = ("model", "adapter", "checkpoint")


@dataclass
class ModelReference:
    """What a reference names, read without loading weights."""

    source: str  # as resolved: an absolute local path, or the hub id
    kind: str  # model | adapter | checkpoint
    base: str  # the model the weights load onto (the source itself for kind "model")
    revision: str | None = None
    metadata: dict = field(default_factory=dict)  # alignadapt metadata of an adapter/checkpoint
    lora: LoraSpec | None = None  # a checkpoint's preset


def read_reference(source: str | Path, base: str | None = None) -> ModelReference:
    """Which form `source` is, and the base it loads onto (`base` overrides the recorded one).

    A path that does not exist says so; an adapter directory without its metadata, or a
    checkpoint that names no base, says what to pass.
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise FileNotFoundError(
                f"checkpoint {path} does not exist (paths are from {Path.cwd()})"
            )
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        hparams = ckpt.get("hyper_parameters") or {}
        meta = ckpt.get("alignadapt") or {}
        named = base or meta.get("base_model") or hparams.get("pretrained")
        if not named:
            raise ValueError(f"{path}: names no base model; pass the base model explicitly")
        lora = hparams.get("lora") or {}
        return ModelReference(
            str(path.resolve()),
            "checkpoint",
            resolve_source(named),
            hparams.get("revision") or meta.get("revision"),
            meta,
            lora if isinstance(lora, LoraSpec) else LoraSpec(**lora),
        )
    if path.is_dir() and (path / "adapter_config.json").exists():
        meta_path = path / ADAPTER_META
        if not meta_path.exists():
            raise FileNotFoundError(
                f"{meta_path} is missing: {path} is a peft adapter but not an alignadapt one; "
                "it does not say which base it was trained on"
            )
        meta = json.loads(meta_path.read_text())
        named = base or meta.get("base_model")
        if not named:
            raise ValueError(f"{meta_path} names no base model; pass the base model explicitly")
        return ModelReference(
            str(path.resolve()), "adapter", resolve_source(named), meta.get("revision"), meta
        )
    resolved = resolve_source(text)  # raises on a path-like name that does not exist
    return ModelReference(resolved, "model", resolved)


def model_identity(source: str | Path, base: str | None = None) -> str:
    """One name per model however the user wrote it (relative path, `~`, trailing slash):
    the absolute path of a local model, adapter or checkpoint, else the hub id. Pseudo-labels
    record it, and evaluation compares it to warn about a model scored on its own labels."""
    return read_reference(source, base).source


def check_fits(ref: ModelReference, config, class_ms: float) -> None:
    """Refuse adapter or checkpoint weights trained on a base of a different shape."""
    meta = ref.metadata
    if not meta or "fingerprint" not in meta:
        return
    expected = base_fingerprint(config)
    diffs = [k for k in expected if meta["fingerprint"].get(k) != expected[k]]
    if "class_ms" in meta and meta["class_ms"] != class_ms:
        diffs.append("class_ms")
    if diffs:
        raise ValueError(
            f"{ref.source} was trained on {meta.get('base_model')!r}, a different base from "
            f"{ref.base!r} (differs in: {', '.join(diffs)}); load it onto the base it was "
            "trained on"
        )


def load_model(
    source: str | Path | ModelReference, base: str | None = None, dtype: str = "float32"
) -> tuple[torch.nn.Module, object, ModelReference]:
    """(model, processor, reference): the base with the adapter or trained weights applied."""
    ref = source if isinstance(source, ModelReference) else read_reference(source, base)
    model, processor = load_aligner(ref.base, ref.revision, dtype)
    if ref.kind == "model":
        return model, processor, ref
    check_fits(ref, model.config, float(processor.timestamp_segment_time))
    if ref.kind == "adapter":
        from peft import PeftModel

        with peft_quietly():
            return PeftModel.from_pretrained(model, ref.source), processor, ref
    net = apply_lora(model, ref.lora or LoraSpec())
    ckpt = torch.load(ref.source, map_location="cpu", weights_only=True)
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items()}
    trained = {n for n, p in net.named_parameters() if p.requires_grad}
    missing = trained - set(state)
    if missing:
        raise ValueError(
            f"{ref.source} lacks {len(missing)} trained weights (e.g. {sorted(missing)[0]}): "
            "it was made with another LoRA preset"
        )
    net.load_state_dict(state, strict=False)
    return net, processor, ref


def load_for_inference(
    source: str | Path, base: str | None = None, dtype: str = "float32"
) -> tuple[torch.nn.Module, object]:
    """(model in eval mode with nothing trainable, processor) for any reference."""
    model, processor, _ = load_model(source, base, dtype)
    model.requires_grad_(False)  # inference only: nothing for DDP or autograd to track
    return model.eval(), processor


def load_processor(source: str | Path, base: str | None = None, revision: str | None = None):
    """(processor, config) of any reference, without weights: what the data side needs."""
    ref = read_reference(source, base)
    return load_processor_and_config(ref.base, revision or ref.revision)
