"""Loading the aligner, adding LoRA, and saving or loading adapters safely.

One loading path serves every model: a hub id (`Qwen/Qwen3-ForcedAligner-0.6B-hf`) or a local
directory (the tiny model, a merged export). Weights are safetensors; nothing runs remote code.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import Qwen3ASRForTokenClassification, Qwen3ASRProcessor

log = logging.getLogger(__name__)

ADAPTER_META = "alignadapt_adapter.json"

# Where each tower's adaptable linear layers live (transformers' module names), and which
# leaf names exist there. A preset names modules per tower, so `q_proj` is never ambiguous.
TOWERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "decoder": (
        r"model\.language_model\.layers\.\d+\.(?:self_attn|mlp)\.",
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ),
    "audio": (
        r"model\.audio_tower\.layers\.\d+\.(?:self_attn\.)?",
        ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    ),
    "projector": (r"model\.multi_modal_projector\.", ("linear_1", "linear_2")),
}


def resolve_source(name_or_path: str) -> str:
    """A local directory as an absolute path (adapters record it, and must find it from any
    folder); a hub id as it is. A path-like name that does not exist is an error, not a hub id."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise FileNotFoundError(
            f"model directory {name_or_path!r} does not exist (relative paths are from {Path.cwd()}); "
            "give an existing directory or a hub id such as Qwen/Qwen3-ForcedAligner-0.6B-hf"
        )
    return name_or_path


def load_aligner(
    name_or_path: str, revision: str | None = None, dtype: str = "float32"
) -> tuple[Qwen3ASRForTokenClassification, Qwen3ASRProcessor]:
    """The aligner and its processor from a hub id or a local directory (safetensors only)."""
    name_or_path = resolve_source(name_or_path)
    kwargs = {"revision": revision} if revision else {}
    try:
        processor = Qwen3ASRProcessor.from_pretrained(name_or_path, **kwargs)
        model = Qwen3ASRForTokenClassification.from_pretrained(
            name_or_path, dtype=getattr(torch, dtype), use_safetensors=True, **kwargs
        )
    except OSError as err:
        raise OSError(
            f"could not load the aligner from {name_or_path!r}: {err}\n"
            "Give a local model directory, or a hub id on a machine that can reach the hub "
            "(for a first run without one: model=tiny)."
        ) from err
    if model.config.timestamp_token_id != processor.tokenizer.convert_tokens_to_ids("<timestamp>"):
        raise ValueError(
            f"{name_or_path}: config.timestamp_token_id does not match the tokenizer's "
            "<timestamp> token; the model and processor files come from different models"
        )
    return model, processor


def load_processor_and_config(name_or_path: str, revision: str | None = None):
    """The processor and model config alone (no weights): what the data side needs."""
    from transformers import AutoConfig

    name_or_path = resolve_source(name_or_path)
    kwargs = {"revision": revision} if revision else {}
    return Qwen3ASRProcessor.from_pretrained(name_or_path, **kwargs), AutoConfig.from_pretrained(
        name_or_path, **kwargs
    )


