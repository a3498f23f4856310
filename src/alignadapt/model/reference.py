"""Model references and the files a model is kept in: the one module that reads and writes them.

A model reference is one of five forms, and every command (train, evaluate, pseudo-label,
export, align, validate, prepare) reads it here, with one set of checks and errors:

- a hub id (`Qwen/Qwen3-ForcedAligner-0.6B-hf`) or a local model directory (the demo base,
  a merged `alignadapt export --merge`): the model itself;
- an adapter directory (a run's `adapter/`, `alignadapt export` without `--merge`): peft
  weights plus `alignadapt_adapter.json`, which names the base it was trained on;
- a train.py checkpoint (`.ckpt`): only the trained weights, the LoRA preset in its
  hyper-parameters and the base in its metadata; loaded with `weights_only=True`.

The same module writes them: adapter folders (`save_adapter`), what a `.ckpt` keeps
(`write_checkpoint`, called by the training module's checkpoint hook) and merged model
directories (`save_merged`). It is the only place that knows how the training module names its
weights in a `.ckpt` (`NET`, `CTC_HEAD`, `FRAME_HEAD`), and the only one that checks weights against a base
(`check_fits`: the shapes; `check_complete`: every trained weight present), for training's
resume and for inference alike.

`read_reference` reads a reference once: a checkpoint's weights come with it, so
`load_model(reference)` (and `Aligner.load`) reads nothing again. `load_processor` builds no
model (what the data side needs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from peft import PeftModel

from .loading import load_aligner, load_processor_and_config, resolve_source
from .lora import LoraSpec, apply_lora, peft_quietly

KINDS = ("model", "adapter", "checkpoint")
ADAPTER_META = "alignadapt_adapter.json"  # an adapter folder's base and shapes
EXPORT_META = "alignadapt_export.json"  # a merged model's provenance
CKPT_META = "alignadapt"  # the same metadata as an adapter's, in a .ckpt

# How Lightning names the training module's weights in a .ckpt's state_dict: by the
# AlignerModule attribute holding them. `net` is the (LoRA-wrapped) aligner; `ctc_head` and
# `frame_head` are pretraining's auxiliary heads, resumed with the run and never exported. No other module spells these
# keys; tests/test_reference.py pins them against the module's state_dict.
NET = "net."
CTC_HEAD = "ctc_head."
FRAME_HEAD = "frame_head."


@dataclass
class ModelReference:
    """What a reference names, read once (a checkpoint's weights included)."""

    # as resolved, one name per model however the user wrote it (relative path, `~`, trailing
    # slash): the absolute local path, or the hub id. Pseudo-labels record it, and evaluation
    # compares it to warn about a model scored on its own labels.
    source: str
    kind: str  # model | adapter | checkpoint
    base: str  # the model the weights load onto (the source itself for kind "model")
    revision: str | None = None
    metadata: dict = field(default_factory=dict)  # alignadapt metadata of an adapter/checkpoint
    lora: LoraSpec | None = None  # a checkpoint's preset
    # a checkpoint's state_dict as train.py wrote it (`NET`/`CTC_HEAD` keys): only what trains,
    # so small for LoRA, the whole model for full training (r: 0)
    weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)


def read_reference(source: str | Path | ModelReference, base: str | None = None) -> ModelReference:
    """Which form `source` is, and the base it loads onto (`base` overrides the recorded one).

    A reference already read is only given the new base. A path that does not exist says so;
    an adapter directory without its metadata, or a checkpoint that names no base, says what
    to pass.
    """
    if isinstance(source, ModelReference):
        if base is None or source.kind == "model":
            return source
        return replace(source, base=resolve_source(base))
    text = str(source)
    path = Path(text).expanduser()
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise FileNotFoundError(
                f"checkpoint {path} does not exist (paths are from {Path.cwd()})"
            )
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        return checkpoint_reference(ckpt, str(path.resolve()), base)
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


def checkpoint_reference(ckpt: dict, where: str, base: str | None = None) -> ModelReference:
    """A `.ckpt`'s content (read from `where`, or handed over by Lightning on resume) as a
    reference: the base it names, its LoRA preset, metadata and trained weights."""
    hparams = ckpt.get("hyper_parameters") or {}
    meta = ckpt.get(CKPT_META) or {}
    named = base or meta.get("base_model") or hparams.get("pretrained")
    if not named:
        raise ValueError(f"{where}: names no base model; pass the base model explicitly")
    lora = hparams.get("lora") or {}
    return ModelReference(
        where,
        "checkpoint",
        resolve_source(named),
        hparams.get("revision") or meta.get("revision"),
        meta,
        lora if isinstance(lora, LoraSpec) else LoraSpec(**lora),
        ckpt.get("state_dict") or {},
    )


# ---- what weights must agree with -------------------------------------------------------
def base_fingerprint(config) -> dict:
    """What an adapter must agree with: the shapes LoRA weights and labels depend on."""
    text, audio = config.text_config, config.audio_config
    return {
        "num_labels": config.num_labels,
        "text": [
            text.hidden_size,
            text.num_hidden_layers,
            text.num_attention_heads,
            text.num_key_value_heads,
        ],
        "audio": [audio.d_model, audio.encoder_layers],
        "vocab_size": text.vocab_size,
    }


