"""The one data module: its longest item from the model, its budgets, and sources plugged in."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from torch.utils.data import DataLoader

from alignadapt.data.datamodule import AlignDataModule
from alignadapt.data.manifest import iter_manifest
from alignadapt.data.shard_source import ShardSource
from alignadapt.data.source import Source


def test_the_longest_item_comes_from_the_model_at_setup(tiny_dir, corpus):
    dm = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]))
    assert dm.max_duration is None  # nothing typed per config: known once the model is read
    dm.setup("validate")
    assert dm.max_duration == 15.92  # the tiny model's 199 classes x 80 ms
    shorter = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]), max_duration=6.0)
    shorter.setup("validate")
    assert shorter.max_duration == 6.0  # a cap of one's own, under the model's call


def test_a_longest_item_the_model_cannot_time_stops_setup(tiny_dir, corpus):
    dm = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]), max_duration=32.0)
    with pytest.raises(ValueError) as err:
        dm.setup("fit")
    assert str(err.value) == (
        "data.max_duration=32 s is more than this model can time in one call: at most 15.92 s "
        "(200 classes of 80 ms); set it no higher, or leave it unset (null) for the model's "
        "longest call"
    )


def test_a_budget_under_the_longest_item_is_named_by_its_own_key(tiny_dir, corpus):
    padded = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]), padded_seconds=12.0)
    with pytest.raises(ValueError) as err:
        padded.setup("fit")
    assert str(err.value) == (
        "data.padded_seconds=12 is under the longest item (15.92 s, data.max_duration): a batch "
        "could not hold it; raise data.padded_seconds or set a shorter data.max_duration"
    )
    summed = AlignDataModule(str(tiny_dir), source=ShardSource("unused", summed_seconds=8.0))
    summed.trainer = SimpleNamespace(max_steps=10, world_size=1, global_rank=0)
    with pytest.raises(ValueError) as err:
        summed.setup("fit")
    assert str(err.value) == (
        "data.source.summed_seconds=8 is under the longest item (15.92 s, data.max_duration): a "
        "batch could not hold it; raise data.source.summed_seconds or set a shorter "
        "data.max_duration"
    )


def test_the_batch_budget_says_what_a_batch_holds(tiny_dir, corpus):
    def dm(**kw):
        return AlignDataModule(str(tiny_dir), str(corpus["train"]), str(corpus["val"]), **kw)

    assert dm(batch_size=5).batch_budget() == (5, "utterances")
    assert dm(padded_seconds=16.0).batch_budget() == (16.0, "padded audio seconds")
    shards = ShardSource("unused", summed_seconds=60.0)
    assert dm(source=shards).batch_budget() == (60.0, "audio seconds (summed)")
    counted = dm(batch_size=5)
    assert counted.train_batches_per_epoch() is None  # before setup: nothing read yet
    counted.setup("fit")
    assert counted.train_batches_per_epoch() == math.ceil(48 / 5) == len(counted.train_dataloader())
    assert counted.has_manifest("val") and not counted.has_manifest("test")


class Recorded(Source):
    """A source of two fixed training batches that records what the data module asks of it."""

    def __init__(self):
        self.calls = []
        self.loaded = None

    def prepare(self):
        self.calls.append("prepare")

    def setup(self, data, stage):
        self.calls.append(("setup", stage, data.max_duration))

    def train_loader(self, data):
        examples = [data.datasets["val"].example(i) for i in range(4)]
        batches = [data.collator(examples[:2]), data.collator(examples[2:])]
        return DataLoader(batches, batch_size=None, collate_fn=lambda batch: batch)

    def budget(self):
        return 30.0, "audio seconds"

    def state_dict(self, data):
        return {"batches": 2}

    def load_state_dict(self, data, state):
        self.loaded = state


def test_a_source_plugged_into_the_data_module_supplies_what_it_overrides(tiny_dir, corpus):
    source = Recorded()
    dm = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]), source=source)
    dm.prepare_data()
    dm.setup("fit")
    assert source.calls == ["prepare", ("setup", "fit", 15.92)]
    train = list(dm.train_dataloader())
    assert [len(b["keys"]) for b in train] == [2, 2]
    assert train[0]["keys"] == ["val.jsonl:1", "val.jsonl:2"]
    # what the source leaves alone comes from the manifests: 12 validation lines, 4 a batch
    assert [len(b["keys"]) for b in dm.val_dataloader()] == [4, 4, 4]
    assert dm.batch_budget() == (30.0, "audio seconds")
    assert dm.train_batches_per_epoch() is None  # the source streams: no plan to count
    assert dm.state_dict() == {"batches": 2}
    dm.load_state_dict({"batches": 7})
    assert source.loaded == {"batches": 7}
    assert AlignDataModule(str(tiny_dir)).state_dict() == {}  # manifests only: nothing kept


def test_cut_recordings_are_the_lines_longer_than_the_longest_item(tiny_dir, corpus):
    dm = AlignDataModule(str(tiny_dir), val_manifest=str(corpus["val"]), max_duration=2.5)
    dm.setup("validate")
    long = [u.line for u in iter_manifest(corpus["val"]) if u.duration > 2.5]
    assert long  # the synthetic lines run 1-4 s
    assert [u.line for u in dm.cut_recordings("val", 3)] == long[:3]
    assert all(len(u.spans) > 1 for u in dm.cut_recordings("val", 3))
    assert dm.cut_recordings("test", 3) == []
    dataset = dm.datasets["val"]
    assert np.unique(dataset.lines[dataset.segments >= 0]).tolist() == long
