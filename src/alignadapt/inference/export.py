"""Export a trained model: the adapter alone (peft `save_pretrained`) or a merged, standalone
model directory that plain transformers loads with `from_pretrained`.

Merging happens in float32 (the model is loaded in float32, so LoRA's B @ A is added to the
weights at full precision), then the merged model is cast to the chosen dtype and saved as
safetensors with the processor files and chat template, so the directory is used exactly like
the released checkpoint. Both formats are written by model/reference.py.
"""

from __future__ import annotations

from pathlib import Path

from peft import PeftModel

from ..model.card import carry_card
from ..model.reference import load_model, save_adapter, save_merged

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
    provenance = {"source": str(source), "dtype": dtype, "merged_from": meta}
    save_merged(model, processor, out_dir, dtype, provenance)
    carry_card(
        ref.source,
        out_dir,
        [f"merged from `{ref.source}` onto `{ref.base}`, saved in {dtype}: a standalone model"],
    )
    return out_dir
