"""train.py end to end on the tiny model: files written, checkpoint contents, resume, DDP,
bf16, a pinned loss, and bad data stopped before the first step."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alignadapt.data.manifest import ManifestError
from alignadapt.training.run import train as run_train

from .conftest import ROOT


def train(cfg) -> tuple[dict, Path]:
    """(metrics, run folder) of the train task."""
    result = run_train(cfg)
    return result.metrics, result.outputs["run"]


pytestmark = pytest.mark.slow

STEPS = [
    "trainer.max_epochs=-1",
    "trainer.check_val_every_n_epoch=null",
    "trainer.log_every_n_steps=1",
    "test=false",
]


def steps(n: int, val_every: int | None = None) -> list[str]:
    return [*STEPS, f"trainer.max_steps={n}", f"trainer.val_check_interval={val_every or n}"]


def metric_rows(run: Path) -> list[dict]:
    with open(run / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_train_writes_last_ckpt_and_adapter_without_backbone(make_cfg, tmp_path):
    metrics, run = train(make_cfg(steps(4)))
    ckpt_dir = run / "checkpoints"
    names = sorted(p.name for p in ckpt_dir.iterdir())
    assert "last.ckpt" in names and any(n.startswith("step000004-aas") for n in names)
    assert all("/" not in n and not (ckpt_dir / n).is_dir() for n in names)
    ckpt = torch.load(ckpt_dir / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4
    keys = list(ckpt["state_dict"])
    assert keys and all(".lora_A." in k or ".lora_B." in k for k in keys), keys[:3]
    assert len(keys) == 2 * 4 * 2  # 2 decoder layers x q/k/v/o x (A, B)
    assert ckpt["optimizer_states"] and ckpt["lr_schedulers"]
    assert ckpt["alignadapt"]["num_labels"] == 200 and ckpt["alignadapt"]["class_ms"] == 80.0
    adapter = {p.name for p in (run / "adapter").iterdir()}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "alignadapt_adapter.json",
    } <= adapter
    meta = json.loads((run / "adapter" / "alignadapt_adapter.json").read_text())
    assert meta["base_model"].endswith("tiny-aligner") and meta["lora_preset"] == "decoder_attn"
    for key in (
        "val/aas_ms",
        "val/median_ms",
        "val/within_20ms",
        "val/within_50ms",
        "val/within_100ms",
    ):
        assert key in metrics
    assert (
        0.0
        <= metrics["val/within_20ms"]
        <= metrics["val/within_50ms"]
        <= metrics["val/within_100ms"]
        <= 1.0
    )


def test_last_ckpt_is_the_last_step_when_validation_stops_improving(make_cfg):
    """monitor=epoch, mode=min: only the first validation is ever the best; Lightning's own
    ModelCheckpoint would leave last.ckpt at step 2 (measured)."""
    over = ["callbacks.model_checkpoint.monitor=epoch", "callbacks.model_checkpoint.save_top_k=1"]
    _, run = train(make_cfg([*steps(6, val_every=2), *over]))
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 6
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(names) == 2 and names[0] == "last.ckpt" and names[1].startswith("step000002-aas")


def test_resume_from_last_ckpt_continues_step_and_schedule(make_cfg, tmp_path):
    _, first = train(make_cfg(steps(4), out=tmp_path / "first"))
    ckpt = first / "checkpoints" / "last.ckpt"
    _, second = train(make_cfg([*steps(7), f"ckpt_path={ckpt}"], out=tmp_path / "second"))
    resumed = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 7
    assert resumed["lr_schedulers"][0]["last_epoch"] == 7  # the schedule went on, not restarted
    logged = [int(r["step"]) for r in metric_rows(second) if r.get("train/loss")]
    assert len(logged) == 3  # only steps 5-7 ran: 1-4 were not trained again


def test_full_training_preset_saves_the_whole_model(make_cfg):
    _, run = train(make_cfg([*steps(2), "lora=none"]))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(k.endswith("score.weight") for k in ckpt["state_dict"])
    files = {p.name for p in (run / "adapter").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= files


def test_two_process_cpu_ddp_completes(make_cfg):
    """trainer=ddp_cpu logger=csv to the end, test included: the main process's test rows join
    the spawned rank's metrics.csv (Lightning's own CSV writer failed here)."""
    overrides = [*steps(2), "trainer=ddp_cpu", "logger=csv", "test=true"]
    metrics, run = train(make_cfg([*overrides, "+trainer.limit_test_batches=1"]))
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    rows = metric_rows(run)
    assert any(r.get("train/loss") for r in rows) and any(r.get("test/aas_ms") for r in rows)
    assert (run / "adapter" / "adapter_model.safetensors").exists()


def test_bf16_mixed_on_cpu_completes(make_cfg):
    metrics, run = train(make_cfg([*steps(2), "trainer.precision=bf16-mixed"]))
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert metrics["train/loss"] == pytest.approx(metrics["train/loss"])  # finite, not NaN


# Loss after 6 steps of the default recipe on the synthetic corpus with seed 42: a change in
# this number means the numerics changed (labels, loss, LoRA init, data order, ...).
# 5.2326 -> 5.2528 when the prompt zeroed the features past each recording's end and padded
# audio to whole hops (a recording's inputs no longer depend on its batch; issue 14).
# 5.2528 -> 5.2553 when the tiny aligner's audio front end got fan-in init scaled to the
# positions' norm (it was transformers' N(0, 0.02), 1,000 times quieter; issue 24).
# 5.2528 -> 5.2562 when the head's dropout became 0 (the released head has none; issue 26);
# both together: 5.2594.
PINNED_LOSS = 5.259418487548828


def test_pinned_loss_regression(make_cfg):
    _, run = train(make_cfg([*steps(6), "seed=42"]))
    losses = {
        int(r["step"]): float(r["train/loss"]) for r in metric_rows(run) if r.get("train/loss")
    }
    print("loss at step 6:", repr(losses[5]))
    assert losses[5] == pytest.approx(PINNED_LOSS, rel=1e-4)


def test_count_mismatch_stops_training_before_the_first_step(make_cfg, corpus, tmp_path):
    lines = [json.loads(x) for x in corpus["train"].read_text().splitlines()[:5]]
    for line in lines:
        line["audio_path"] = str(corpus["train"].parent / line["audio_path"])
    lines[3]["words"].append({"word": "extra", "start": 9.0, "end": 9.5})
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = make_cfg([*steps(2), f"data.train_manifest={bad}"])
    with pytest.raises(ManifestError, match="bad.jsonl:4: the text splits into"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_command_line_default_run(tmp_path):
    """`python train.py model=tiny trainer=cpu` needs nothing else (data and model made on first use)."""
    env = dict(os.environ, ALIGNADAPT_ROOT=str(tmp_path), WANDB_MODE="offline")
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "model=tiny",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "data.num_workers=0",
    ]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / "checkpoints" / "last.ckpt").exists()
    assert (runs[0] / "adapter" / "adapter_model.safetensors").exists()
    assert "trainable parameters: 7,168 of 247,104" in result.stdout


def test_ddp_matches_one_process_on_the_same_global_batch(make_cfg, tmp_path):
    """2 CPU processes x 4 utterances == 1 process x 8: same losses, same adapter weights.

    Dropout is off so both see the same function; the loss is normalised over the slots of
    the whole global batch, which is what makes the two agree.
    """
    from safetensors.torch import load_file

    common = [*steps(3), "lora.dropout=0.0", "model.head_dropout=0.0", "++data.seed=42", "seed=42"]
    _, one = train(make_cfg([*common, "data.batch_size=8"], out=tmp_path / "one"))
    _, two = train(
        make_cfg([*common, "data.batch_size=4", "trainer=ddp_cpu"], out=tmp_path / "two")
    )

    def losses(run):
        return [float(r["train/loss"]) for r in metric_rows(run) if r.get("train/loss")]

    assert len(losses(one)) == len(losses(two)) == 3
    assert losses(two) == pytest.approx(losses(one), rel=1e-5)
    a = load_file(one / "adapter" / "adapter_model.safetensors")
    b = load_file(two / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    moved = 0.0
    for key in a:
        # atol 1e-5 on weights of about 4e-3 (was 1e-6): since the audio front end is initialised
        # as loud as its positions (issue 24), float32 sums in another order leave a few weights
        # over 1e-6 apart after three Adam steps (Adam divides small gradients by their own
        # size); the losses still agree to 1e-5
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key
        moved = max(moved, float(a[key].abs().max()))
    assert moved > 0  # the adapters did train (lora_B starts at zero)


def test_pretraining_losses_train_and_stay_out_of_the_model(make_cfg, tmp_path):
    """The auxiliary CTC and frame losses run in train.py, their heads resume with the run
    and never reach the exported model; the frame loss refuses a model of several chunks."""
    aux = ["lora=none", "model.ctc_weight=0.3", "model.frame_weight=0.3"]
    from hydra.errors import InstantiationException

    with pytest.raises(InstantiationException, match=r"n_window >= 800 \(model.tiny.n_window\)"):
        train(make_cfg([*steps(1), *aux]))
    one_chunk = ["+model.tiny.n_window=800", f"model.pretrained={tmp_path / 'tiny-800'}"]
    _, run = train(make_cfg([*steps(2), *aux, *one_chunk]))
    rows = [r for r in metric_rows(run) if r.get("train/frame_loss")]
    assert len(rows) == 2
    assert all(0 < float(r["train/frame_loss"]) < 1e3 for r in rows)
    assert all(0 < float(r["train/ctc_loss"]) < 1e3 for r in rows)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    heads = {k.split(".")[0] for k in ckpt["state_dict"] if not k.startswith("net.")}
    assert heads == {"ctc_head", "frame_head"}
    from safetensors import safe_open

    with safe_open(run / "adapter" / "model.safetensors", "pt") as f:
        names = f.keys()
    assert names and not [k for k in names if "ctc_head" in k or "frame_head" in k]


def test_global_batch_is_logged_in_the_unit_that_sets_the_batch(make_cfg, capsys):
    """With data.padded_seconds the batch is a budget of padded audio seconds, not
    data.batch_size utterances: printed and logged as such."""
    cfg = make_cfg([*steps(1), "data.padded_seconds=16", "trainer.accumulate_grad_batches=2"])
    _, run = train(cfg)
    assert (
        "global batch: 16 padded audio seconds per device x 1 devices x 1 nodes x 2 "
        "accumulation = 32 padded audio seconds per optimizer step"
    ) in capsys.readouterr().out
    logged = (run / "csv" / "hparams.yaml").read_text()
    assert "global_batch: 32\n" in logged and "global_batch_unit: padded audio seconds\n" in logged
