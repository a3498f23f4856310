"""Sub-class decoding, windowed alignment of long recordings, and loading every model form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignadapt.data.audio import SAMPLE_RATE
from alignadapt.inference.aligner import Aligner, AlignerSettings, windowed_alignment
from alignadapt.model.decoding import Decoded, decode, decode_argmax
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


def stand_in(truth: np.ndarray, collapse_s: float):
    """An aligner that is exact inside its window and collapses past `collapse_s` into it
    (what the real model does after ~270 s); words past the window's end pile up there."""

    def align_window(start: float, end: float, first: int, count: int) -> dict[str, Decoded]:
        rel = truth[first : first + count] - start
        rel = np.clip(rel, 0.0, min(collapse_s, end - start))
        return {"argmax": Decoded(rel.ravel(), 0, np.ones(2 * count), np.zeros(2 * count, bool))}

    return align_window


def seven_minute_truth(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t, spans = 0.3, []
    while t < 419.0:
        length = rng.uniform(0.15, 0.6)
        spans.append((t, t + length))
        t += length + rng.uniform(0.05, 0.4)
    return np.array(spans)


def test_windowing_keeps_errors_at_the_end_of_a_7_minute_recording_as_low_as_at_the_start():
    truth = seven_minute_truth()
    duration = 420.0
    n = len(truth)
    one_call = windowed_alignment(duration, n, stand_in(truth, 270.0), 420.0, 2.0, 8.0)
    windowed = windowed_alignment(duration, n, stand_in(truth, 270.0), 240.0, 2.0, 8.0)

    def mean_error_ms(result, lo: float, hi: float) -> float:
        sel = (truth[:, 0] >= lo) & (truth[:, 0] < hi)
        return float(np.abs(result.decoded["argmax"].spans[sel] - truth[sel]).mean() * 1000)

    # one call over 7 minutes: the last minute collapses onto 270 s (the failure it guards)
    assert mean_error_ms(one_call, 360, 420) > 60_000
    # window by window: the end is as good as the start (the stand-in is exact in a window)
    assert mean_error_ms(windowed, 0, 60) == pytest.approx(0.0, abs=1e-6)
    assert mean_error_ms(windowed, 360, 420) == pytest.approx(0.0, abs=1e-6)
    assert len(windowed.decoded["argmax"].times) == 2 * n
    assert len(windowed.windows) == 2
    assert all(w.start + 240.0 >= windowed.windows[-1].start for w in windowed.windows)
    assert windowed.windows[1].start == pytest.approx(truth[windowed.windows[0].kept - 1, 1])


def test_aligner_windows_long_audio_within_what_the_classes_express(tiny_dir, processor):
    model, proc = load_for_inference(tiny_dir)
    aligner = Aligner(
        model,
        proc,
        AlignerSettings(decodings=["argmax", "subclass"], window=240.0, window_margin=2.0),
    )
    assert aligner.window_s == pytest.approx(199 * 0.08)  # tiny model: 200 classes of 80 ms
    seen: list[int] = []
    original = aligner.slot_logits

    def spy(audios, units):
        seen.extend(len(a) for a in audios)
        return original(audios, units)

    aligner.slot_logits = spy
    rng = np.random.default_rng(0)
    long_audio = (rng.standard_normal(40 * SAMPLE_RATE) * 0.05).astype(np.float32)
    short_audio = long_audio[: 3 * SAMPLE_RATE]
    units = ["the", "patient", "presents"] * 30
    long_res, short_res = aligner.align([long_audio, short_audio], [units, units[:3]])
    assert max(seen) <= aligner.window_s * SAMPLE_RATE + 1
    for res, n in ((long_res, 90), (short_res, 3)):
        for dec in res.decoded.values():
            assert dec.times.shape == (2 * n,)
            assert np.all(np.diff(dec.times) >= 0)
            assert dec.confidence.shape == (2 * n,)


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
