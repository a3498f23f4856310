"""The listening check (evaluation/listening.py): the swap that withholds the audio, the
figures, the loud callback, and models that pass or fail it: a fresh tiny aligner whose audio
is not drowned by its positions, a short run that must learn to listen, and the shipped base."""

import os

import numpy as np
import pytest
import torch

from alignadapt.demo.listening_probe import WIDE
from alignadapt.demo.tiny import (
    TinySpec,
    audio_position_ratio,
    build_tiny_aligner,
    reference_features,
)
from alignadapt.evaluation.listening import (
    MIN_RATIO,
    donor_audios,
    summarize_listening,
    verdict,
    withheld_features,
)
from alignadapt.model.loading import load_aligner

from .conftest import ROOT


def test_donor_audio_is_the_next_recording_at_this_length():
    a, b, c = np.arange(5.0), np.arange(10.0, 13.0), np.arange(20.0, 28.0)
    donors = donor_audios([a, b, c])
    assert donors[0].tolist() == [10, 11, 12, 10, 11]  # b repeated to a's length
    assert donors[1].tolist() == [20, 21, 22]  # c cut to b's length
    assert donors[2].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    (alone,) = donor_audios([a])
    assert alone.tolist() == [4, 3, 2, 1, 0]  # a batch of one: reversed in time


def test_withheld_features_swap_rows_and_keep_padding_zero():
    features = torch.arange(2 * 1 * 4, dtype=torch.float32).reshape(2, 1, 4) + 1
    frames = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    out = withheld_features(features, frames)
    assert out[0, 0].tolist() == [5, 6, 5, 0]  # row 1's two frames repeated to 3, then zeros
    assert out[1, 0].tolist() == [1, 2, 0, 0]  # row 0's first two frames
    alone = withheld_features(features[:1], frames[:1])
    assert alone[0, 0].tolist() == [3, 2, 1, 0]


def test_summary_and_verdict_say_loudly_when_a_model_is_deaf():
    errors, same = np.array([100.0, 300.0]), np.array([100.0, 300.0])
    deaf = summarize_listening(errors, same, changed=0, slots=2)
    assert deaf == {
        "aas_ms": 200.0,
        "aas_withheld_ms": 200.0,
        "ratio": 1.0,
        "changed_share": 0.0,
        "slots": 2,
        "listens": False,
    }
    assert "NOT LISTENING: base's timestamps" in verdict("base", deaf)
    hearing = summarize_listening(errors, 3 * errors, changed=2, slots=2)
    assert hearing["ratio"] == 3.0 and hearing["listens"]
    assert verdict("adapted", hearing) == (
        "adapted: AAS 200.0 ms with its audio, 600.0 ms with another recording's (3.00x); "
        "100% of boundaries moved"
    )


def test_fresh_tiny_aligner_hears_audio_as_loud_as_its_positions(tmp_path):
    """The front end's output per audio token is as large as the sinusoidal position added to
    it (ratio 1 on the reference signal). transformers' N(0, 0.02) init leaves it about 1,000
    times quieter: the encoder sees positions only, and the first demo base never learned to
    hear. On real speech the ratio stays within 0.3-3: neither drowns the other."""
    fixed = build_tiny_aligner(tmp_path / "fixed", TinySpec())
    model, processor = load_aligner(str(fixed))
    assert audio_position_ratio(model, reference_features(processor)) == pytest.approx(1.0, 1e-3)
    from alignadapt.demo.espeak import IsolatedEspeak  # in-process, it changes later tests' audio

    speech = IsolatedEspeak().synthesize("the patient presents with acute chest pain", "en-us")
    from alignadapt.data.audio import resample

    audio = resample(speech.audio, speech.sample_rate, 16000)
    features = processor.feature_extractor(audio, sampling_rate=16000, return_tensors="pt")
    assert 0.3 < audio_position_ratio(model, features["input_features"]) < 3.0
    default = build_tiny_aligner(tmp_path / "default", TinySpec(front_end_ratio=0.0))
    model, processor = load_aligner(str(default))
    assert audio_position_ratio(model, reference_features(processor)) < 0.01


def test_one_chunk_a_call_gives_one_audio_token_per_class(tmp_path):
    """n_window 1600: a whole 32 s call is one encoder chunk, 8 mel frames (80 ms) a token,
    and the prompt carries the model's n_window (not the processor's default 50)."""
    from alignadapt.model.prompt import build_inputs

    path = build_tiny_aligner(tmp_path / "abs", TinySpec(n_window=1600, num_labels=400))
    model, processor = load_aligner(str(path))
    assert model.config.audio_config.max_position_embeddings == 400
    audio = np.zeros(16000 * 10, np.float32)
    inputs = build_inputs(processor, [audio], [["a"]])
    assert inputs["input_features"].shape[-1] == 3200
    assert int((inputs["input_ids"] == model.config.audio_token_id).sum()) == 125  # 10 s / 80 ms
    model(**inputs)  # the encoder accepts it


