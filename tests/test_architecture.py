"""The real architecture built from the shipped configuration files, no download.

Full depth on the meta device for counts; 1 decoder + 1 encoder layer at real width (1024,
5000 classes, the released token ids) with random weights on CPU for a bf16-mixed LoRA step,
a resume, and bf16 inference through the same Aligner users run.

With the hub reachable, compare the shipped files with the real ones:
`huggingface-cli download Qwen/Qwen3-ForcedAligner-0.6B-hf config.json processor_config.json
chat_template.jinja`, then `test_shipped_config_is_the_released_architecture` on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from alignadapt.inference.aligner import Aligner, AlignerSettings
from alignadapt.model.architecture import (
    REAL_DIR,
    REAL_PARAMETERS,
    RELEASED_IDS,
    build_real_aligner,
    meta_aligner,
    real_config,
    real_processor,
)
from alignadapt.model.lora import LoraSpec, apply_lora, count_parameters
from alignadapt.model.prompt import build_inputs
from alignadapt.training.run import train

from .conftest import CONF, compose_train

# Trained parameters of each preset on the full 0.6B model.
PRESET_TRAINED = {
    "decoder_attn": 2_293_760,  # 28 layers x q/k/v/o, r=8
    "decoder_attn_mlp": 5_046_272,
    "decoder_audio": 5_832_704,
    "decoder_attn_head": 2_293_760 + 5000 * 1024,  # + the whole score head
    "none": REAL_PARAMETERS,
}


@pytest.fixture(scope="session")
def real_dir(shared_dir) -> Path:
    return build_real_aligner(shared_dir / "cache" / "real-1layer", layers=1, audio_layers=1)


def test_shipped_config_is_the_released_architecture():
    config = real_config()
    text, audio = config.text_config, config.audio_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (1024, 28, 16)
    assert (text.num_key_value_heads, text.head_dim, text.vocab_size) == (8, 128, 152_064)
    assert text.rope_parameters["rope_theta"] == 1_000_000
    assert (audio.d_model, audio.encoder_layers, audio.n_window, audio.n_window_infer) == (
        1024,
        24,
        50,
        800,
    )
    assert (config.num_labels, config.timestamp_segment_time) == (5000, 80)
    assert (config.audio_token_id, config.timestamp_token_id) == (151_676, 151_705)
    assert {p.name for p in REAL_DIR.iterdir()} >= {
        "config.json",
        "processor_config.json",
        "chat_template.jinja",
        "tokenizer_config.json",
    }


@pytest.mark.parametrize("preset", sorted(PRESET_TRAINED))
def test_full_depth_counts_917_7_m_and_each_presets_trained_parameters(preset):
    model = meta_aligner()
    assert sum(p.numel() for p in model.parameters()) == REAL_PARAMETERS == 917_728_896
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "lora" / f"{preset}.yaml"))
    spec = LoraSpec(**{k: v for k, v in raw.items() if k != "defaults"})
    trained, total = count_parameters(apply_lora(model.requires_grad_(False), spec))
    assert trained == PRESET_TRAINED[preset]


def test_prompt_is_what_the_real_chat_template_and_the_official_code_produce():
    processor = real_processor()
    units = ["the", "patient", "presents"]
    audio = np.zeros(2 * 16000, dtype=np.float32)
    conversation = [
        {
            "role": "user",
            "content": [
                {"type": "audio", "audio": audio},
                *({"type": "text", "text": u} for u in units),
            ],
        }
    ]
    rendered = processor.apply_chat_template([conversation], tokenize=False)[0]
    # the official code (qwen_asr/inference/qwen3_forced_aligner.py, encode_timestamp)
    official = "<|audio_start|><|audio_pad|><|audio_end|>" + "<timestamp><timestamp>".join(units)
    assert rendered == official + "<timestamp><timestamp>"

    inputs = build_inputs(processor, [audio], [units], torch.bfloat16)
    ids = inputs["input_ids"][0].tolist()
    tokenizer = processor.tokenizer
    n_audio = ids.count(RELEASED_IDS["<|audio_pad|>"])
    assert n_audio == 26  # 2 s at 13 audio tokens a second
    expected = [RELEASED_IDS["<|audio_start|>"], *[RELEASED_IDS["<|audio_pad|>"]] * n_audio]
    expected.append(RELEASED_IDS["<|audio_end|>"])
    for unit in units:
        expected += tokenizer.encode(unit, add_special_tokens=False) + [151_705, 151_705]
    assert ids == expected
    assert inputs["input_features"].dtype == torch.bfloat16


@pytest.mark.slow
def test_bf16_mixed_lora_step_resume_and_bf16_inference_at_real_width(
    real_dir, tmp_path, shared_dir, corpus
):
    def run(out: Path, steps: int, extra: list[str] = ()):
        cfg = compose_train(
            [
                "model=qwen3_fa_0.6b",
                f"model.pretrained={real_dir}",
                "trainer=cpu",
                "trainer.precision=bf16-mixed",
                "data=synthetic",
                "data.num_workers=0",
                "data.batch_size=2",
                "logger=csv",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "trainer.max_epochs=-1",
                "trainer.check_val_every_n_epoch=null",
                f"trainer.max_steps={steps}",
                f"trainer.val_check_interval={steps}",
                "+trainer.limit_val_batches=1",
                "test=false",
                *extra,
            ],
            out,
            shared_dir,
        )
        return train(cfg)

    first = run(tmp_path / "first", 1)
    ckpt = torch.load(first.outputs["run"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 1
    keys = list(ckpt["state_dict"])
    assert len(keys) == 8 and all(".lora_" in k for k in keys)  # 1 layer x q/k/v/o x (A, B)
    assert np.isfinite(first.metrics["train/loss"])
    resumed = run(
        tmp_path / "second", 2, [f"ckpt_path={first.outputs['run'] / 'checkpoints' / 'last.ckpt'}"]
    )
    again = torch.load(resumed.outputs["run"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert again["global_step"] == 2 and again["lr_schedulers"][0]["last_epoch"] == 2

    aligner = Aligner.load(
        str(resumed.outputs["adapter"]), settings=AlignerSettings(dtype="bfloat16")
    )
    assert next(aligner.model.parameters()).dtype == torch.bfloat16
    record = json.loads(Path(corpus["test"]).read_text().splitlines()[0])
    units = record["text"].split()
    audio = np.zeros(3 * 16000, dtype=np.float32)
    (result,) = aligner.align([audio], [units])
    times = result.decoded["argmax"].times
    assert times.shape == (2 * len(units),) and (np.diff(times) >= 0).all()