def adapter_metadata(
    base_name: str, revision: str | None, config, class_ms: float, spec: LoraSpec
) -> dict:
    """What an adapter folder and a `.ckpt` record: the base, its shapes and the preset."""
    return {
        "base_model": base_name,
        "revision": revision,
        "num_labels": config.num_labels,
        "class_ms": class_ms,
        "lora_preset": spec.name,
        "fingerprint": base_fingerprint(config),
    }


def check_fits(
    ref: ModelReference,
    config,
    class_ms: float,
    fix: str = "load it onto the base it was trained on",
) -> None:
    """Refuse adapter or checkpoint weights trained on a base of a different shape; the error
    names the file, the two bases and the shapes that differ, then `fix`."""
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
            f"{ref.base!r} (differs in: {', '.join(diffs)}); {fix}"
        )


def trained_keys(
    net: torch.nn.Module, heads: dict[str, torch.nn.Module | None] | None = None
) -> set[str]:
    """The state_dict keys a `.ckpt` keeps: what trains in the aligner (LoRA weights, a trained
    head, everything for full training) and the auxiliary heads present, keyed by their prefix
    (`CTC_HEAD`, `FRAME_HEAD`); the frozen backbone is reloaded from the base."""
    keys = {NET + n for n, p in net.named_parameters() if p.requires_grad}
    for prefix, head in (heads or {}).items():
        if head is not None:
            keys |= {prefix + n for n, _ in head.named_parameters()}
    return keys


def check_complete(ref: ModelReference, keys: set[str], fix: str) -> None:
    """Refuse a checkpoint that lacks some of `keys` (trained_keys of the model it loads into):
    it was made with another LoRA preset. The error names the file, one missing weight, `fix`."""
    missing = keys - set(ref.weights or {})
    if missing:
        raise ValueError(
            f"{ref.source} lacks {len(missing)} trained weights (e.g. {sorted(missing)[0]}), so "
            f"it was made with another LoRA preset: {fix}"
        )


# ---- writing ------------------------------------------------------------------------------
def write_checkpoint(
    checkpoint: dict,
    net: torch.nn.Module,
    heads: dict[str, torch.nn.Module | None],
    metadata: dict,
) -> None:
    """What train.py's `.ckpt` keeps, set in Lightning's checkpoint dict: only the trained
    weights (plus the optimizer state Lightning adds) and the metadata that names the base."""
    keep = trained_keys(net, heads)
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
    checkpoint[CKPT_META] = metadata


def save_adapter(model: torch.nn.Module, processor, out_dir: str | Path, metadata: dict) -> Path:
    """Save a peft adapter (or, for full training, the whole model and processor) with metadata."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    if not isinstance(model, PeftModel):
        processor.save_pretrained(out_dir)
    (out_dir / ADAPTER_META).write_text(json.dumps(metadata, indent=2))
    return out_dir


def save_merged(
    model: torch.nn.Module, processor, out_dir: str | Path, dtype: str, provenance: dict
) -> Path:
    """A standalone model directory that plain transformers loads: LoRA merged at the model's
    precision, cast to `dtype`, safetensors and the processor files, and `EXPORT_META`."""
    out_dir = Path(out_dir)
    merged = model.merge_and_unload() if isinstance(model, PeftModel) else model
    merged = merged.to(getattr(torch, dtype))
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    (out_dir / EXPORT_META).write_text(json.dumps(provenance, indent=2))
    return out_dir


# ---- loading ------------------------------------------------------------------------------
def load_model(
    source: str | Path | ModelReference, base: str | None = None, dtype: str = "float32"
) -> tuple[torch.nn.Module, object, ModelReference]:
    """(model, processor, reference): the base with the adapter or trained weights applied.
    A reference already read is not read again."""
    ref = read_reference(source, base)
    model, processor = load_aligner(ref.base, ref.revision, dtype)
    if ref.kind == "model":
        return model, processor, ref
    check_fits(ref, model.config, float(processor.timestamp_segment_time))
    if ref.kind == "adapter":
        with peft_quietly():
            return PeftModel.from_pretrained(model, ref.source), processor, ref
    net = apply_lora(model, ref.lora or LoraSpec())
    fix = "not the one its hyper-parameters name; load the run's adapter/ folder instead"
    check_complete(ref, trained_keys(net), fix)
    aligner = {k.removeprefix(NET): v for k, v in ref.weights.items() if k.startswith(NET)}
    net.load_state_dict(aligner, strict=False)
    return net, processor, ref


def load_for_inference(
    source: str | Path | ModelReference, base: str | None = None, dtype: str = "float32"
) -> tuple[torch.nn.Module, object]:
    """(model in eval mode with nothing trainable, processor) for any reference."""
    model, processor, _ = load_model(source, base, dtype)
    model.requires_grad_(False)  # inference only: nothing for DDP or autograd to track
    return model.eval(), processor


def load_processor(source: str | Path, base: str | None = None, revision: str | None = None):
    """(processor, config) of any reference, without weights: what the data side needs."""
    ref = read_reference(source, base)
    return load_processor_and_config(ref.base, revision or ref.revision)
