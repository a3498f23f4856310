"""Sub-class decoding and loading every model form (long recordings: test_long.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignadapt.data.audio import SAMPLE_RATE
from alignadapt.inference.aligner import Aligner
from alignadapt.model.decoding import decode, decode_argmax
from alignadapt.model.reference import load_for_inference

from .adapters import random_adapter


def peaked_logits(classes: list[tuple[int, int | None]], num_labels: int = 50) -> torch.Tensor:
    """One slot per entry: all mass on class a, or split evenly between a and b."""
    logits = torch.full((len(classes), num_labels), -1e4)
    for i, (a, b) in enumerate(classes):
        logits[i, a] = 0.0
        if b is not None:
            logits[i, b] = 0.0
    return logits


def test_subclass_decoding_reads_between_classes_and_keeps_repaired_slots():
    # slot 0: mass split 10/11 -> 10.5 classes; slot 2: an outlier the repair snaps to its left
    # neighbour (kept there by sub-class decoding too); slot 4: 20/21 -> 20.5
    logits = peaked_logits([(10, 11), (12, None), (40, None), (13, None), (20, 21)])
    arg = decode_argmax(logits, 80.0)
    sub = decode(logits, 80.0, "subclass")
    assert np.round(arg.times * 1000).tolist() == [800, 960, 960, 1040, 1600]
    assert arg.repaired == 1 and sub.repaired == 1
    assert np.round(sub.times * 1000, 3).tolist() == [840.0, 960.0, 960.0, 1040.0, 1640.0]
    assert np.round(arg.confidence, 3).tolist() == [0.5, 1.0, 1.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="argmax, subclass"):
        decode(logits, 80.0, "beam")


def test_adapter_and_checkpoint_load_to_the_same_model(tiny_dir, tmp_path):
    """A train.py checkpoint (trainable weights only, weights_only=True) equals its adapter."""
    from alignadapt.training.module import AlignerModule

    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    module = AlignerModule(
        pretrained=str(tiny_dir),
        lora={"name": "decoder_attn"},
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
    )
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(module.net, load_file(adapter / "adapter_model.safetensors"))
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "last.ckpt")

    audio = (np.random.default_rng(1).standard_normal(2 * SAMPLE_RATE) * 0.05).astype(np.float32)
    units = [["the", "patient", "presents"]]
    outs = {}
    for name, source in (
        ("base", tiny_dir),
        ("adapter", adapter),
        ("ckpt", tmp_path / "last.ckpt"),
    ):
        model, proc = load_for_inference(source)
        outs[name] = Aligner(model, proc).slot_logits([audio], units)[0]
    torch.testing.assert_close(outs["ckpt"], outs["adapter"])
    assert not torch.allclose(outs["base"], outs["adapter"], atol=1e-3)


def test_validation_decodes_with_the_configured_decoding(tiny_dir):
    from alignadapt.training.module import AlignerModule

    def make(decoding: str) -> AlignerModule:
        return AlignerModule(
            pretrained=str(tiny_dir),
            lora={"name": "decoder_attn"},
            optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
            decoding=decoding,
        )

    logits = peaked_logits([(10, 11), (12, None)] * 2)
    mask = torch.ones(2, 2, dtype=torch.bool)
    sub = make("subclass").decode_batch(logits, mask)
    assert [np.round(d.times * 1000, 3).tolist() for d in sub] == [[840.0, 960.0]] * 2
    arg = make("argmax").decode_batch(logits, mask)
    assert [np.round(d.times * 1000).tolist() for d in arg] == [[800, 960]] * 2
    with pytest.raises(ValueError, match="model.decoding"):
        make("beam")


def test_ctc_has_frames_enough_to_spell_fast_speech(tiny_dir):
    """Five text tokens on two 80 ms audio tokens: at one CTC frame a token the path is
    impossible and `zero_infinity` turns the loss into 0 (no gradient at all); at four
    frames a token the loss is finite and reaches the decoder's states."""
    from alignadapt.training.module import AlignerModule

    def make(frames: int) -> AlignerModule:
        torch.manual_seed(0)
        return AlignerModule(
            pretrained=str(tiny_dir),
            lora={"name": "decoder_attn"},
            optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
            ctc_weight=0.3,
            ctc_frames=frames,
        )

    one = make(1)
    text = [
        t
        for t in one.processor.tokenizer("the patient presents")["input_ids"]
        if t not in one._special_ids.tolist()
    ][:5]
    assert len(text) == 5
    ids = torch.tensor([[one.audio_token_id] * 2 + text])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    hidden = torch.randn(1, ids.shape[1], one.ctc_head.in_features, requires_grad=True)
    assert one.ctc_loss(hidden, inputs).item() == 0.0
    four = make(4)
    assert four.ctc_head.out_features == 4 * one.ctc_head.out_features
    loss = four.ctc_loss(hidden, inputs)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert hidden.grad[0, :2].abs().sum() > 0 and hidden.grad[0, 2:].abs().sum() == 0


def test_frame_targets_name_the_tokens_spoken_at_each_audio_token(tmp_path):
    """Audio token k is class k: a unit from class 1 to 3 marks tokens 1 and 2 with its text
    tokens, a zero-length unit still marks its start, silence and unlabelled units mark
    nothing; the loss reaches only the audio tokens' states."""
    from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
    from alignadapt.training.module import AlignerModule

    one_chunk = build_tiny_aligner(tmp_path / "tiny-800", TinySpec(n_window=800))  # 16 s calls
    torch.manual_seed(0)
    module = AlignerModule(
        pretrained=str(one_chunk),
        lora={"name": "decoder_attn"},
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        frame_weight=1.0,
    )
    tok = module.processor.tokenizer
    special = module._special_ids.tolist()
    a, b, c = (
        [t for t in tok(w)["input_ids"] if t not in special] for w in ("the", "patient", "x")
    )
    ts, audio = module.timestamp_token_id, module.audio_token_id
    ids = [audio] * 6 + a + [ts, ts] + b + [ts, ts] + c + [ts, ts]
    labels = [-100] * len(ids)
    slots = [i for i, t in enumerate(ids) if t == ts]
    for slot, cls in zip(slots, [1, 3, 4, 4, -100, -100], strict=True):
        labels[slot] = cls
    target = module.frame_targets(torch.tensor([ids]), torch.tensor([labels]))
    assert target.shape == (6, module.frame_head.out_features)
    marked = [sorted(torch.nonzero(row).squeeze(1).tolist()) for row in target]
    assert marked == [[], sorted(set(a)), sorted(set(a)), [], sorted(set(b)), []]
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids))}
    hidden = torch.randn(1, len(ids), module.frame_head.in_features, requires_grad=True)
    module.frame_loss(hidden, inputs, torch.tensor([labels])).backward()
    assert hidden.grad[0, :6].abs().sum(dim=1).gt(0).all() and hidden.grad[0, 6:].abs().sum() == 0
