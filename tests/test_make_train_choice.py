"""bench/make_train_choice.py: make train's settings are chosen on the validation sets by a
fixed rule, and a finished run is read back instead of trained again."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import ROOT


def load_bench():
    path = ROOT / "bench" / "make_train_choice.py"
    spec = importlib.util.spec_from_file_location("make_train_choice", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lowest_domain_error_wins_among_the_settings_that_keep_general_speech():
    choose = load_bench().choose
    rows = {
        "a": {"domain": 180.0, "general": 230.0},  # best domain, drifts 15%
        "b": {"domain": 195.0, "general": 209.0},  # within 5% (+4.5%)
        "c": {"domain": 190.0, "general": 210.0},  # within 5% (+5.0%), lower domain: chosen
        "d": {"domain": 199.0, "general": 190.0},
    }
    assert choose(rows, base_general=200.0, max_drift=0.05) == "c"
    assert choose(rows, base_general=200.0, max_drift=0.2) == "a"
    # none within: the one that drifts least
    assert choose({k: rows[k] for k in "ab"}, base_general=180.0, max_drift=0.05) == "b"
    with pytest.raises(ValueError, match="no setting"):
        choose({}, base_general=200.0, max_drift=0.05)


def test_a_finished_run_is_read_back_not_trained_again(tmp_path, monkeypatch):
    bench = load_bench()
    calls = []
    monkeypatch.setattr(bench, "run", calls.append)
    run_dir = tmp_path / "r8_replay50_seed42"
    (run_dir / "train" / "adapter").mkdir(parents=True)
    (run_dir / "train_minutes.txt").write_text("6.5\n")
    made_with = {"seed": 42, "steps": None, "overrides": ["lora.r=8"]}
    (run_dir / "run.json").write_text(json.dumps(made_with))
    for split, adapted in (("domain_val", 201.25), ("general_val", 220.0)):
        (run_dir / split).mkdir()
        columns = {"base": {"aas_ms": 535.6}, "adapted": {"aas_ms": adapted}}
        (run_dir / split / "metrics.json").write_text(json.dumps({"columns": columns}))
    row = bench.one_run(run_dir, 42, ["lora.r=8"])
    assert calls == []
    assert row == {
        "seed": 42,
        "train_minutes": 6.5,
        "domain_val": {"base": 535.6, "adapted": 201.2},
        "general_val": {"base": 535.6, "adapted": 220.0},
    }
    # the same folder made with other steps (a smoke run) is trained again, not read back
    monkeypatch.setattr(bench, "columns", lambda report: {"adapted": 1.0})
    bench.one_run(run_dir, 42, ["lora.r=8"], steps=3)
    assert "trainer.max_steps=3" in calls[0]
    assert json.loads((run_dir / "run.json").read_text())["steps"] == 3


def test_an_unfinished_run_is_started_again_on_the_validation_sets_only(tmp_path, monkeypatch):
    bench = load_bench()
    calls = []
    monkeypatch.setattr(bench, "run", calls.append)
    monkeypatch.setattr(bench, "columns", lambda report: {"adapted": 1.0})
    run_dir = tmp_path / "r16_replay70_seed1"
    (run_dir / "train" / "checkpoints").mkdir(parents=True)  # no adapter: it stopped midway
    stale = run_dir / "train" / "checkpoints" / "last.ckpt"
    stale.write_text("x")
    bench.one_run(run_dir, 1, ["lora.r=16"], steps=3)
    assert not stale.exists()
    train, *evaluations = calls
    assert "seed=1" in train and "trainer.max_steps=3" in train and "lora.r=16" in train
    assert "data.test_manifest=data/demo/domain_val.jsonl" in train  # the test set is not touched
    assert [c[2] for c in evaluations] == [
        "manifest=data/demo/domain_val.jsonl",
        "manifest=data/demo/general_val.jsonl",
    ]
