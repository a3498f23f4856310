"""The one prompt: text to units, units and audio to model inputs, model outputs to slot logits.

Training, validation, evaluation, pseudo-labelling and alignment all go through here, so the
prompt the model was trained on is the prompt it is asked with, and a fix to how inputs reach
the model (dtype, device, language names) is made once.

- `language_name`: ISO codes and names, any case, to the name the processor's splitters know.
- `split_units`: the aligner's units for a transcript, as the official aligner cuts them: the
  processor's splitter, except Korean, which the official code scores with its word dictionary.
- `unit_breaks`: which units a clause or sentence ends on (punctuation after them in the
  text), the evidence long recordings use to find where an unspoken sentence was left out.
- `build_inputs`: the chat-template prompt for a batch of (audio, units), cast to the model's
  dtype and device.
- `slot_logits`: the head applied at the `<timestamp>` slots only (one row per slot).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from transformers import Qwen3ASRProcessor
from transformers.models.qwen3_asr.processing_qwen3_asr import (
    FORCED_ALIGNER_LANGUAGES,
    LANGUAGE_CODE_TO_NAME,
)

SAMPLE_RATE = 16_000  # Hz: the feature extractor's rate; every audio reaches the model at it
MODEL_INPUTS = ("input_ids", "attention_mask", "input_features", "input_features_mask")
FLOAT_INPUTS = ("input_features",)  # cast to the model's dtype; ids and masks stay integer

_NAMES = {name.lower(): name for name in LANGUAGE_CODE_TO_NAME.values()}
_NAMES.update({name.lower(): name for name in FORCED_ALIGNER_LANGUAGES})


def language_name(language: str | None) -> str | None:
    """The processor's name for a language given as an ISO code or a name, in any case.

    `ja`, `JA` and `japanese` all give `Japanese`; an unknown value comes back as it is (the
    validator reports it), and None or "" give None (no language: the default splitter).
    """
    if not language:
        return None
    key = language.strip().lower()
    if key in LANGUAGE_CODE_TO_NAME:
        return LANGUAGE_CODE_TO_NAME[key]
    return _NAMES.get(key, language)


def is_supported_language(language: str | None) -> bool:
    name = language_name(language)
    return name is None or name in FORCED_ALIGNER_LANGUAGES


def split_units(processor: Qwen3ASRProcessor, text: str, language: str | None) -> list[str]:
    """The aligner's units for a transcript, exactly as the official aligner makes them.

    Codes and names both reach the right splitter (`ja` and `Japanese` give nagisa's words).
    Every language but Korean is the processor's own splitter, which matches the official
    one (tested on recorded official splits); Korean is `korean_units`.
    """
    name = language_name(language)
    if name == "Korean":
        return korean_units(text)
    return processor.split_words_for_alignment(text, name)


BREAK_MARKS = frozenset(".!?;:,…。！？；：，、")  # a clause or a sentence ends here


def unit_breaks(text: str, units: Sequence[str]) -> np.ndarray:
    """For each unit, whether a clause or sentence mark follows it in `text` before the next
    unit (the last unit always ends one). Units are found in the text by their characters in
    order; if they cannot be (a splitter that rewrote the text), no unit but the last is a
    break, which is what a transcript without punctuation gives too."""
    breaks = np.zeros(len(units), dtype=bool)
    if not len(units):
        return breaks
    breaks[-1] = True
    pos, lowered = 0, text.lower()
    for i, unit in enumerate(units):
        for char in unit.lower():
            found = lowered.find(char, pos)
            if found < 0:
                breaks[:-1] = False
                return breaks
            pos = found + 1
        if i + 1 < len(units):
            nxt = lowered.find(units[i + 1][:1].lower(), pos)
            between = lowered[pos : nxt if nxt >= 0 else len(lowered)]
            breaks[i] = any(c in BREAK_MARKS for c in between)
    return breaks


def _kept(char: str) -> bool:
    """Letters, numbers and the apostrophe survive in a unit; the rest (punctuation) goes."""
    return char == "'" or unicodedata.category(char)[0] in "LN"


@lru_cache(maxsize=1)
def _korean_tokenizer():
    try:
        from soynlp.tokenizer import LTokenizer
    except ImportError as err:
        raise ImportError(
            "Korean units need soynlp: pip install 'alignadapt[ko]' (make install does)"
        ) from err
    from .korean_dict import korean_scores

    return LTokenizer(scores=korean_scores())


def korean_units(text: str) -> list[str]:
    """Korean units as the official aligner cuts them: soynlp's LTokenizer scored with the
    official word dictionary (`korean_dict.py`), punctuation dropped, empty units left out.

    transformers' splitter uses an unscored LTokenizer, which keeps `날씨가` whole where the
    model learned `날씨` + `가`.
    """
    units = ("".join(c for c in token if _kept(c)) for token in _korean_tokenizer().tokenize(text))
    return [u for u in units if u]


def build_inputs(
    processor: Qwen3ASRProcessor,
    audios: Sequence[np.ndarray],
    unit_lists: Sequence[Sequence[str]],
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs for a batch from already-split units (the prompt the aligner expects).

    The conversation is the one `processor.prepare_forced_aligner_inputs` builds, rendered
    with the checkpoint's chat template, but the units come from the one split made when the
    line was read, so labels and prompt never disagree. Float inputs are cast to `dtype` (the
    model's: a bf16 model gets bf16 features) and everything moves to `device`.

    A recording gets the same inputs whatever it is batched with: the processor gives a
    shorter recording in a batch one more feature frame (its length rounded up to a hop, not
    down) and log-mel features of the padding past its end, where alone it has zeros, and
    the audio encoder's convolutions see them (the trained demo base's logits moved by up to
    1.2). So audio is padded to whole hops (under 10 ms of silence) and features past each
    recording's own frames are zeroed: alone or batched, logits agree to 1e-3.
    """
    hop = processor.feature_extractor.hop_length
    audios = [np.pad(audio, (0, -len(audio) % hop)) for audio in audios]
    conversations = [
        [
            {
                "role": "user",
                "content": [
                    {"type": "audio", "audio": audio},
                    *({"type": "text", "text": u} for u in units),
                ],
            }
        ]
        for audio, units in zip(audios, unit_lists, strict=True)
    ]
    rendered = processor.apply_chat_template(
        conversations,
        tokenize=True,
        return_dict=True,
        # the model's chunk size, saved with its feature extractor. It must travel in
        # audio_kwargs: the processor's own default (50) wins over the feature extractor's,
        # and an `n_window` directly in processor_kwargs is dropped with a warning.
        processor_kwargs={
            "sampling_rate": SAMPLE_RATE,
            "audio_kwargs": {"n_window": processor.feature_extractor.n_window},
        },
    )
    features, frames = rendered["input_features"], rendered["input_features_mask"]
    rendered["input_features"] = features * frames[:, None, :].to(features.dtype)
    return to_model(rendered, dtype, device)


def to_model(
    batch, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> dict[str, torch.Tensor]:
    """The model's inputs of a batch, float features in `dtype`, all on `device`."""
    out = {}
    for key in MODEL_INPUTS:
        value = batch[key]
        if dtype is not None and key in FLOAT_INPUTS:
            value = value.to(dtype)
        out[key] = value.to(device) if device is not None else value
    return out


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The Qwen3ASRForTokenClassification inside any peft wrapping."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype inputs must have: the audio tower's first weights (what the features meet)."""
    return next(unwrap(model).model.audio_tower.parameters()).dtype


def slot_logits(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    timestamp_token_id: int,
    dropout: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at the `<timestamp>` slots only, (slots in the batch, num_labels), and the mask.

    The head is applied where it is needed, not at every position: at the real model's 5000
    classes, full-sequence logits would dominate activation memory. `dropout` applies the
    head's dropout first, as transformers' forward does in training.
    """
    hidden = decoder_states(model, inputs)
    return head_logits(model, hidden, inputs, timestamp_token_id, dropout)


def decoder_states(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The decoder's last hidden states at every position, (batch, sequence, hidden)."""
    return unwrap(model).model(**{k: inputs[k] for k in MODEL_INPUTS}).last_hidden_state


def head_logits(
    model: torch.nn.Module,
    hidden: torch.Tensor,
    inputs: dict[str, torch.Tensor],
    timestamp_token_id: int,
    dropout: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`slot_logits` from decoder states already computed (a caller that also uses them)."""
    core = unwrap(model)
    mask = inputs["input_ids"] == timestamp_token_id
    slots = hidden[mask]
    if dropout:
        slots = core.dropout(slots)
    return core.score(slots), mask
