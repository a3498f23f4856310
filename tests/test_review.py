"""alignadapt review: the least confident lines out as TextGrids, the checked ones back in."""

import json

import pytest
from praatio import textgrid

from alignadapt.data.manifest import iter_manifest
from alignadapt.inference.review import INDEX, export_for_review, import_reviewed
from alignadapt.model.prompt import split_units


@pytest.fixture
def pseudo(corpus, tmp_path):
    """Four labelled lines as pseudo_label.py writes them, confidences 0.9, 0.2, 0.6, 0.4."""
    lines = [json.loads(x) for x in corpus["test"].read_text().splitlines()[:4]]
    for line, conf in zip(lines, (0.9, 0.2, 0.6, 0.4), strict=True):
        line["audio_path"] = str(corpus["test"].parent / line["audio_path"])
        line["alignment"] = {"model": "/models/base", "confidence": conf}
    path = tmp_path / "test_pseudo.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_export_writes_the_least_confident_first(pseudo, tmp_path):
    entries = export_for_review(pseudo, tmp_path / "review", count=3)
    assert [e["confidence"] for e in entries] == [0.2, 0.4, 0.6]
    assert [e["line"] for e in entries] == [2, 4, 3]
    names = sorted(p.name for p in (tmp_path / "review").iterdir())
    assert names == [e["textgrid"] for e in entries] + [INDEX]
    assert names[0].startswith("001_") and names[0].endswith(".TextGrid")
    with pytest.raises(FileExistsError, match="pass --force"):
        export_for_review(pseudo, tmp_path / "review")


def test_import_keeps_checked_files_marks_them_reviewed_and_reports_edited_words(
    pseudo, processor, tmp_path
):
    review = tmp_path / "review"
    entries = export_for_review(pseudo, review, count=3)
    (review / entries[2]["textgrid"]).unlink()  # not checked: deleted
    grid_path = review / entries[1]["textgrid"]  # a word's label changed: not the transcript
    grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=False)
    tier = grid.getTier("words")
    first = tier.entries[0]
    tier.insertEntry((first.start, first.end, "different"), collisionMode="replace")
    grid.save(str(grid_path), format="long_textgrid", includeBlankSpaces=True)

    problems = []
    counts = import_reviewed(
        review,
        tmp_path / "ref.jsonl",
        lambda text, lang: split_units(processor, text, lang),
        problems=problems,
    )
    assert (counts.written, counts.changed, counts.missing) == (1, 0, 1)
    assert len(problems) == 1 and str(grid_path) in problems[0].source
    assert "not the transcript's units" in problems[0].message
    (line,) = list(iter_manifest(tmp_path / "ref.jsonl"))
    assert line.labelled_by is None  # a person checked it: no model's own labels
    record = json.loads((tmp_path / "ref.jsonl").read_text())
    assert record["alignment"]["reviewed"] is True
    assert record["alignment"]["pseudo_labelled_by"] == "/models/base"
