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

import numpy as np
import torch
from transformers import (
    Qwen2Tokenizer,
    Qwen3ASRConfig,
    Qwen3ASRFeatureExtractor,
    Qwen3ASRForTokenClassification,
    Qwen3ASRProcessor,
)

from ..model.architecture import REAL_DIR, build_tokenizer
from ..model.prompt import unwrap
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
    # Mel frames in half an encoder chunk. The real model's 50 gives 1 s chunks whose
    # sinusoidal positions restart every 13 tokens; 1600 makes a whole 32 s call one chunk,
    # so audio token k carries the absolute position k (80 ms a token, the class width).
    n_window: int = 50
    # The audio front end's output norm over the positions' norm at initialisation (see
    # `init_front_end`); 0 keeps transformers' N(0, 0.02) init, under which a fresh front end
    # is about 1,000 times quieter than the positions it is added to.
    front_end_ratio: float = 1.0


def build_processor(spec: TinySpec) -> Qwen3ASRProcessor:
    return Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(n_window=spec.n_window),
        tokenizer=build_tokenizer(spec.vocab_size),
        chat_template=FORCED_ALIGNER_TEMPLATE,
    )


def chunk_tokens(n_window: int) -> int:
    """Audio tokens in one full encoder chunk of 2 x n_window mel frames (13 for the real 50)."""
    frames = 2 * n_window
    for _ in range(3):  # three stride-2 convolutions
        frames = (frames - 1) // 2 + 1
    return frames


def reference_features(processor: Qwen3ASRProcessor, seconds: float = 4.0) -> torch.Tensor:
    """Log-mel features, (1, mel bins, frames), of a fixed speech-like signal: a voiced
    harmonic sound with a moving pitch and a syllable-rate envelope over a little noise. What
    the front end's initial scale is measured on, so the same spec gives the same model."""
    rate = processor.feature_extractor.sampling_rate
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2  # four syllables a second
    noise = np.random.default_rng(0).normal(0, 0.01, len(t))
    signal = (0.1 * envelope * voiced + noise).astype(np.float32)
    features = processor.feature_extractor(
        signal, sampling_rate=rate, return_tensors="pt", n_window=0
    )["input_features"]
    return features


def front_end(encoder, features: torch.Tensor) -> torch.Tensor:
    """What the audio encoder's convolutions hand its layers before positions are added:
    (tokens, d_model) for features (1, mel bins, frames), one chunk of any length."""
    x = features[:, None]  # (1, 1, mel, frames)
    for conv in (encoder.conv2d1, encoder.conv2d2, encoder.conv2d3):
        x = torch.nn.functional.gelu(conv(x))
    _, channels, bins, steps = x.shape
    return encoder.conv_out(x.permute(0, 3, 1, 2).reshape(steps, channels * bins))


def audio_position_ratio(model, features: torch.Tensor) -> float:
    """Mean norm of the front end's output per audio token over the norm of the sinusoidal
    position added to it (sqrt(d_model / 2) for every position). Near 0, the encoder's layers
    see positions and nothing of the audio: a model trained from there learns to ignore it."""
    encoder = unwrap(model).model.audio_tower
    with torch.no_grad():
        audio = front_end(encoder, features).norm(dim=-1).mean()
        position = encoder.positional_embedding.positional_embedding.norm(dim=-1).mean()
    return float(audio / position)


def init_front_end(model, processor: Qwen3ASRProcessor, ratio: float, seed: int) -> float:
    """Re-initialise the audio front end (three convolutions and `conv_out`) with fan-in
    scaling and set its output to `ratio` times the positions' norm on `reference_features`.

    transformers initialises every weight N(0, 0.02): right for a checkpoint that overwrites
    them, wrong for training from scratch, where the front end's output starts about 1,000
    times quieter than the positions added to it and the first demo base never learned to
    hear (its timestamps did not change with silence for audio). Equal norms (ratio 1) give
    the audio and the positions the same say in the first layer. Returns the ratio reached.
    """
    encoder = model.model.audio_tower
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for conv in (encoder.conv2d1, encoder.conv2d2, encoder.conv2d3):
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=generator)
            torch.nn.init.zeros_(conv.bias)
        torch.nn.init.kaiming_normal_(
            encoder.conv_out.weight, nonlinearity="linear", generator=generator
        )
        features = reference_features(processor)
        encoder.conv_out.weight.mul_(ratio / audio_position_ratio(model, features))
    return audio_position_ratio(model, features)


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
            "n_window": spec.n_window,
            # attention windows are whole chunks: with one chunk a call, the whole call
            "n_window_infer": max(800, 2 * spec.n_window),
            "max_position_embeddings": chunk_tokens(spec.n_window),
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
    if spec.front_end_ratio > 0:
        init_front_end(model, processor, spec.front_end_ratio, spec.seed)
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
