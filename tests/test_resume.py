"""Ctrl-C loses nothing: a real SIGINT during training saves last.ckpt at that step and prints
the resume command; resuming in the same folder gives the losses of an uninterrupted run."""

import csv
import os
import signal
import warnings

import lightning as L
import pytest
import torch
from omegaconf import open_dict

from alignadapt.training.run import train

pytestmark = pytest.mark.slow


class SigintAt(L.Callback):
    """Sends this process a real SIGINT (what Ctrl-C sends) as the batch after optimizer step
    `step` starts: where a Ctrl-C lands in practice, inside a step's work."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def losses(run) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv") as f:
        return {
            int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r["train/loss"]
        }


COMMON = [
    "trainer.max_epochs=-1",
    "trainer.max_steps=6",
    "trainer.val_check_interval=6",
    "trainer.check_val_every_n_epoch=null",
    "trainer.log_every_n_steps=1",
    "test=false",
    "lora.dropout=0.0",  # dropout masks are not part of a checkpoint (README)
    "model.head_dropout=0.0",
]


def test_ctrl_c_checkpoints_and_the_resumed_run_matches_an_uninterrupted_one(
    make_cfg, tmp_path, capsys
):
    whole = train(make_cfg(COMMON, out=tmp_path / "whole")).outputs["run"]

    cut = tmp_path / "cut"
    cfg = make_cfg(COMMON, out=cut)
    with open_dict(cfg):
        cfg.callbacks.sigint = {"_target_": "tests.test_resume.SigintAt", "step": 3}
    handler = signal.getsignal(signal.SIGINT)
    # what Ctrl-C does in a terminal; a job started in the background by a shell without job
    # control (`make test &`, some CI runners) inherits SIGINT ignored, and Python keeps that
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit):
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT after catching one
    last = cut / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 3
    err = capsys.readouterr().err
    assert f"interrupted at step 3: saved {last}" in err
    assert f"hydra.run.dir={cut} ckpt_path={last}" in err
    assert not (cut / "adapter").exists()  # the run did not finish

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(make_cfg([*COMMON, f"ckpt_path={last}"], out=cut))
    assert not [w for w in caught if "not resumable" in str(w.message)]
    assert result.outputs["run"] == cut and (cut / "adapter" / "adapter_model.safetensors").exists()
    assert torch.load(last, weights_only=True)["global_step"] == 6

    expected, got = losses(whole), losses(cut)
    assert sorted(got) == sorted(expected) == list(range(6))  # rows 0-2 kept, 3-5 appended
    assert [got[s] for s in range(6)] == pytest.approx([expected[s] for s in range(6)], rel=1e-6)
