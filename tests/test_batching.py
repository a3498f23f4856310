"""Length-sorted batching (inference/batching.py): little padding, results back in input
order, the same timestamps as batching in input order, fixed groups for pseudo-labelling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from alignadapt.data.audio import load_audio
from alignadapt.data.sampling import padding_share
from alignadapt.inference.aligner import Aligner, AlignerSettings
from alignadapt.inference.batching import (
    in_input_order,
    length_sorted_batches,
    sorted_map,
)
from alignadapt.inference.pseudo import plan
from alignadapt.model.prompt import build_inputs, split_units


def test_sorted_batches_pad_under_ten_percent_where_input_order_pads_a_third():
    lengths = np.random.default_rng(0).uniform(1.0, 30.0, size=200).tolist()
    batches = length_sorted_batches(lengths, 8)
    assert sorted(i for b in batches for i in b) == list(range(200))  # each once
    assert all(len(b) == 8 for b in batches)
    sorted_share = padding_share(batches, np.asarray(lengths))
    input_share = padding_share(length_sorted_batches(lengths, 8, sort=False), np.asarray(lengths))
    assert sorted_share < 0.10 < 0.30 < input_share
    assert length_sorted_batches(lengths, 8) == batches  # the same groups every time
    assert length_sorted_batches([2.0, 1.0, 2.0, 1.0], 2) == [[1, 3], [0, 2]]  # ties by position


def test_results_come_back_in_input_order():
    items = ["ccc", "a", "bb", "dddd", "e"]
    seen = []

    def run(batch: list[str]) -> list[str]:
        seen.append(batch)
        return [x.upper() for x in batch]

    out = in_input_order(sorted_map(items, [len(x) for x in items], 2, run), len(items))
    assert out == ["CCC", "A", "BB", "DDDD", "E"]
    assert seen == [["a", "e"], ["bb", "ccc"], ["dddd"]]


def test_sorted_and_input_order_inference_give_identical_timestamps(tiny_dir, corpus):
    source = Path(corpus["test"])
    rows = [json.loads(x) for x in source.read_text().splitlines()[:7]]
    aligner = Aligner.load(tiny_dir, settings=AlignerSettings(decodings=["argmax", "subclass"]))
    audios = [load_audio(source.parent / r["audio_path"]) for r in rows]
    units = [split_units(aligner.processor, r["text"], None) for r in rows]
    lengths = [len(a) for a in audios]
    assert len(set(lengths)) == len(lengths)  # mixed lengths, so the orders really differ

    def run(batch: list[int]) -> list:
        return aligner.align([audios[i] for i in batch], [units[i] for i in batch])

    results = {}
    for sort in (True, False):
        pairs = sorted_map(list(range(len(rows))), lengths, 3, run, sort=sort)
        results[sort] = in_input_order(pairs, len(rows))
    for a, b in zip(results[True], results[False], strict=True):
        for decoding in ("argmax", "subclass"):
            np.testing.assert_array_equal(a.decoded[decoding].times, b.decoded[decoding].times)


def test_pseudo_label_groups_are_length_sorted_and_fixed_by_the_manifest(corpus, tmp_path):
    source = Path(corpus["train"])
    rows = [json.loads(x) for x in source.read_text().splitlines()[:10]]
    for r in rows:
        r["audio_path"] = str((source.parent / r["audio_path"]).resolve())
        r.pop("duration", None)  # read from the file header instead
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = plan(manifest, tmp_path / "parts", 4)
    assert plan(manifest, tmp_path / "parts", 4).todo == first.todo
    assert [len(g) for g in first.todo] == [4, 4, 2]
    seconds = {
        line: len(load_audio(rows[line - 1]["audio_path"])) for g in first.todo for line, _ in g
    }
    order = [seconds[line] for g in first.todo for line, _ in g]
    assert order == sorted(order)


def test_a_recording_gets_the_same_inputs_alone_and_batched_with_a_longer_one(processor, corpus):
    source = Path(corpus["test"])
    rows = [json.loads(x) for x in source.read_text().splitlines()[:8]]
    audios = [load_audio(source.parent / r["audio_path"]) for r in rows]
    short = min(range(8), key=lambda i: len(audios[i]))
    long = max(range(8), key=lambda i: len(audios[i]))
    units = [r["text"].split() for r in rows]
    alone = build_inputs(processor, [audios[short]], [units[short]])
    batched = build_inputs(processor, [audios[short], audios[long]], [units[short], units[long]])
    frames = int(alone["input_features_mask"][0].sum())
    assert int(batched["input_features_mask"][0].sum()) == frames  # not one frame more
    assert not batched["input_features"][0, :, frames:].any()  # zeros past its end, as alone
    a, b = alone["input_features"][0, :, :frames], batched["input_features"][0, :, :frames]
    torch.testing.assert_close(a[:, :-2], b[:, :-2], rtol=0, atol=0)  # the STFT's last frames
    torch.testing.assert_close(a, b, rtol=0, atol=0.2)  # see reflection vs zeros past the end
