"""What alignadapt relies on in transformers' qwen3_asr, checked by name, so that a release that
renames a processor output (transformers' main branch is moving to `audio_features` /
`audio_features_mask`) or a method fails here, not silently in a user's run.

pyproject.toml pins transformers to the release this suite ran on; raise the pin only after
this file passes on the new one."""

from __future__ import annotations

import inspect
import re

import numpy as np
import torch
import transformers
from transformers.models.qwen3_asr import processing_qwen3_asr

from alignadapt.model.architecture import meta_aligner, real_processor
from alignadapt.model.prompt import MODEL_INPUTS, build_inputs

from .conftest import ROOT


def test_installed_transformers_is_the_pinned_release():
    pin = re.search(r'"transformers==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml must pin transformers to the tested release (==X.Y.Z)"
    assert transformers.__version__ == pin.group(1)


def test_processor_outputs_the_keys_the_model_inputs_are_read_from():
    processor = real_processor()
    audio = np.zeros(16_000, dtype=np.float32)
    inputs = build_inputs(processor, [audio], [["hello", "world"]])
    assert tuple(inputs) == MODEL_INPUTS
    assert MODEL_INPUTS == (
        "input_ids",
        "attention_mask",
        "input_features",
        "input_features_mask",
    )
    assert sorted(processor.model_input_names) == sorted(MODEL_INPUTS)
    batch, units = processor.prepare_forced_aligner_inputs(audio, "hello world", "English")
    assert sorted(batch) == sorted(MODEL_INPUTS) and units == [["hello", "world"]]
    # the model's forward takes them by these names
    forward = inspect.signature(type(meta_aligner(layers=1, audio_layers=1).model).forward)
    assert set(MODEL_INPUTS) <= set(forward.parameters)


def test_processor_methods_and_attributes_alignadapt_calls():
    processor = real_processor()
    assert processor.timestamp_segment_time == 80  # ms per class
    assert processor.feature_extractor.hop_length == 160  # samples: 100 frames a second
    assert processor.split_words_for_alignment("Hello, world!", "English") == ["Hello", "world"]
    assert processor.split_words_for_alignment("你好", None) == ["你", "好"]
    params = inspect.signature(processor.decode_forced_alignment).parameters
    assert list(params)[:4] == ["logits", "input_ids", "word_lists", "timestamp_token_id"]
    assert "processor_kwargs" in inspect.signature(processor.apply_chat_template).parameters
    assert processing_qwen3_asr.LANGUAGE_CODE_TO_NAME["ja"] == "Japanese"
    assert {"Japanese", "Korean", "English"} <= set(processing_qwen3_asr.FORCED_ALIGNER_LANGUAGES)
    assert processing_qwen3_asr._is_cjk_char("中") and not processing_qwen3_asr._is_cjk_char("a")


def test_model_methods_and_modules_alignadapt_uses():
    model = meta_aligner(layers=1, audio_layers=1)
    # training turns checkpointing on by transformers 5's name (the old one is its alias)
    assert callable(model.activation_checkpointing_enable)
    assert callable(model.gradient_checkpointing_enable)
    core = model.model
    for name in ("audio_tower", "language_model", "multi_modal_projector"):
        assert isinstance(getattr(core, name), torch.nn.Module), name
    assert isinstance(model.score, torch.nn.Linear) and model.score.out_features == 5000
    # the generic token-classification head's dropout, which training sets to the release's 0
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == 0.1
    from transformers.initialization import no_init_weights  # random_aligner's fast init

    assert callable(no_init_weights)
