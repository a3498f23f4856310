"""train.py with data=shar from a real S3 server on 127.0.0.1: two DDP ranks on their own
shards, and a store that goes away mid-run: a clear stop, then a resume from the last
checkpoint that trains every batch exactly once."""

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from alignadapt.data.shar import read_index, write_shards
from alignadapt.data.shar_stream import ShardReadError, ShardStream
from alignadapt.model.prompt import split_units
from alignadapt.training.run import train

from .s3_server import S3Server

pytestmark = pytest.mark.slow
OUTAGE: dict = {}  # the running S3Server, for KeyRecorder to take down (same process only)


class KeyRecorder(Callback):
    """Appends the keys of every trained batch to `<folder>/keys-rank<r>.jsonl`; with
    `outage_after`, takes the store down once that many batches have trained."""

    def __init__(self, folder: str, outage_after: int | None = None):
        self.folder, self.outage_after = Path(folder), outage_after

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"keys-rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(batch["keys"]) + "\n")
        done = trainer.fit_loop.epoch_loop.batch_progress.total.processed
        if self.outage_after is not None and done == self.outage_after and OUTAGE:
            OUTAGE["server"].faults.down = True


def recorded(folder: Path, rank: int = 0) -> list[list[str]]:
    path = folder / f"keys-rank{rank}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def shar_overrides(location: str, val: Path, steps: int, recorder: Path, **extra) -> list[str]:
    out = [
        "data=shar",
        f"data.source.train_shards={location}",
        f"data.val_manifest={val}",
        "data.num_workers=0",
        "data.source.summed_seconds=8",
        "data.max_duration=6",
        "data.source.buffer_size=16",
        "data.source.num_buckets=4",
        "data.seed=7",
        "data.source.retry_backoff=0.0",
        "trainer.max_epochs=-1",
        "trainer.check_val_every_n_epoch=null",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        "+trainer.limit_val_batches=1",
        "test=false",
        "+callbacks.keys._target_=tests.test_shar_train.KeyRecorder",
        f"+callbacks.keys.folder={recorder}",
    ]
    return out + [f"{k}={v}" for k, v in extra.items()]


@pytest.fixture
def s3_shards(corpus, processor):
    with S3Server() as s3:
        s3.make_bucket("corpus")
        write_shards(
            corpus["train"],
            "s3://corpus/train",
            lambda t, lang: split_units(processor, t, lang),
            shard_size=6,
            progress=False,
        )
        yield s3, "s3://corpus/train"


def test_two_ddp_ranks_train_from_s3_each_on_its_own_shards(make_cfg, s3_shards, corpus, tmp_path):
    s3, url = s3_shards
    cfg = make_cfg([*shar_overrides(url, corpus["val"], 3, tmp_path / "keys"), "trainer=ddp_cpu"])
    result = train(cfg)
    assert (result.outputs["run"] / "adapter" / "adapter_model.safetensors").exists()
    ranks = [recorded(tmp_path / "keys", r) for r in (0, 1)]
    assert [len(r) for r in ranks] == [3, 3]  # the same number of batches on both ranks
    index = read_index(url)
    from alignadapt.data.shar import iter_cuts

    sources = [{c.custom["source"] for c in iter_cuts(index, [s], audio=False)} for s in range(8)]
    owned = []
    for rank in (0, 1):
        stream = ShardStream(index, None, max_seconds=8.0, seed=7)
        shards = stream.shards_of_pass(0, rank, 2) + stream.shards_of_pass(1, rank, 2)
        owned.append(set().union(*(sources[s] for s in shards)))
    for rank, batches in enumerate(ranks):
        keys = {k.split("@")[0] for batch in batches for k in batch}
        assert keys <= owned[rank]  # read from its own shards only
    first_pass = [
        set(ShardStream(index, None, 8.0, seed=7).shards_of_pass(0, r, 2)) for r in (0, 1)
    ]
    assert first_pass[0].isdisjoint(first_pass[1])


def test_store_outage_stops_clearly_and_resume_loses_and_repeats_nothing(
    make_cfg, s3_shards, corpus, processor, tmp_path
):
    s3, url = s3_shards
    OUTAGE["server"] = s3
    try:
        common = {
            "data.source.read_retries": 1,
            "callbacks.model_checkpoint.monitor": "null",
            "callbacks.model_checkpoint.save_top_k": 1,
            "callbacks.model_checkpoint.every_n_train_steps": 2,
        }
        first = make_cfg(
            shar_overrides(url, corpus["val"], 10, tmp_path / "keys1", **common)
            + ["+callbacks.keys.outage_after=3"],
            out=tmp_path / "first",
        )
        with pytest.raises(ShardReadError, match=r"failed 2 times.*ckpt_path=.*last\.ckpt"):
            train(first)
    finally:
        OUTAGE.clear()
    s3.faults.down = False
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)["AlignDataModule"]
    trained_before = recorded(tmp_path / "keys1")
    assert state["batches"] in (2, 4) and len(trained_before) >= state["batches"]

    second = make_cfg(
        shar_overrides(url, corpus["val"], 10, tmp_path / "keys2", **common)
        + [f"ckpt_path={last}"],
        out=tmp_path / "second",
    )
    train(second)
    trained_after = recorded(tmp_path / "keys2")
    assert len(trained_after) == 10 - state["batches"]

    stream = ShardStream(
        read_index(url), processor, 8.0, num_buckets=4, buffer_size=16, seed=7, max_duration=6.0
    )
    expected = []
    for batch in stream:
        expected.append([e.key for e in batch])
        if len(expected) == 10:
            break
    assert trained_before[: state["batches"]] + trained_after == expected