@dataclass
class LoraSpec:
    """A LoRA preset (conf/lora/*.yaml). `targets` maps a tower to the module names in it.

    `r: 0` means no LoRA at all: the whole model is trained (to pretrain small models).
    """

    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    targets: dict[str, list[str]] = field(
        default_factory=lambda: {"decoder": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    )
    train_head: bool = False  # train the `score` head fully (peft modules_to_save)
    name: str = "custom"

    @property
    def full(self) -> bool:
        return self.r == 0


def target_regex(targets: dict[str, list[str]]) -> str:
    """One full-match regex over module names, built per tower; raises on unknown names."""
    problems, parts = [], []
    for tower, names in targets.items():
        if tower not in TOWERS:
            problems.append(f"unknown tower {tower!r} (choose from {', '.join(TOWERS)})")
            continue
        prefix, known = TOWERS[tower]
        for name in names:
            if name not in known:
                elsewhere = [t for t, (_, k) in TOWERS.items() if name in k and t != tower]
                hint = f"; it exists in: {', '.join(elsewhere)}" if elsewhere else ""
                problems.append(
                    f"{tower}: no module named {name!r} in that tower (it has {', '.join(known)}){hint}"
                )
        if names:
            parts.append(prefix + "(?:" + "|".join(re.escape(n) for n in names) + ")")
    if problems:
        raise ValueError("LoRA preset does not fit the aligner:\n  " + "\n  ".join(problems))
    if not parts:
        raise ValueError(
            "LoRA preset targets no module: give lora.targets, or lora=none to train everything"
        )
    return "(?:" + "|".join(parts) + ")"


def apply_lora(model: torch.nn.Module, spec: LoraSpec) -> torch.nn.Module:
    """Wrap `model` with LoRA per `spec` (or unfreeze everything for `r: 0`), checking the match.

    No peft task type is given on purpose: the token-classification task type would add
    `score` to the trained modules behind the preset's back.
    """
    if spec.full:
        model.requires_grad_(True)
        return model
    pattern = target_regex(spec.targets)
    names = [
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and re.fullmatch(pattern, n)
    ]
    for tower, wanted in spec.targets.items():
        prefix = TOWERS[tower][0]
        for leaf in wanted:
            if not any(re.fullmatch(prefix + re.escape(leaf), n) for n in names):
                raise ValueError(
                    f"LoRA preset {spec.name!r}: {tower}.{leaf} matches no linear layer of this model; "
                    "check the preset against the model's module names (print model)"
                )
    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=pattern,
        modules_to_save=["score"] if spec.train_head else None,
    )
    peft_model = get_peft_model(model, config)
    log.info("LoRA preset %s: %d modules adapted", spec.name, len(names))
    return peft_model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


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
    return {
        "base_model": base_name,
        "revision": revision,
        "num_labels": config.num_labels,
        "class_ms": class_ms,
        "lora_preset": spec.name,
        "fingerprint": base_fingerprint(config),
    }


def save_adapter(model: torch.nn.Module, processor, out_dir: str | Path, metadata: dict) -> Path:
    """Save a peft adapter (or, for full training, the whole model and processor) with metadata."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    if not isinstance(model, PeftModel):
        processor.save_pretrained(out_dir)
    (out_dir / ADAPTER_META).write_text(json.dumps(metadata, indent=2))
    return out_dir


def check_adapter_fits(adapter_dir: str | Path, base_config, class_ms: float) -> dict:
    """Refuse an adapter trained on a different base; returns its metadata."""
    meta_path = Path(adapter_dir) / ADAPTER_META
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{meta_path} is missing: {adapter_dir} is not an alignadapt adapter directory"
        )
    meta = json.loads(meta_path.read_text())
    expected = base_fingerprint(base_config)
    diffs = [k for k in expected if meta["fingerprint"].get(k) != expected[k]]
    if meta["class_ms"] != class_ms:
        diffs.append("class_ms")
    if diffs:
        raise ValueError(
            f"adapter {adapter_dir} was trained on {meta['base_model']!r}, a different base "
            f"(differs in: {', '.join(diffs)}); load it onto the base it was trained on"
        )
    return meta


def load_adapter(base: torch.nn.Module, adapter_dir: str | Path, class_ms: float) -> PeftModel:
    check_adapter_fits(adapter_dir, base.config, class_ms)
    return PeftModel.from_pretrained(base, str(adapter_dir))


def released_config():
    """The architecture of Qwen3-ForcedAligner-0.6B, for meta-device checks without a download.

    Audio encoder 1024 wide, 24 layers; text decoder 1024 wide, 28 layers, 16 heads, 8 KV
    heads; 5000 classes. Token ids are those of the released tokenizer.
    """
    from transformers import Qwen3ASRConfig

    return Qwen3ASRConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": 24,
            "encoder_attention_heads": 16,
            "encoder_ffn_dim": 4096,
            "d_model": 1024,
            "output_dim": 1024,
            "downsample_hidden_size": 480,
        },
        text_config={
            "vocab_size": 151936,
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 65536,
            "tie_word_embeddings": True,
        },
        num_labels=5000,
        audio_token_id=151676,
        timestamp_token_id=151705,
    )


def meta_aligner(config=None) -> Qwen3ASRForTokenClassification:
    """The architecture with no weights (meta device): for counting and target checks."""
    with torch.device("meta"):
        return Qwen3ASRForTokenClassification(config or released_config())
