"""Streaming at scale: the batch plan (count or audio budget, buckets, DDP shards, seeds),
long labelled recordings cut at word boundaries, and an index of a few bytes a line."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import BatchSampler, RandomSampler

from alignadapt.data.audio import load_audio
from alignadapt.data.datamodule import AlignDataModule, ManifestDataset
from alignadapt.data.sampling import BatchPlan, padding_share, plan_segments
from alignadapt.demo.synthetic import SyntheticSpec, render_utterance

SR = 16000


def durations(n=203, seed=0):
    return np.random.default_rng(seed).uniform(1.0, 20.0, n).astype(np.float32)


def batches_of(plan):
    return [batch for _, batch in plan]


def test_count_plan_on_one_device_is_dataloader_shuffle():
    """The default path draws exactly what DataLoader(shuffle=True) drew (the pinned loss)."""
    torch.manual_seed(42)
    expected = list(BatchSampler(RandomSampler(range(48)), 4, drop_last=False))
    torch.manual_seed(42)
    assert batches_of(BatchPlan(np.ones(48), batch_size=4, shuffle=True)) == expected
    assert batches_of(BatchPlan(np.ones(10), batch_size=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("mode", [{"batch_size": 4}, {"max_seconds": 60.0}])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_see_every_utterance_once_with_equal_batch_counts(mode, world):
    d = durations()
    plans = [
        BatchPlan(d, shuffle=True, seed=7, num_replicas=world, rank=r, **mode) for r in range(world)
    ]
    for epoch in (0, 1):
        for plan in plans:
            plan.set_epoch(epoch)
        per_rank = [batches_of(p) for p in plans]
        assert {len(b) for b in per_rank} == {len(plans[0])}  # equal, and known beforehand
        seen = [i for batches in per_rank for batch in batches for i in batch]
        assert sorted(seen) == list(range(len(d)))  # each once
    again = BatchPlan(d, shuffle=True, seed=7, num_replicas=world, rank=0, **mode)
    again.set_epoch(1)
    assert batches_of(again) == per_rank[0]  # deterministic for a seed and an epoch
    again.set_epoch(0)
    assert batches_of(again) != per_rank[0]  # and a new order each epoch


def test_budget_batches_stay_under_budget_and_bucketing_cuts_padding():
    d = durations(2000)
    plan = BatchPlan(d, max_seconds=60.0, shuffle=True, seed=1)
    batches = batches_of(plan)
    assert all(len(b) * d[b].max() <= 60.0 for b in batches)
    assert len(batches) == len(plan)
    mean_size = round(len(d) / len(batches))
    random = batches_of(BatchPlan(d, batch_size=mean_size, shuffle=True, seed=1))
    assert padding_share(batches, d) < 0.10
    assert padding_share(random, d) > 0.30


def test_fewer_utterances_than_ranks_still_gives_every_rank_a_batch():
    plans = [BatchPlan(np.ones(1), batch_size=4, num_replicas=2, rank=r) for r in range(2)]
    assert [batches_of(p) for p in plans] == [[[0]], [[0]]]


def test_segments_cut_in_pauses_never_inside_a_unit():
    spans = [(0.5, 1.0), (1.2, 2.0), (2.4, 3.9), (4.1, 4.6), (9.0, 9.5), (9.6, 10.4)]
    pieces = plan_segments(spans, duration=11.0, max_duration=4.0)
    assert [(a, n) for a, n, _, _ in pieces] == [(0, 3), (3, 1), (4, 2)]
    assert pieces[0][2] == 0.0 and pieces[0][3] == pytest.approx(4.0)  # mid-pause was 4.0
    for first, count, start, end in pieces:
        assert end - start <= 4.0 + 1e-9
        assert start <= spans[first][0] and spans[first + count - 1][1] <= end
    assert pieces[-1][2:] == pytest.approx((6.8, 10.8))  # 4 s at most: trailing silence trimmed
    with pytest.raises(ValueError, match="unit 1 lasts 5.00 s, longer than data.max_duration=4"):
        plan_segments([(0.0, 1.0), (1.0, 6.0)], 7.0, 4.0)


@pytest.fixture
def long_recording(tmp_path):
    """A 20 s-ish labelled recording built from synthetic utterances, and its manifest."""
    rng = np.random.default_rng(5)
    audio, words, spans, offset = [], [], [], 0.0
    for _ in range(6):
        clip, text, clip_spans = render_utterance(rng, SyntheticSpec(min_words=4, max_words=6))
        audio.append(clip)
        words += text.split()
        spans += [(s + offset, e + offset) for s, e in clip_spans]
        offset += len(clip) / SR
    sf.write(tmp_path / "long.wav", np.concatenate(audio), SR, subtype="FLOAT")
    record = {
        "audio_path": "long.wav",
        "text": " ".join(words),
        "words": [
            {"word": w, "start": s, "end": e} for w, (s, e) in zip(words, spans, strict=True)
        ],
    }
    manifest = tmp_path / "long.jsonl"
    manifest.write_text(json.dumps(record) + "\n")
    return manifest, words, spans, offset


def test_long_labelled_recording_is_cut_into_pieces_with_labels_that_follow(
    long_recording, processor, tiny_dir
):
    manifest, words, spans, total = long_recording
    assert total > 12.0
    dataset = ManifestDataset(manifest, processor)
    dataset.check(require_labels=True, max_duration=5.0, progress=False)
    assert len(dataset) >= 3 and dataset.durations.max() <= 5.0
    whole = load_audio(manifest.parent / "long.wav")
    units, times = [], []
    for i in range(len(dataset)):
        example = dataset[i]
        start = float(dataset.segment_times[dataset.segments[i], 0])
        first = round(start * SR)
        assert np.array_equal(example.audio, whole[first : first + len(example.audio)])
        assert all(0 <= s <= e <= len(example.audio) / SR for s, e in example.spans)
        units += example.units
        times += [(s + start, e + start) for s, e in example.spans]
        assert example.key.startswith("long.jsonl:1@")
    assert units == words  # every word once, in order: nothing dropped
    assert np.allclose(times, spans, atol=1e-6)
    # and the pieces train: the data module batches them with labels
    dm = AlignDataModule(
        str(tiny_dir), train_manifest=str(manifest), val_manifest=str(manifest), max_duration=5.0
    )
    dm.setup("fit")
    units_of = {dataset[i].key: len(dataset[i].units) for i in range(len(dataset))}
    batch = next(iter(dm.train_dataloader()))
    assert int((batch["labels"] != -100).sum()) == 2 * sum(units_of[k] for k in batch["keys"])


def test_index_holds_twenty_bytes_an_item_not_the_manifest(corpus, processor):
    dataset = ManifestDataset(corpus["train"], processor)
    dataset.check(require_labels=True, max_duration=16.0, progress=False)
    index = (dataset.offsets, dataset.lines, dataset.durations, dataset.segments)
    assert sum(a.nbytes for a in index) == 20 * 48
    assert not any(isinstance(v, (list, dict, str)) and len(v) > 8 for v in vars(dataset).values())


def test_datamodule_budget_mode_knows_its_steps_and_repeats_for_a_seed(tiny_dir, corpus):
    def plan(seed):
        dm = AlignDataModule(
            str(tiny_dir),
            train_manifest=str(corpus["train"]),
            val_manifest=str(corpus["val"]),
            padded_seconds=12.0,
            max_duration=6.0,
            seed=seed,
        )
        dm.setup("fit")
        loader = dm.train_dataloader()
        return dm, loader, batches_of(loader.sampler)

    dm, loader, first = plan(3)
    durations = dm.datasets["train"].durations
    assert len(first) == len(loader)  # steps per epoch, known before the first one
    assert all(len(b) * durations[b].max() <= 12.0 for b in first)
    assert sorted(i for b in first for i in b) == list(range(48))
    assert plan(3)[2] == first and plan(4)[2] != first
    batch = next(iter(loader))  # what a training step receives
    assert len(batch["keys"]) == len(first[0]) and batch["audio_seconds"] <= 12.0
