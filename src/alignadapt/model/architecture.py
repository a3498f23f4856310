"""The real Qwen3-ForcedAligner-0.6B architecture, built here from shipped configuration files.

`qwen3_forced_aligner_0.6b_hf/` beside this module holds the converted `-hf` checkpoint's
configuration (config.json, processor_config.json with the feature-extractor settings,
chat_template.jinja, tokenizer_config.json); its README says where each value comes from.
From them, with no download:

- `real_config(layers, audio_layers)`: the released config, at any depth;
- `meta_aligner(...)`: the architecture with no weights (parameter counts, LoRA targets);
- `build_real_aligner(dir, layers, audio_layers)`: a model directory with random weights at
  real width (memory, speed, bf16 and training checks; `make gpu-check`), loaded through the
  same `load_aligner` path as the real checkpoint. Its tokenizer is a stand-in (a byte-level
  BPE with the released special tokens at their released ids): the real vocabulary is not
  shipped, and random weights do not care which text a token holds.

`build_tokenizer` is the one tokenizer builder (the tiny demo aligner uses it too).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    Qwen2Tokenizer,
    Qwen3ASRConfig,
    Qwen3ASRFeatureExtractor,
    Qwen3ASRForTokenClassification,
    Qwen3ASRProcessor,
)

REAL_DIR = Path(__file__).parent / "qwen3_forced_aligner_0.6b_hf"
REAL_FILES = (
    "config.json",
    "processor_config.json",
    "chat_template.jinja",
    "tokenizer_config.json",
)
REAL_PARAMETERS = 917_728_896  # the full-depth architecture (917.7 M)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<timestamp>",
]
# Their ids in the released Qwen3 tokenizer (config.json: audio_token_id, timestamp_token_id).
RELEASED_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|audio_start|>": 151669,
    "<|audio_end|>": 151670,
    "<|audio_pad|>": 151676,
    "<timestamp>": 151705,
}

# Enough English for a byte-level BPE to learn common merges; any text still tokenizes
# (every byte is in the alphabet).
TOKENIZER_CORPUS = (
    "the patient presents with acute chest pain and shortness of breath the court will now "
    "hear the motion to dismiss the defendant counsel objection sustained overruled the "
    "model aligns every word of the transcript with the audio start and end time of each "
    "word medical legal technical lecture hearing witness evidence diagnosis treatment "
    "cardiac renal hepatic pulmonary neurological infarction hypertension antibiotic "
    "one two three four five six seven eight nine ten hundred thousand percent dose "
)


def build_tokenizer(
    vocab_size: int = 400, special_ids: dict[str, int] | None = None
) -> Qwen2Tokenizer:
    """A byte-level BPE trained on a fixed corpus, wrapped as the Qwen2 tokenizer the processor
    wants. `special_ids` puts the special tokens at given ids (the gap filled with unused
    placeholder tokens); without it they follow the BPE vocabulary."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([TOKENIZER_CORPUS] * 4, trainer)
    state = json.loads(bpe.to_str())
    vocab = dict(state["model"]["vocab"])
    # Qwen2Tokenizer wants merges as pairs; tokenizers serialises them as pairs or "a b".
    merges = [
        tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]
    ]
    if special_ids:
        by_id = {i: t for t, i in special_ids.items()}
        for i in range(len(vocab), max(by_id) + 1):
            vocab[by_id.get(i, f"<|unused_{i}|>")] = i
    for token in SPECIAL_TOKENS:
        vocab.setdefault(token, len(vocab))
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "audio_token": "<|audio_pad|>",
            "audio_bos_token": "<|audio_start|>",
            "audio_eos_token": "<|audio_end|>",
        },
    )
    # Special tokens that also sit in the vocabulary must be *added* special tokens, or the
    # BPE splits them into bytes.
    tokenizer.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS], special_tokens=True
    )
    return tokenizer


def real_config(layers: int | None = None, audio_layers: int | None = None) -> Qwen3ASRConfig:
    """The released configuration; `layers` / `audio_layers` change only the depth of the
    text decoder / audio encoder (None: the released 28 / 24)."""
    config = Qwen3ASRConfig.from_json_file(str(REAL_DIR / "config.json"))
    if layers is not None:
        config.text_config.num_hidden_layers = layers
        config.text_config.layer_types = config.text_config.layer_types[:layers]
    if audio_layers is not None:
        config.audio_config.encoder_layers = audio_layers
    return config


def meta_aligner(
    config: Qwen3ASRConfig | None = None, layers: int | None = None, audio_layers: int | None = None
) -> Qwen3ASRForTokenClassification:
    """The architecture with no weights (meta device): for counting and target checks."""
    with torch.device("meta"):
        return Qwen3ASRForTokenClassification(config or real_config(layers, audio_layers))


def real_processor() -> Qwen3ASRProcessor:
    """The released feature-extractor settings and chat template, with the stand-in tokenizer."""
    settings = json.loads((REAL_DIR / "processor_config.json").read_text())
    extractor = dict(settings["feature_extractor"])
    extractor.pop("feature_extractor_type", None)
    return Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(**extractor),
        tokenizer=build_tokenizer(special_ids=RELEASED_IDS),
        chat_template=(REAL_DIR / "chat_template.jinja").read_text(),
    )


def random_aligner(
    config: Qwen3ASRConfig, seed: int = 0, dtype: torch.dtype = torch.float32
) -> Qwen3ASRForTokenClassification:
    """The architecture with random weights, made fast: matrices normal(0, initializer_range),
    norms one, biases zero. transformers' own initialisation takes tens of seconds at real
    width on a small CPU; the largest tables (the 152,064-row embedding) repeat one random
    block of rows, which no forward pass can tell from fresh draws for the tokens it reads."""
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = Qwen3ASRForTokenClassification(config)
    model = model.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    std = config.initializer_range
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif param.dim() == 1:
                param.fill_(1.0)
            elif param.numel() > 1 << 22:  # tile a 4096-row block
                block = torch.randn(4096, *param.shape[1:], generator=gen) * std
                rows = param.shape[0]
                param.copy_(block.repeat(-(-rows // 4096), *[1] * (param.dim() - 1))[:rows])
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    return model


def build_real_aligner(
    out_dir: str | Path,
    layers: int = 28,
    audio_layers: int = 24,
    seed: int = 0,
    dtype: torch.dtype = torch.bfloat16,
) -> Path:
    """Write the real architecture with random weights at real width to `out_dir`, atomically.

    Saved in bf16 like the released checkpoint; an existing directory is reused as it is.
    """
    out_dir = Path(out_dir)
    if (out_dir / "model.safetensors").exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    processor = real_processor()
    model = random_aligner(real_config(layers, audio_layers), seed, dtype)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for name in ("processor_config.json", "chat_template.jinja"):  # exactly the shipped files
            shutil.copyfile(REAL_DIR / name, tmp / name)
        (tmp / "alignadapt_random.json").write_text(
            json.dumps({"layers": layers, "audio_layers": audio_layers, "seed": seed}) + "\n"
        )
        try:
            os.rename(tmp, out_dir)
        except OSError:  # another process finished first
            if not (out_dir / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
