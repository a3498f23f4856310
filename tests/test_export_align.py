"""alignadapt export (adapter, merged standalone model) and alignadapt align (five formats,
read back with their own readers; punctuation mapped back; flags; no overwrite)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import srt
import torch
from praatio import textgrid
from transformers import Qwen3ASRForTokenClassification, Qwen3ASRProcessor

from alignadapt.cli import main
from alignadapt.data.audio import load_audio
from alignadapt.inference.aligner import Aligner
from alignadapt.inference.formats import FORMATS, Word, display_words
from alignadapt.inference.service import flag_alignment
from alignadapt.model.prompt import split_units
from alignadapt.model.reference import load_for_inference

from .adapters import random_adapter
from .conftest import ROOT


def readme_json_shape() -> dict:
    """The example of `alignadapt align --format json` output in the README."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- align-json -->", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "The patient presents with dyspnoea.",
            ["The", "patient", "presents", "with", "dyspnoea."],
        ),
        ('«Objection», he said - "sustained!"', ["«Objection»,", "he", "said -", '"sustained!"']),
        ("你好，世界。OK?", ["你", "好，", "世", "界。", "OK?"]),
        ("It's U.S.-made, isn't it?", ["It's", "U.S.-made,", "isn't", "it?"]),
    ],
)
def test_display_words_give_back_the_transcripts_words(processor, text, expected):
    units = split_units(processor, text, None)
    assert display_words(text, units) == expected


def test_flags_name_zero_length_crushed_and_unsure_alignments():
    good = [Word("a", "a", 0.0, 0.3, 0.9), Word("b", "b", 0.4, 0.7, 0.9)]
    assert flag_alignment(good) == []
    zero = [
        Word("a", "a", 1.0, 1.0, 0.9),
        Word("b", "b", 1.0, 1.0, 0.9),
        Word("c", "c", 1.0, 1.5, 0.9),
    ]
    assert flag_alignment(zero) == ["2 of 3 words have zero length"]
    crushed = [Word("a", "a", 1.0, 1.01, 0.05), Word("b", "b", 1.01, 1.02, 0.05)]
    assert flag_alignment(crushed) == [
        "2 of 2 words are crushed under 20 ms",
        "low confidence: 0.050 on average (below 0.1)",
    ]