@pytest.mark.slow
def test_shipped_base_listens():
    """The shipped demo base on unseen voices and sentences (the test side of the corpus) with
    silences its text and length cannot predict (0-3 s at the ends, pauses to 2.5 s):
    withholding its audio makes its error at least MIN_RATIO times worse. The first demo base
    scored 1.00 here, v3 2.81, v4 6.25 (104 / 652 ms), v5 9.06 (85 / 772 ms), v6 12.27 (66 / 811
    ms), v7 13.56 (59 / 801 ms). On the fixed test sets' narrow silences v7 is 2.0 to 7.6 a cell
    (make bench-demo; v6 2.1 to 8.1, v5 1.8 to 6.2, v4 1.3 to 3.8)."""
    from alignadapt.demo.espeak import IsolatedEspeak
    from alignadapt.demo.listening_probe import listening_errors, probe_set
    from alignadapt.inference.aligner import Aligner

    aligner = Aligner.load(str(ROOT / "models" / "demo-base"))
    probe = probe_set(IsolatedEspeak(), aligner.processor, 8, WIDE)
    found = listening_errors(aligner, probe, silence=False)
    errors, deaf = found["own"], found["swapped"]
    check = summarize_listening(errors * 1000, deaf * 1000, 0, errors.size)
    print(verdict("demo base", check))
    assert len(probe.audios) >= 6
    assert check["ratio"] >= MIN_RATIO, verdict("demo base", check)


@pytest.mark.slow
def test_validation_logs_listening_and_a_deaf_run_is_stopped(make_cfg, capsys):
    """val/ carries the check; with `stop`, a run under `min_ratio` ends at that validation and
    says why (here the bar is set out of reach, so the fresh model fails it)."""
    import csv

    from alignadapt.training.run import train

    overrides = [
        "trainer.max_epochs=-1",
        "trainer.check_val_every_n_epoch=null",
        "trainer.log_every_n_steps=1",
        "test=false",
        "trainer.max_steps=6",
        "trainer.val_check_interval=2",
        "callbacks.listening_check.min_ratio=100",
        "callbacks.listening_check.after_step=2",
        "callbacks.listening_check.stop=true",
        "trainer.min_epochs=null",  # Lightning stops no run before min_epochs (default 1)
    ]
    run = train(make_cfg(overrides)).outputs["run"]
    with open(run / "csv" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/listening")]
    assert [int(r["step"]) for r in rows] == [1]  # validated once (after 2 batches), stopped
    ratio = float(rows[0]["val/aas_withheld_ms"]) / float(rows[0]["val/aas_ms"])
    assert float(rows[0]["val/listening"]) == pytest.approx(ratio, rel=1e-5)
    assert 0.0 <= float(rows[0]["val/changed_share"]) <= 1.0
    assert "NOT LISTENING at step 2" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_run_where_only_the_audio_tells_the_times_learns_to_listen(make_cfg, tmp_path):
    """One tone word after 0-3 s of silence: its text and the call's length say nothing about
    where it is. After 300 steps from scratch (every weight trained; absolute audio positions,
    one chunk a call) the model's error with another recording's audio is at least twice its
    error with its own. Measured at 300 steps with the head's dropout at 0.1: 4.16x with this
    seed (227 / 943 ms), 1.42x and 4.49x with seeds 0 and 1; with dropout 0 (issue 26) 2.14x.
    A change of numerics may need this seed revisited, not the bar."""
    import csv

    from alignadapt.training.run import train

    overrides = [
        "lora=none",
        f"model.pretrained={tmp_path / 'tiny-absolute'}",
        "+model.tiny.n_window=800",  # 16 s chunks: the tiny model's whole 200-class call
        f"data.source.out_dir={tmp_path / 'one-word'}",
        "data.source.spec.n_train=96",
        "data.source.spec.min_words=1",
        "data.source.spec.max_words=1",
        "data.source.spec.lead_s=[0.0,3.0]",
        "data.batch_size=8",
        "model.scheduler.num_warmup_steps=10",
        "trainer.max_epochs=-1",
        "trainer.check_val_every_n_epoch=null",
        "trainer.log_every_n_steps=10",
        "test=false",
        "seed=42",
        "trainer.max_steps=300",
        "trainer.val_check_interval=300",
    ]
    run = train(make_cfg(overrides)).outputs["run"]
    with open(run / "csv" / "metrics.csv") as f:
        (last,) = [r for r in csv.DictReader(f) if r.get("val/listening")]
    print({k: v for k, v in last.items() if k.startswith("val/") and v})
    assert float(last["val/listening"]) >= 2.0  # 2.14x (166 / 355 ms) with the head's dropout 0


def test_model_card_carries_the_listening_check():
    from alignadapt.model.card import model_card

    def card(ratio: float) -> str:
        metrics = {
            "val/aas_ms": 200.0,
            "val/aas_withheld_ms": 200.0 * ratio,
            "val/listening": ratio,
        }
        return model_card("t", "base", "none", None, {}, metrics, "python train.py")

    hearing = card(3.0)
    assert "## Listening check" in hearing
    assert "Validation AAS 200.0 ms with each recording's own audio, 600.0 ms" in hearing
    assert "3.00x" in hearing and "NOT LISTENING" not in hearing
    assert "**NOT LISTENING** (under 1.5x)" in card(1.1)


@pytest.mark.slow
def test_the_card_listening_bench_prints_its_rows(tiny_dir):
    """bench/listening_card.py runs as its docstring says and prints both rows in the card's
    format (own audio, another recording's, silence, with the ratios of the last two)."""
    import re
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "listening_card.py"), "--model", str(tiny_dir),
         "--count", "2"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    rows = re.findall(
        r"^\| (wide|narrow) \((\d) utterances\) \| (\d+) ms \| (\d+) ms \(([\d.]+)x\) \| (\d+) ms \(([\d.]+)x\) \|$",
        done.stdout,
        re.M,
    )
    assert [r[0] for r in rows] == ["wide", "narrow"], done.stdout
    for _, n, own, swapped, ratio, silent, silent_ratio in rows:
        assert n == "2"
        assert float(ratio) == pytest.approx(int(swapped) / int(own), rel=0.03)
        assert float(silent_ratio) == pytest.approx(int(silent) / int(own), rel=0.03)
