"""A trained-looking adapter without training: LoRA weights set at random on the tiny model,
so adapted timestamps differ from the base (tests of evaluate, export and align)."""

from __future__ import annotations

from pathlib import Path

import torch

from alignadapt.model.loading import load_aligner
from alignadapt.model.lora import LoraSpec, apply_lora
from alignadapt.model.reference import adapter_metadata, save_adapter


def random_adapter(tiny_dir: Path, out_dir: Path, seed: int = 0, scale: float = 0.5) -> Path:
    if (out_dir / "adapter_config.json").exists():
        return out_dir
    base, processor = load_aligner(str(tiny_dir))
    spec = LoraSpec(name="decoder_attn")
    net = apply_lora(base, spec)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * scale)
    meta = adapter_metadata(
        str(tiny_dir), None, base.config, processor.timestamp_segment_time, spec
    )
    return save_adapter(net, processor, out_dir, meta)
