"""LoRA on the aligner: presets per tower, and applying them.

Adapter folders (peft's `save_pretrained` output plus the base and shapes they depend on) are
written and read in reference.py, with every other form a model is kept in.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from dataclasses import dataclass, field

import torch
from peft import LoraConfig, get_peft_model

log = logging.getLogger(__name__)

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


@contextlib.contextmanager
def peft_quietly():
    """Wrapping a model with peft, without transformers' FutureWarning that peft triggers by
    reading `model.is_gradient_checkpointing` (deprecated in transformers 5): that one
    message only, in this block only."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


@dataclass
class LoraSpec:
    """A LoRA preset (conf/lora/*.yaml). `targets` maps a tower to the module names in it.

    `r: 0`, or the preset `none`, means no LoRA at all: the whole model is trained (to
    pretrain small models). The name counts on its own so that an experiment that sets its
    rank (`experiment=demo_lora`: r 16) still trains everything with `lora=none`.
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
        return self.r == 0 or self.name == "none"


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
    with peft_quietly():
        peft_model = get_peft_model(model, config)
    log.info("LoRA preset %s: %d modules adapted", spec.name, len(names))
    return peft_model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
