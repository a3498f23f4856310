"""evaluate.py on the tiny model: base against an adapter, both decodings, the full report
folder, mismatched lines named, terms split out, and the same numbers in an offline W&B run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from alignadapt.evaluation.run import evaluate as run_evaluate

from .adapters import random_adapter
from .conftest import compose_train
from .test_wandb import read_records


def evaluate(cfg) -> dict:
    """Run the evaluate task; metrics.json's content."""
    run_evaluate(cfg)
    return json.loads((Path(cfg.out_dir) / "metrics.json").read_text())


pytestmark = pytest.mark.slow


def test_evaluate_writes_the_full_report_for_base_and_adapter(
    tmp_path, shared_dir, tiny_dir, corpus, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    source = Path(corpus["test"])
    lines = source.read_text().splitlines()[:5]
    rows = [json.loads(x) for x in lines]
    for r in rows:
        r["audio_path"] = str((source.parent / r["audio_path"]).resolve())
    rows[3]["language"] = rows[4]["language"] = "German"  # two languages to split by
    bad = dict(rows[0], text=rows[0]["text"] + " extra")  # one unit more than the reference
    manifest = tmp_path / "held_out.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [*rows, bad]))
    adapter = random_adapter(tiny_dir, tmp_path / "adapter")
    term = rows[0]["text"].split()[0]
    out = tmp_path / "report"
    cfg = compose_train(
        [
            f"manifest={manifest}",
            f"models.adapted={adapter}",
            "aligner.decodings=[argmax,subclass,monotonic]",
            f"terms=[{term}]",
            "worst=2",
            "bootstrap=200",
            f"out_dir={out}",
            "logger=wandb",
        ],
        tmp_path / "run",
        shared_dir,
        "evaluate",
    )
    metrics = evaluate(cfg)
    import wandb

    wandb.finish()

    files = {
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "wandb" not in p.parts
    }
    assert {
        "metrics.json",
        "table.txt",
        "words.csv",
        "plots/error_distribution.png",
        "plots/error_by_position.png",
        "plots/error_by_time.png",
        "plots/worst_1.png",
        "plots/worst_2.png",
    } <= files
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    columns = [f"{m}/{d}" for m in ("base", "adapted") for d in ("argmax", "subclass", "monotonic")]
    columns.append("naive")
    assert list(metrics["columns"]) == columns
    assert metrics["models"] == {
        "base": str(tiny_dir),
        "adapted": str(adapter),
    }  # base from the adapter
    n0 = len(rows[0]["text"].split())
    assert len(metrics["mismatched"]) == 1
    assert metrics["mismatched"][0]["key"] == "held_out.jsonl:6"
    assert metrics["mismatched"][0]["problem"].startswith(
        f"{n0 + 1} units as the aligner splits the text, {n0} reference pairs"
    )
    n_units = sum(len(r.get("timestamps") or r["words"]) for r in rows)
    n_terms = sum(r["text"].split().count(term) for r in rows)
    for c in columns:
        col = metrics["columns"][c]
        assert col["slots"] == 2 * n_units and col["utterances"] == 5
        assert {
            "aas_ms",
            "median_ms",
            "p90_ms",
            "within_20ms",
            "within_50ms",
            "within_100ms",
            "zero_length_share",
            "repaired_share",
        } <= set(col)
        assert list(col["by_language"]) == ["English", "German"]
        assert col["terms"]["slots"] == 2 * n_terms and col["other_words"]["slots"] == 2 * (
            n_units - n_terms
        )
    for c in ("adapted/argmax", "adapted/subclass", "adapted/monotonic"):
        diff = metrics["vs_base"][c]
        assert diff["base"] == c.replace("adapted", "base")
        assert diff["ci95_ms"][0] <= diff["aas_diff_ms"] <= diff["ci95_ms"][1]
        expected = metrics["columns"][c]["aas_ms"] - metrics["columns"][diff["base"]]["aas_ms"]
        assert diff["aas_diff_ms"] == pytest.approx(expected)
    assert list(metrics["vs_naive"]) == columns[:-1]  # every model against the no-model baseline
    for c, diff in metrics["vs_naive"].items():
        assert diff["base"] == "naive" and diff["utterances"] == 5
        expected = metrics["columns"][c]["aas_ms"] - metrics["columns"]["naive"]["aas_ms"]
        assert diff["aas_diff_ms"] == pytest.approx(expected)
        assert diff["ci95_ms"][0] <= diff["aas_diff_ms"] <= diff["ci95_ms"][1]

    with open(out / "words.csv") as f:
        words = list(csv.DictReader(f))
    assert len(words) == n_units
    for c in columns:  # words.csv holds exactly the numbers behind AAS
        err = [
            abs(float(w[f"{c}:{e}"]) - float(w[f"ref_{e}"]))
            for w in words
            for e in ("start", "end")
        ]
        assert np.mean(err) * 1000 == pytest.approx(metrics["columns"][c]["aas_ms"], abs=0.1)
        german = [
            abs(float(w[f"{c}:{e}"]) - float(w[f"ref_{e}"]))
            for w in words
            if w["language"] == "German"
            for e in ("start", "end")
        ]
        by_language = metrics["columns"][c]["by_language"]
        assert np.mean(german) * 1000 == pytest.approx(by_language["German"]["aas_ms"], abs=0.1)
    # the listening check: every model aligned again with each recording's audio swapped for
    # the next one's in its batch (all five fit one batch of 8, in length order)
    from alignadapt.evaluation.listening import donor_audios, verdict
    from alignadapt.evaluation.metrics import slot_errors_ms
    from alignadapt.inference.aligner import Aligner

    assert set(metrics["listening"]) == {"base", "adapted"}
    base_check = metrics["listening"]["base"]
    assert base_check["aas_ms"] == pytest.approx(metrics["columns"]["base/argmax"]["aas_ms"])
    assert base_check["slots"] == 2 * n_units
    import soundfile as sf

    from alignadapt.model.prompt import split_units

    aligner = Aligner.load(str(tiny_dir))
    order = sorted(range(5), key=lambda i: sf.info(rows[i]["audio_path"]).frames)
    audios = [sf.read(rows[i]["audio_path"], dtype="float32")[0] for i in order]
    units = [
        split_units(aligner.processor, rows[i]["text"], rows[i].get("language")) for i in order
    ]
    swapped = aligner.align(donor_audios(audios), units)
    refs = [
        np.asarray(rows[i].get("timestamps") or [[w["start"], w["end"]] for w in rows[i]["words"]])
        for i in order
    ]
    deaf = np.concatenate(
        [slot_errors_ms(a.decoded["argmax"].times, r) for a, r in zip(swapped, refs, strict=True)]
    )
    assert base_check["aas_withheld_ms"] == pytest.approx(deaf.mean(), rel=1e-6)
    table = (out / "table.txt").read_text()
    assert "listening: " + verdict("base", base_check).splitlines()[0] in table
    assert "AAS German (ms)" in table and "AAS terms (ms)" in table
    assert "AAS adapted/argmax - base/argmax" in table and "not scored: held_out.jsonl:6" in table
    assert "AAS adapted/argmax - naive" in table and "AAS base/monotonic - naive" in table

    runs = list((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    keys = set()
    for record in read_records(runs[0]):
        if record.WhichOneof("record_type") == "history":
            keys.update(item.key or ".".join(item.nested_key) for item in record.history.item)
    assert (
        "eval/adapted/argmax/aas_ms" in keys
        and "eval/vs_base/adapted/argmax/aas_diff_ms" in keys
        and "eval/vs_naive/adapted/argmax/aas_diff_ms" in keys
    )
    assert any(k.startswith("eval/plots/worst_1") for k in keys)
    assert any(k.startswith("eval/worst_words/adapted/argmax") for k in keys)

    with pytest.raises(FileExistsError, match="force=true"):
        evaluate(cfg)


def test_error_by_time_bins_each_words_error_by_where_it_starts(tmp_path):
    from alignadapt.evaluation.report import (
        UttResult,
        error_by_time,
        plot_error_by_time,
        time_bin_width,
    )
    from alignadapt.model.decoding import Decoded

    def utt(key, reference, predicted):
        r = UttResult(key, ["w"] * len(reference), np.array(reference), "English", "x.wav")
        r.predictions["model"] = Decoded(times=np.array(predicted).ravel(), repaired=0)
        return r

    results = [  # word errors (mean of start and end errors): 10, 30 | 100 | 300 ms
        utt("a", [[0.5, 1.0], [1.5, 1.9]], [[0.49, 1.01], [1.53, 1.93]]),
        utt("b", [[2.5, 3.0], [6.0, 6.5]], [[2.6, 3.1], [6.3, 6.8]]),
    ]
    starts, means, words = error_by_time(results, "model", 2.0)
    assert starts.tolist() == [0.0, 2.0, 6.0]  # the empty 4-6 s bin is left out
    assert means == pytest.approx([20.0, 100.0, 300.0])
    assert words.tolist() == [2, 1, 1]
    assert [len(x) for x in error_by_time(results, "other", 2.0)] == [0, 0, 0]
    assert [time_bin_width(s) for s in (6.8, 15.0, 16.0, 3600.0, 10**6)] == [1, 1, 2, 300, 600]
    path = plot_error_by_time(results, ["model"], tmp_path / "t.png", title="set")
    assert path.stat().st_size > 0
