import json

import numpy as np
import pytest
import soundfile as sf
import torch

from alignadapt.data.audio import load_audio
from alignadapt.data.datamodule import AlignDataModule, Collator, ManifestDataset
from alignadapt.data.manifest import ManifestError
from alignadapt.model.timing import IGNORE_INDEX


def test_load_audio_makes_mono_16k(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    audio = load_audio(tmp_path / "s.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 16000
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)  # the two channels averaged


def test_collated_labels_hold_the_reference_classes_at_slots(processor, tiny_dir, corpus):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_dir)
    dataset = ManifestDataset(corpus["train"], processor)
    collate = Collator(processor, config.timestamp_token_id, 80.0, config.num_labels)
    examples = [dataset[0], dataset[1], dataset[2]]
    batch = collate(examples)
    assert batch["input_ids"].shape == batch["labels"].shape
    for row, example in enumerate(examples):
        slots = batch["input_ids"][row] == config.timestamp_token_id
        expected = [int(t * 1000 / 80 + 0.5) for span in example.spans for t in span]
        assert batch["labels"][row][slots].tolist() == expected
        assert (batch["labels"][row][~slots] == IGNORE_INDEX).all()
        assert torch.allclose(
            batch["ref_times"][row], torch.tensor(example.spans, dtype=torch.float64).flatten()
        )
    first = json.loads(corpus["train"].read_text().splitlines()[0])
    assert examples[0].units == first["text"].split()
    assert batch["keys"][0] == "train.jsonl:1"


def _write_manifest(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_datamodule_rejects_a_count_mismatch_before_training_naming_the_line(
    tiny_dir, corpus, tmp_path
):
    lines = [json.loads(x) for x in corpus["train"].read_text().splitlines()[:4]]
    for line in lines:
        line["audio_path"] = str(corpus["train"].parent / line["audio_path"])
    lines[2]["words"] = lines[2]["words"][:-1]  # one unit short
    bad = _write_manifest(tmp_path / "bad.jsonl", lines)
    dm = AlignDataModule(str(tiny_dir), train_manifest=str(bad), val_manifest=str(corpus["val"]))
    with pytest.raises(
        ManifestError,
        match=r"bad.jsonl:3: the text splits into \d+ units but there are \d+ timestamp pairs",
    ):
        dm.setup("fit")


def test_datamodule_rejects_unlabelled_lines_pointing_to_pseudo_labelling(
    tiny_dir, corpus, tmp_path
):
    line = json.loads(corpus["train"].read_text().splitlines()[0])
    line["audio_path"] = str(corpus["train"].parent / line["audio_path"])
    unlabelled = dict(line, words=None)
    bad = _write_manifest(tmp_path / "u.jsonl", [line, unlabelled])
    dm = AlignDataModule(str(tiny_dir), train_manifest=str(bad), val_manifest=str(corpus["val"]))
    with pytest.raises(ManifestError, match="(?s)u.jsonl:2: no reference timestamps.*pseudo-label"):
        dm.setup("fit")


def test_datamodule_batches_count_utterances(tiny_dir, corpus):
    dm = AlignDataModule(
        str(tiny_dir),
        train_manifest=str(corpus["train"]),
        val_manifest=str(corpus["val"]),
        batch_size=5,
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == int(np.ceil(48 / 5))
    batch = next(iter(loader))
    assert len(batch["keys"]) == 5 and batch["input_features"].shape[0] == 5