def test_merged_export_loads_with_plain_transformers_and_matches_the_adapter(
    tiny_dir, corpus, tmp_path
):
    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    assert main(["export", str(adapter), str(tmp_path / "adapter_out")]) == 0
    assert {"adapter_model.safetensors", "adapter_config.json", "alignadapt_adapter.json"} <= {
        p.name for p in (tmp_path / "adapter_out").iterdir()
    }
    merged = tmp_path / "merged"
    assert main(["export", str(adapter), str(merged), "--merge"]) == 0
    assert main(["export", str(adapter), str(merged), "--merge"]) == 2  # never overwritten silently
    names = {p.name for p in merged.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "chat_template.jinja",
        "tokenizer.json",
        "processor_config.json",
    } <= names
    assert not any(n.endswith(".bin") for n in names)

    plain = Qwen3ASRForTokenClassification.from_pretrained(merged).eval()  # plain transformers
    plain_processor = Qwen3ASRProcessor.from_pretrained(merged)
    assert not hasattr(plain, "peft_config")
    with_adapter, processor = load_for_inference(adapter)
    base, _ = load_for_inference(tiny_dir)
    lines = [json.loads(x) for x in Path(corpus["test"]).read_text().splitlines()[:3]]
    audios = [load_audio(Path(corpus["test"]).parent / r["audio_path"]) for r in lines]
    units = [split_units(processor, r["text"], None) for r in lines]
    times, logits = {}, {}
    for name, (model, proc) in {
        "merged": (plain, plain_processor),
        "adapter": (with_adapter, processor),
        "base": (base, processor),
    }.items():
        aligner = Aligner(model, proc)
        times[name] = [a.decoded["argmax"].times for a in aligner.align(audios, units)]
        logits[name] = torch.cat(aligner.slot_logits(audios, units))
    for m, a in zip(times["merged"], times["adapter"], strict=True):
        np.testing.assert_array_equal(m, a)  # the same timestamps
    torch.testing.assert_close(logits["merged"], logits["adapter"], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(logits["base"], logits["adapter"], atol=1e-2)  # the adapter matters

    bf16 = tmp_path / "merged_bf16"
    assert main(["export", str(adapter), str(bf16), "--merge", "--dtype", "bfloat16"]) == 0
    assert Qwen3ASRForTokenClassification.from_pretrained(bf16).score.weight.dtype == torch.bfloat16


def test_align_writes_five_formats_that_their_readers_read_back(
    tiny_dir, corpus, processor, tmp_path, capsys
):
    record = json.loads(Path(corpus["test"]).read_text().splitlines()[0])
    audio = Path(corpus["test"]).parent / record["audio_path"]
    words = record["text"].split()
    text = f"{words[0].capitalize()}, {' '.join(words[1:-1])} ({words[-1]})."
    transcript = tmp_path / "clip.txt"
    transcript.write_text(text)
    expected = display_words(text, split_units(processor, text, None))
    assert expected[0].endswith(",") and expected[-1] == f"({words[-1]})."

    outs = {}
    for fmt, suffix in FORMATS.items():
        outs[fmt] = tmp_path / f"clip{suffix}"
        args = ["align", "--model", str(tiny_dir), str(audio), str(transcript), "--format", fmt]
        assert main([*args, "--out", str(outs[fmt])]) == 0
    data = json.loads(outs["json"].read_text())
    got = [(w["word"], w["start"], w["end"]) for w in data["words"]]
    assert [w for w, _, _ in got] == expected
    assert (
        data["flags"] and "zero length" in data["flags"][0]
    )  # an untrained tiny model piles words up
    assert "alignment looks wrong" in capsys.readouterr().err
    documented = readme_json_shape()  # the shape the README documents, key for key
    assert list(data) == list(documented)
    assert list(data["words"][0]) == list(documented["words"][0])
    for key, value in documented.items():
        nullable = key == "language"  # null when no language was given, as here
        assert isinstance(data[key], type(value)) or (nullable and data[key] is None), key

    tiers = textgrid.openTextgrid(str(outs["textgrid"]), includeEmptyIntervals=False)
    intervals = tiers.getTier("words").entries
    assert [i.label for i in intervals] == expected
    assert all(i.end > i.start for i in intervals)

    for fmt in ("srt", "vtt"):  # cues, not words: every word once, none of zero length
        body = outs[fmt].read_text()
        if fmt == "vtt":  # WebVTT's header off and its times as SRT writes them
            body = re.sub(r"(\d\d:\d\d:\d\d)\.(\d{3})", r"\1,\2", body.split("\n", 2)[2])
        cues = list(srt.parse(body))
        assert " ".join(c.content for c in cues) == " ".join(expected)
        assert all(c.end > c.start for c in cues)
        assert round(cues[0].start.total_seconds(), 3) == got[0][1]

    rows = [line.split() for line in outs["ctm"].read_text().splitlines()]
    assert [r[4] for r in rows] == [w.strip(",.()") for w in expected]
    assert [float(r[2]) for r in rows] == pytest.approx([s for _, s, _ in got], abs=1e-3)
    assert all(r[0] == audio.stem and r[1] == "1" for r in rows)

    before = outs["json"].read_bytes()
    assert (
        main(
            [
                "align",
                "--model",
                str(tiny_dir),
                str(audio),
                str(transcript),
                "--out",
                str(outs["json"]),
            ]
        )
        == 2
    )
    assert "--force" in capsys.readouterr().err and outs["json"].read_bytes() == before
    assert (
        main(
            [
                "align",
                "--model",
                str(tiny_dir),
                str(audio),
                text,
                "--out",
                str(outs["json"]),
                "--force",
            ]
        )
        == 0
    )


def test_align_a_manifest_with_an_adapter_writes_one_file_per_line(tiny_dir, corpus, tmp_path):
    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    out = tmp_path / "grids"
    args = [
        "align",
        "--model",
        str(tiny_dir),
        "--adapter",
        str(adapter),
        "--manifest",
        str(corpus["test"]),
    ]
    assert main([*args, "--format", "textgrid", "--out", str(out), "--batch-size", "4"]) == 0
    lines = Path(corpus["test"]).read_text().splitlines()
    files = sorted(out.glob("*.TextGrid"))
    assert len(files) == len(lines)
    first = json.loads(lines[0])
    grid = textgrid.openTextgrid(
        str(out / (Path(first["audio_path"]).stem + ".TextGrid")), includeEmptyIntervals=False
    )
    assert [i.label for i in grid.getTier("words").entries] == first["text"].split()


def test_align_per_word_subtitles_and_cue_limits_from_the_command_line(tiny_dir, corpus, tmp_path):
    args = ["align", "--model", str(tiny_dir), "--manifest", str(corpus["test"])]
    lines = [json.loads(x) for x in Path(corpus["test"]).read_text().splitlines()]
    first = Path(lines[0]["audio_path"]).stem
    assert main([*args, "--format", "srt", "--per-word", "--out", str(tmp_path / "w")]) == 0
    cues = list(srt.parse((tmp_path / "w" / f"{first}.srt").read_text()))
    assert " ".join(c.content for c in cues) == lines[0]["text"]
    assert all(c.end > c.start for c in cues)  # the tiny model piles words: merged, not empty
    vtt = [*args, "--format", "vtt", "--per-word", "--cue-chars", "12", "--cue-seconds", "3"]
    assert main([*vtt, "--out", str(tmp_path / "c")]) == 0
    blocks = [b for b in (tmp_path / "c" / f"{first}.vtt").read_text().split("\n\n")[1:] if b]
    texts = [b.split("\n")[1] for b in blocks]
    assert re.sub(r"<[0-9:.]+>", "", " ".join(texts)) == lines[0]["text"]
    n_words = len(lines[0]["text"].split())
    assert sum(t.count("<00:") for t in texts) == n_words - len(blocks)  # a mark per later word
