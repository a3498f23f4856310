"""Loading the aligner (weights and processor) from a hub id or a local directory.

One loading path serves every model: a hub id (`Qwen/Qwen3-ForcedAligner-0.6B-hf`) or a local
directory (the tiny model, a merged export). Weights are safetensors; nothing runs remote code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Qwen3ASRForTokenClassification, Qwen3ASRProcessor


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
