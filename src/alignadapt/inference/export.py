"""Export a trained model: the adapter alone (peft `save_pretrained`) or a merged, standalone
model directory that plain transformers loads with `from_pretrained`.

Merging happens in float32 (LoRA's B @ A added to weights at full precision), then the
merged model is cast to the chosen dtype and saved as safetensors with the processor files
and chat template, so the directory is used exactly like the released checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import PeftModel

from ..model.card import carry_card
from ..model.lora import save_adapter
from ..model.reference import load_model

EXPORT_META = "alignadapt_export.json"
DTYPES = ("float32", "bfloat16", "float16")


def export_model(
    source: str | Path,
    out_dir: str | Path,
    merge: bool = False,
    dtype: str = "float32",
    base: str | None = None,
    force: bool = False,
) -> Path:
    """Write the adapter, or with `merge` a standalone model, into `out_dir`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass --force to write into it")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    model, processor, ref = load_model(source, base, "float32")
    model.requires_grad_(False)
    meta = ref.metadata
    if not merge:
        if not isinstance(model, PeftModel):
            raise ValueError(
                f"{source} holds no adapter (a base, merged or fully trained model); "
                "use --merge to write it as a standalone model directory"
            )
        save_adapter(model, processor, out_dir, meta)
        carry_card(ref.source, out_dir, [f"adapter exported from `{ref.source}`"])
        return out_dir
    merged = model.merge_and_unload() if isinstance(model, PeftModel) else model
    merged = merged.to(getattr(torch, dtype))
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    provenance = {"source": str(source), "dtype": dtype, "merged_from": meta}
    (out_dir / EXPORT_META).write_text(json.dumps(provenance, indent=2))
    carry_card(
        ref.source,
        out_dir,
        [f"merged from `{ref.source}` onto `{ref.base}`, saved in {dtype}: a standalone model"],
    )
    return out_dir
