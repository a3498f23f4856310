"""References a person checked: pseudo-labelled lines out as Praat TextGrids, least confident
first, and the corrected TextGrids back in as reference lines.

A test set needs timestamps nobody's model made (a model scored on its own pseudo-labels
looks perfect). Checking a model's alignment in Praat is much faster than labelling from
scratch, and the least confident lines are where the checking pays most. `export` writes one
TextGrid per line (a `words` tier, one interval per alignment unit) and `review.jsonl`, the
exported lines in order; `import_reviewed` reads the TextGrids back (as they are, or as the
person saved them), reconciles their words with the aligner's units like any TextGrid import,
and writes reference lines marked `alignment.reviewed`, which evaluation does not count as
any model's own labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data.importers import ImportProblem, ReconcileError, read_textgrid_words, reconcile
from ..data.manifest import Utterance, iter_manifest, parse_line, to_record, write_jsonl
from .formats import Word, textgrid_text, write_text_atomic

INDEX = "review.jsonl"  # the exported lines, in review order
Splitter = Callable[[str, str | None], list[str]]


def line_confidence(record: dict) -> float:
    """The line's confidence as pseudo-labelling recorded it (mean word confidence)."""
    alignment = record.get("alignment") or {}
    if "confidence" in alignment:
        return float(alignment["confidence"])
    scores = [w["confidence"] for w in record.get("words", []) if "confidence" in w]
    return sum(scores) / len(scores) if scores else 0.0


def export_for_review(
    manifest: str | Path, out_dir: str | Path, count: int | None = 20, force: bool = False
) -> list[dict]:
    """The `count` least confident labelled lines of `manifest` as TextGrids in `out_dir`,
    named `NNN_<audio stem>.TextGrid` in review order; returns the index entries written."""
    manifest, out_dir = Path(manifest), Path(out_dir)
    index_path = out_dir / INDEX
    if index_path.exists() and not force:
        raise FileExistsError(f"{index_path} exists (a review under way?); pass --force to redo it")
    lines = []
    with open(manifest, encoding="utf-8") as f:
        raws = [raw for raw in f]
    for utt in iter_manifest(manifest):
        if not utt.spans:
            continue
        record = json.loads(raws[utt.line - 1])
        lines.append((line_confidence(record), utt, record))
    if not lines:
        raise ValueError(
            f"{manifest}: no line has timestamps to check; pseudo-label it first "
            "(python pseudo_label.py manifest=... out=...)"
        )
    lines.sort(key=lambda x: x[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for rank, (confidence, utt, record) in enumerate(lines[:count], start=1):
        name = f"{rank:03d}_{utt.audio_path.stem}.TextGrid"
        words = [
            Word(w["word"], w["word"], s, e, float(w.get("confidence", 0.0)))
            for w, (s, e) in zip(record["words"], utt.spans, strict=True)
        ]
        duration = utt.duration or max(e for _, e in utt.spans)
        write_text_atomic(out_dir / name, textgrid_text(words, duration))
        entries.append(
            {
                "rank": rank,
                "textgrid": name,
                "line": utt.line,
                "confidence": round(confidence, 4),
                "audio_path": str(utt.audio_path.resolve()),
                "record": record,
            }
        )
    write_jsonl(index_path, entries, force=True)
    return entries


@dataclass
class ImportCounts:
    written: int
    changed: int  # lines where the person moved at least one boundary
    missing: int  # exported lines whose TextGrid is gone (deleted: not checked)


def import_reviewed(
    review_dir: str | Path,
    out: str | Path,
    split: Splitter,
    tier: str = "words",
    force: bool = False,
    problems: list[ImportProblem] | None = None,
) -> ImportCounts:
    """The TextGrids of a review folder -> reference lines in `out` (review order).

    A TextGrid the person deleted is left out (not checked); one whose words no longer
    match the line's transcript is a problem, reported and left out.
    """
    review_dir, out = Path(review_dir), Path(out)
    index_path = review_dir / INDEX
    if not index_path.exists():
        raise FileNotFoundError(
            f"{index_path} does not exist: export a review first (alignadapt review export)"
        )
    problems = problems if problems is not None else []
    records, changed, missing = [], 0, 0
    for raw in index_path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(raw)
        grid = review_dir / entry["textgrid"]
        if not grid.exists():
            missing += 1
            continue
        record = entry["record"]
        language = record.get("language")
        try:
            _, units, spans = reconcile(read_textgrid_words(grid, tier), split, language)
            expected = split(record["text"], language)
            if units != expected:
                raise ReconcileError(
                    f"its words ({' '.join(units[:8])} ...) are not the transcript's units "
                    f"({' '.join(expected[:8])} ...)",
                    "move boundaries only; fix a wrong transcript in the manifest and export again",
                )
        except ReconcileError as err:
            problems.append(ImportProblem(str(grid), err.message, err.hint))
            continue
        before = [(w["start"], w["end"]) for w in record["words"]]
        moved = any(
            abs(a - c) > 0.002 or abs(b - d) > 0.002
            for (a, b), (c, d) in zip(before, spans, strict=True)
        )
        changed += moved
        utt = exported_utterance(entry, review_dir)
        utt.spans = spans
        new = to_record(utt, units, relative_to=out.parent)
        new["alignment"] = {
            "reviewed": True,
            "textgrid": str(grid.resolve()),
            "changed": moved,
            "pseudo_labelled_by": (record.get("alignment") or {}).get("model"),
        }
        records.append(new)
    if not records:
        raise ValueError(f"{review_dir}: no TextGrid could be imported ({len(problems)} problems)")
    write_jsonl(out, records, force=force)
    return ImportCounts(len(records), changed, missing)


def exported_utterance(entry: dict, review_dir: Path) -> Utterance:
    """The exported line as an Utterance (its audio path made absolute at export)."""
    record = dict(entry["record"], audio_path=entry["audio_path"])
    return parse_line(json.dumps(record), entry["line"], review_dir / INDEX)
