"""Other aligners' output as report columns: each format read, mapped onto the reference
units despite different word forms, scored exactly like alignadapt's own JSON, and the
utterances that cannot be mapped listed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignadapt.data.external import MapError, map_to_units, read_predictions
from alignadapt.evaluation.run import evaluate, run_evaluation
from alignadapt.inference.aligner import AlignerSettings
from alignadapt.inference.formats import Word, write_alignment

from .conftest import compose_train


def test_word_forms_map_exactly_onto_the_reference_units():
    units = ["the", "stateoftheart", "scan", "showed", "3", "lesions"]
    words = [  # what another tool writes: case, punctuation, a hyphenated word split, a number
        ("The", 0.10, 0.20),
        ("state", 0.25, 0.40),
        ("of", 0.40, 0.45),
        ("the", 0.45, 0.50),
        ("art", 0.50, 0.70),
        ("sp", 0.70, 0.80),  # a silence label
        ("SCAN,", 0.80, 1.10),
        ("showed", 1.15, 1.40),
        ("three", 1.45, 1.70),
        ("lesions.", 1.75, 2.20),
    ]
    mapped = map_to_units(units, words)
    expected = [0.10, 0.20, 0.25, 0.70, 0.80, 1.10, 1.15, 1.40, 1.45, 1.70, 1.75, 2.20]
    np.testing.assert_allclose(mapped.times, expected, atol=1e-12)
    assert mapped.approximate == 1  # "3" against "three": placed, but not character for character


def test_a_merged_word_is_shared_out_by_characters():
    mapped = map_to_units(["new", "york", "city"], [("newyork", 0.0, 1.4), ("city", 1.5, 2.0)])
    np.testing.assert_allclose(mapped.times, [0.0, 0.6, 0.6, 1.4, 1.5, 2.0])
    assert mapped.approximate == 2


def test_an_utterance_that_cannot_be_mapped_says_why():
    with pytest.raises(
        MapError,
        match=r"only 28% of the reference.s characters match the tool.s words \(good morning\)",
    ):
        map_to_units(["objection", "sustained"], [("good", 0.0, 0.5), ("morning", 0.5, 1.0)])
    with pytest.raises(
        MapError, match=r"no counterpart in the tool's words for 'sustained' \(unit 2\)"
    ):
        map_to_units(
            ["objection", "overruled", "sustained"],
            [("objection", 0.0, 0.5), ("overruled", 0.5, 1.0)],
        )
    with pytest.raises(MapError, match="no words for this recording"):
        map_to_units(["yes"], [("<sil>", 0.0, 1.0)])


def test_an_unreadable_prediction_set_names_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"text": "no words here"}))
    with pytest.raises(ValueError, match=r"a\.json: cannot tell which tool wrote this JSON"):
        read_predictions("x", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        read_predictions("x", tmp_path / "missing")


def reference_lines(corpus, n: int) -> list[dict]:
    source = Path(corpus["test"])
    rows = [json.loads(x) for x in source.read_text().splitlines()[:n]]
    for r in rows:
        r["audio_path"] = str((source.parent / r["audio_path"]).resolve())
        if "timestamps" in r:
            r["words"] = [
                {"word": w, "start": s, "end": e}
                for w, (s, e) in zip(r["text"].split(), r.pop("timestamps"), strict=True)
            ]
    # realistic differences for other tools to get wrong: a hyphenated word and a number
    words = rows[0]["words"]
    rows[0]["text"] = " ".join(["follow-up" if i == 1 else w["word"] for i, w in enumerate(words)])
    words[1]["word"] = "followup"
    rows[1]["text"] = " ".join(
        ["3" if i == 0 else w["word"] for i, w in enumerate(rows[1]["words"])]
    )
    rows[1]["words"][0]["word"] = "3"
    return rows


def predicted(rows: list[dict]) -> list[list[tuple[str, float, float]]]:
    """Known 'predictions': the references moved by a few tens of ms, in ms steps."""
    out = []
    for k, r in enumerate(rows):
        out.append(
            [
                (w["word"], round(w["start"] + 0.01 * ((i + k) % 5), 3), round(w["end"] + 0.02, 3))
                for i, w in enumerate(r["words"])
            ]
        )
    return out


def tool_words(text: str, words: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """How another tool writes the same words: capitalised, punctuated, hyphens split,
    numbers spelled out (spans of split words cut inside the unit's span)."""
    out = []
    for i, (word, s, e) in enumerate(words):
        if word == "followup":
            out += [("Follow", s, round((s + e) / 2, 3)), ("up", round((s + e) / 2, 3), e)]
        elif word == "3":
            out.append(("three", s, e))
        else:
            out.append((word.capitalize() if i == 0 else word, s, e))
    w, s, e = out[-1]
    out[-1] = (w + ".", s, e)
    return out


def write_all_formats(tmp_path: Path, rows: list[dict], preds) -> dict[str, dict]:
    """The same predictions in alignadapt's JSON and as each other tool writes them."""
    sets = {
        "own": tmp_path / "own",
        "mfa": tmp_path / "mfa",
        "whisperx": tmp_path / "whisperx",
        "qwen3": tmp_path / "qwen3",
    }
    ctm_lines = []
    for r, words in zip(rows, preds, strict=True):
        stem = Path(r["audio_path"]).stem
        own = [Word(w, w, s, e, 1.0) for w, s, e in words]
        write_alignment(sets["own"] / f"{stem}.json", "json", own, {"id": stem}, 10.0)
        other = tool_words(r["text"], words)
        as_words = [Word(w, w, s, e, 0.9) for w, s, e in other]
        write_alignment(sets["mfa"] / f"{stem}.TextGrid", "textgrid", as_words, {}, 10.0)
        ctm_lines += [f"{stem} A {s:.3f} {e - s:.3f} {w.upper()} 0.9\n" for w, s, e in other]
        sets["whisperx"].mkdir(exist_ok=True)
        segments = [
            {
                "start": other[0][1],
                "end": other[-1][2],
                "text": " ".join(w for w, _, _ in other),
                "words": [{"word": w, "start": s, "end": e, "score": 0.8} for w, s, e in other],
            }
        ]
        (sets["whisperx"] / f"{stem}.json").write_text(json.dumps({"segments": segments}))
        sets["qwen3"].mkdir(exist_ok=True)
        items = [{"text": w, "start_time": s, "end_time": e} for w, s, e in other]
        (sets["qwen3"] / f"{stem}.json").write_text(json.dumps(items))
    (tmp_path / "nfa.ctm").write_text("".join(ctm_lines))
    out = {name: {"path": str(p)} for name, p in sets.items()}
    out["nfa"] = {"path": str(tmp_path / "nfa.ctm")}
    out["whisperx"]["format"] = "whisperx"
    return out


def test_every_external_format_scores_like_alignadapts_own_json(tmp_path, tiny_dir, corpus):
    rows = reference_lines(corpus, 5)
    manifest = tmp_path / "ref.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = predicted(rows)
    specs = write_all_formats(tmp_path, rows, preds)
    # a partial set: one recording missing, one with another transcript
    partial = tmp_path / "partial"
    partial.mkdir()
    for k, (r, words) in enumerate(zip(rows, preds, strict=True)):
        stem = Path(r["audio_path"]).stem
        if k == 3:
            continue
        if k == 4:
            words = [("completely", 0.1, 0.5), ("different", 0.5, 1.0)]
        items = [{"text": w, "start_time": s, "end_time": e} for w, s, e in words]
        (partial / f"{stem}.json").write_text(json.dumps({"items": items}))
    specs["partial"] = {"path": str(partial), "format": "qwen3"}
    unrelated = tmp_path / "unrelated"  # a set for other recordings: a column with nothing mapped
    unrelated.mkdir()
    (unrelated / "other_talk.json").write_text(
        json.dumps([{"text": "x", "start_time": 0, "end_time": 1}])
    )
    specs["unrelated"] = str(unrelated)

    metrics = run_evaluation(
        manifest,
        {},
        str(tiny_dir),
        tmp_path / "report",
        AlignerSettings(),
        bootstrap=50,
        naive=True,
        worst=1,
        predictions=specs,
    )
    own = metrics["columns"]["own"]
    assert own["utterances"] == 5 and own["slots"] == 2 * sum(len(r["words"]) for r in rows)
    reference = np.concatenate([[w["start"], w["end"]] for r in rows for w in r["words"]])
    expected = np.concatenate([[s, e] for p in preds for _, s, e in p])
    assert own["aas_ms"] == pytest.approx(np.abs(expected - reference).mean() * 1000, abs=1e-6)
    for name in ("mfa", "nfa", "whisperx", "qwen3"):
        column = metrics["columns"][name]
        for key in ("aas_ms", "median_ms", "p90_ms", "within_20ms", "within_50ms", "slots"):
            assert column[key] == pytest.approx(own[key], abs=1e-6), (name, key)
        assert metrics["mapping"][name]["utterances"] == 5
        assert metrics["mapping"][name]["approximate_units"] == 1  # "3" read from "three"
        assert name in metrics["vs_base"]
    mapping = metrics["mapping"]["partial"]
    assert (mapping["utterances"], mapping["of"]) == (3, 5)
    stems = [Path(r["audio_path"]).stem for r in rows]
    assert [m["key"] for m in mapping["unmapped"]] == ["ref.jsonl:4", "ref.jsonl:5"]
    assert mapping["unmapped"][0]["problem"] == f"no prediction for recording {stems[3]!r}"
    assert "another transcript" in mapping["unmapped"][1]["problem"]
    assert metrics["columns"]["partial"]["utterances"] == 3
    assert metrics["vs_base"]["partial"]["utterances"] == 3
    assert metrics["mapping"]["unrelated"]["utterances"] == 0
    assert metrics["columns"]["unrelated"]["slots"] == 0 and "unrelated" not in metrics["vs_base"]
    # against naive too: on the utterances both have, never a column with nothing mapped
    assert "unrelated" not in metrics["vs_naive"] and "naive" not in metrics["vs_naive"]
    assert metrics["vs_naive"]["partial"]["utterances"] == 3
    assert metrics["vs_naive"]["own"]["aas_diff_ms"] == pytest.approx(
        own["aas_ms"] - metrics["columns"]["naive"]["aas_ms"]
    )
    table = (tmp_path / "report" / "table.txt").read_text()
    assert "partial: 3 of 5 utterances mapped" in table
    assert f"not mapped: ref.jsonl:4: no prediction for recording {stems[3]!r}" in table
    header = (tmp_path / "report" / "words.csv").read_text().splitlines()[0]
    assert "partial:start" in header and "nfa:error_ms" in header


def test_evaluate_py_takes_predictions_as_a_path_or_a_mapping(
    tmp_path, tiny_dir, corpus, shared_dir
):
    rows = reference_lines(corpus, 2)
    manifest = tmp_path / "ref.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    specs = write_all_formats(tmp_path, rows, predicted(rows))
    out = tmp_path / "report"
    cfg = compose_train(
        [
            f"manifest={manifest}",
            f"base={tiny_dir}",
            f"+predictions.nfa={specs['nfa']['path']}",
            f"+predictions.whisperx={{path: {specs['whisperx']['path']}, format: whisperx}}",
            "naive=false",
            "bootstrap=20",
            "worst=1",
            f"out_dir={out}",
        ],
        tmp_path / "run",
        shared_dir,
        "evaluate",
    )
    evaluate(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["columns"]) == ["base", "nfa", "whisperx"]
    assert metrics["mapping"]["whisperx"]["format"] == "whisperx"
    assert metrics["columns"]["nfa"]["aas_ms"] == pytest.approx(
        metrics["columns"]["whisperx"]["aas_ms"], abs=1e-6
    )
    assert {"plots/error_distribution.png", "plots/worst_1.png"} <= {
        str(p.relative_to(out)) for p in out.rglob("*.png")
    }
