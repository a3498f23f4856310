"""val/long_aas_ms: long labelled validation recordings aligned the way align and evaluate
align them (cut at pauses, each piece with its own words), during training."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from alignadapt.data.audio import SAMPLE_RATE, load_audio
from alignadapt.data.manifest import iter_manifest
from alignadapt.evaluation.metrics import slot_errors_ms
from alignadapt.inference.aligner import Aligner, AlignerSettings
from alignadapt.model.prompt import split_units
from alignadapt.training.long_validation import METRIC
from alignadapt.training.run import train as run_train

pytestmark = pytest.mark.slow


def long_manifest(corpus, out) -> tuple:
    """The validation lines, plus one recording of them all in a row (longer than the tiny
    model's 16 s call) with its reference times."""
    utts = list(iter_manifest(corpus["val"]))
    parts, texts, spans, t = [], [], [], 0.0
    pause = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    for utt in utts:
        audio = load_audio(utt.audio_path)
        parts += [audio, pause]
        texts.append(utt.text)
        spans += [[s + t, e + t] for s, e in utt.spans]
        t += (len(audio) + len(pause)) / SAMPLE_RATE
    out.mkdir()
    sf.write(out / "long.wav", np.concatenate(parts), SAMPLE_RATE, subtype="PCM_16")
    manifest = out / "val.jsonl"
    lines = [
        json.dumps({"audio_path": str(u.audio_path), "text": u.text, "timestamps": u.spans})
        for u in utts
    ]
    record = {"audio_path": "long.wav", "text": " ".join(texts), "timestamps": spans}
    manifest.write_text("\n".join([*lines, json.dumps(record)]) + "\n")
    return manifest, out / "long.wav", " ".join(texts), np.array(spans), t


def test_validation_scores_long_recordings_through_the_align_path(make_cfg, corpus, tmp_path):
    manifest, audio, text, spans, seconds = long_manifest(corpus, tmp_path / "long")
    assert seconds > 16.0  # longer than one call of the tiny model
    steps = ["trainer.max_epochs=-1", "trainer.max_steps=2", "trainer.val_check_interval=2"]
    steps += ["trainer.check_val_every_n_epoch=null", "test=false", f"data.val_manifest={manifest}"]
    result = run_train(make_cfg(steps))
    with open(result.outputs["run"] / "csv" / "metrics.csv") as f:
        logged = [
            float(r["val/long_aas_ms"]) for r in csv.DictReader(f) if r.get("val/long_aas_ms")
        ]
    assert len(logged) == 1  # the validation at step 2 (the sanity check is not scored)
    # the same figure from the saved adapter through alignadapt's one long-recording path
    aligner = Aligner.load(result.outputs["run"] / "adapter", settings=AlignerSettings())
    assert aligner.window_s == 15.92  # the aligner's window: the tiny model's 199 x 80 ms
    units = split_units(aligner.processor, text, "English")
    got = aligner.align_file(audio, units)
    assert len(got.pieces) >= 2
    expected = slot_errors_ms(got.decoded["argmax"].times, spans.ravel()).mean()
    assert logged[0] == pytest.approx(expected, rel=1e-4)


def test_ddp_ranks_share_the_long_recordings_and_log_the_figure_of_all(make_cfg, corpus, tmp_path):
    """Two long recordings (the validation lines in a row, and in reverse order): two CPU
    processes align one each and gather, and log what one process logs aligning both on the
    same global batch (the two runs' weights agree: test_train.py)."""
    manifest, *_ = long_manifest(corpus, tmp_path / "long")
    lines = manifest.read_text().splitlines()
    record = json.loads(lines[-1])
    utts = [json.loads(line) for line in lines[:-1]][::-1]
    parts, spans, t = [], [], 0.0
    pause = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    for utt in utts:
        audio = load_audio(utt["audio_path"])
        parts += [audio, pause]
        spans += [[s + t, e + t] for s, e in utt["timestamps"]]
        t += (len(audio) + len(pause)) / SAMPLE_RATE
    sf.write(tmp_path / "long" / "reversed.wav", np.concatenate(parts), SAMPLE_RATE)
    text = " ".join(u["text"] for u in utts)
    second = {"audio_path": "reversed.wav", "text": text, "timestamps": spans}
    manifest.write_text("\n".join([*lines, json.dumps(second)]) + "\n")
    assert record["text"] != text

    common = ["trainer.max_epochs=-1", "trainer.max_steps=2", "trainer.val_check_interval=2"]
    common += [
        "trainer.check_val_every_n_epoch=null",
        "test=false",
        f"data.val_manifest={manifest}",
    ]
    common += ["lora.dropout=0.0", "model.head_dropout=0.0", "++data.seed=42", "seed=42"]

    def logged(overrides, out):
        run = run_train(make_cfg([*common, *overrides], out=out)).outputs["run"]
        with open(run / "csv" / "metrics.csv") as f:
            return [float(r[METRIC]) for r in csv.DictReader(f) if r.get(METRIC)]

    one = logged(["data.batch_size=8"], tmp_path / "one")
    two = logged(["data.batch_size=4", "trainer=ddp_cpu"], tmp_path / "two")
    assert len(one) == len(two) == 1
    assert two[0] == pytest.approx(one[0], rel=1e-3)
