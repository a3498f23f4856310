"""Every option of every config group, and every experiment file, runs (not only composes):
one train and one validation batch on CPU (`trainer.fast_dev_run`), as lightning-hydra-template
runs its experiments. What a laptop cannot have is swapped for its CPU stand-in and said so:
the real model for the tiny one (same architecture and code path), a GPU for the CPU, the
demo corpus for the synthetic one. The two documented crashes (`logger=none`; `trainer=ddp_cpu
logger=csv` at the end of a run, in test_train.py) are run to their end, test included.
"""

from __future__ import annotations

import pytest
import torch

from alignadapt.training.run import train

from .conftest import CONF, compose_train

pytestmark = pytest.mark.slow

GROUPS = {
    g: sorted(p.stem for p in (CONF / g).glob("*.yaml"))
    for g in ("trainer", "logger", "lora", "model", "data")
}
# Each run takes the i-th option of every group (cycling), so every option of every group runs
# in as many runs as the largest group has options. trainer=ddp_cpu spawns two processes: it
# runs to the end, with logger=csv and a test, in test_train.py.
# data=shar streams Lhotse shards (no manifests to point at the synthetic corpus): it trains in
# test_shar_train.py.
ELSEWHERE = {("trainer", "ddp_cpu"), ("data", "shar")}
RUNNABLE = {g: [o for o in opts if (g, o) not in ELSEWHERE] for g, opts in GROUPS.items()}
COMBOS = [
    [f"{g}={opts[i % len(opts)]}" for g, opts in RUNNABLE.items()]
    for i in range(max(map(len, RUNNABLE.values())))
]
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


STREAMED = {"data=demo_broad", "experiment=demo_pretrain"}  # speech made on the fly, no manifests


def stand_ins(tiny_dir, corpus, streamed: bool = False) -> list[str]:
    """What replaces the GPU, the hub model and the demo corpus on a CPU-only test machine."""
    common = [
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    if streamed:  # the broad corpus itself, kept short: English 1-3 s, no worker process
        return [
            *common,
            "data.num_workers=0",
            "data.source.batch_seconds=6.0",
            "data.source.buckets=[[1.0,3.0]]",
            "data.source.languages={en: 1.0}",
            "data.source.val_batches=1",
        ]
    return [
        *common,
        f"data.train_manifest={corpus['train']}",
        f"data.val_manifest={corpus['val']}",
        f"data.test_manifest={corpus['test']}",
        "data.num_workers=0",
        "data.max_duration=15.9",  # under the tiny model's last class (15.92 s)
    ]


def run_fast(overrides: list[str], tmp_path, shared_dir, tiny_dir, corpus) -> dict:
    cfg = compose_train(
        [
            *overrides,
            "++trainer.fast_dev_run=true",
            *stand_ins(tiny_dir, corpus, streamed=bool(STREAMED & set(overrides))),
        ],
        tmp_path,
        shared_dir,
    )
    tiny_target = cfg.model._target_.endswith("TinyAlignerModule")  # builds its own
    if not tiny_target and "demo-base" not in str(cfg.model.pretrained):
        cfg.model.pretrained = str(tiny_dir)  # the real model's place, same architecture
    if cfg.data.get("replay") and cfg.data.replay.get("manifest"):
        cfg.data.replay.manifest = str(corpus["val"])  # the demo's general set
    if cfg.trainer.get("strategy") == "ddp":
        cfg.trainer.strategy = "auto"  # one CPU process; DDP proper runs in ddp_cpu below
    return train(cfg).metrics


def test_the_runs_cover_every_option():
    covered = {o for combo in COMBOS for o in combo} | {f"{g}={o}" for g, o in ELSEWHERE}
    assert covered == {f"{g}={o}" for g, opts in GROUPS.items() for o in opts}


@pytest.mark.parametrize("options", COMBOS, ids=lambda c: ",".join(o.split("=")[1] for o in c))
def test_every_group_option_runs_a_batch(options, tmp_path, shared_dir, tiny_dir, corpus):
    metrics = run_fast(options, tmp_path, shared_dir, tiny_dir, corpus)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_a_batch(experiment, tmp_path, shared_dir, tiny_dir, corpus):
    metrics = run_fast([f"experiment={experiment}"], tmp_path, shared_dir, tiny_dir, corpus)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


END_TO_END = [
    "trainer.max_epochs=-1",
    "trainer.max_steps=2",
    "trainer.log_every_n_steps=1",
    "trainer.val_check_interval=2",
    "trainer.check_val_every_n_epoch=null",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
]


def test_logger_none_runs_to_the_end(make_cfg):
    """No logger: the learning-rate monitor (which needs one) is left out instead of crashing."""
    result = train(make_cfg(["logger=none", *END_TO_END]))
    assert (result.outputs["adapter"] / "adapter_model.safetensors").exists()
    assert "test/aas_ms" in result.metrics
