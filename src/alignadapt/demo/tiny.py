"""A tiny aligner of the real architecture, built from a config with no download.

Tests, CI and the laptop demo cannot fetch the 0.6B checkpoint, so they use this: the same
`Qwen3ASRForTokenClassification` class with a few narrow layers, a byte-level BPE tokenizer
trained on the fly (`model.architecture.build_tokenizer`), the real feature extractor and the
chat template the released checkpoint ships. It is saved as an ordinary model directory and loaded back through
`alignadapt.model.loading.load_aligner`, the path the real checkpoint takes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import (
    Qwen2Tokenizer,
    Qwen3ASRConfig,
    Qwen3ASRFeatureExtractor,
    Qwen3ASRForTokenClassification,
    Qwen3ASRProcessor,
)

from ..model.architecture import REAL_DIR, build_tokenizer
from ..training.module import AlignerModule

# The rendered prompt: the audio block, then `unit<timestamp><timestamp>` for every unit.
# The template the released checkpoint ships (model/qwen3_forced_aligner_0.6b_hf/).
FORCED_ALIGNER_TEMPLATE = (REAL_DIR / "chat_template.jinja").read_text()


@dataclass
class TinySpec:
    """Sizes of a tiny aligner. Defaults give about 0.2 M parameters: seconds a step on CPU."""

    audio_d_model: int = 64
    audio_layers: int = 2
    audio_heads: int = 4
    audio_ffn: int = 128
    downsample_hidden_size: int = 32
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 128
    num_labels: int = 200  # 200 x 80 ms = 16 s of audio per call
    vocab_size: int = 400  # BPE vocabulary before special tokens
    seed: int = 0


def build_processor(spec: TinySpec) -> Qwen3ASRProcessor:
    return Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(),
        tokenizer=build_tokenizer(spec.vocab_size),
        chat_template=FORCED_ALIGNER_TEMPLATE,
    )


def build_config(spec: TinySpec, tokenizer: Qwen2Tokenizer) -> Qwen3ASRConfig:
    ids = tokenizer.convert_tokens_to_ids
    head_dim = spec.text_hidden // spec.text_heads
    return Qwen3ASRConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": spec.audio_layers,
            "encoder_attention_heads": spec.audio_heads,
            "encoder_ffn_dim": spec.audio_ffn,
            "d_model": spec.audio_d_model,
            "output_dim": spec.text_hidden,
            "downsample_hidden_size": spec.downsample_hidden_size,
        },
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": spec.text_hidden,
            "intermediate_size": spec.text_intermediate,
            "num_hidden_layers": spec.text_layers,
            "num_attention_heads": spec.text_heads,
            "num_key_value_heads": spec.text_kv_heads,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "tie_word_embeddings": True,
        },
        num_labels=spec.num_labels,
        audio_token_id=ids("<|audio_pad|>"),
        timestamp_token_id=ids("<timestamp>"),
        pad_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
    )


def build_tiny_aligner(out_dir: str | Path, spec: TinySpec | None = None) -> Path:
    """Write a tiny aligner (model, tokenizer, processor, template) to `out_dir`, atomically.

    Built in a temporary sibling folder and renamed into place, so a concurrent or
    interrupted build never leaves a half-written model where a loader would find it.
    """
    spec = spec or TinySpec()
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    processor = build_processor(spec)
    config = build_config(spec, processor.tokenizer)
    torch.manual_seed(spec.seed)
    model = Qwen3ASRForTokenClassification(config)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "alignadapt_tiny.json").write_text(json.dumps(asdict(spec), indent=2))
        try:
            os.rename(tmp, out_dir)
        except OSError:  # another process finished first: theirs is as good as ours
            if not (out_dir / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


class TinyAlignerModule(AlignerModule):
    """The LightningModule on a tiny aligner that is built at `pretrained` on first use
    (`model=tiny`, the demo pretraining): `tiny` holds the `TinySpec` sizes."""

    def __init__(self, pretrained: str, tiny: dict | None = None, **kwargs):
        if not Path(pretrained).exists():
            build_tiny_aligner(pretrained, TinySpec(**(tiny or {})))
        super().__init__(pretrained=pretrained, **kwargs)
