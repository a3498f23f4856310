"""The review page, read-only, next to evaluate.py's report: each model's worst utterances.

`review/index.html` in the report folder opens from the file system with no server: the
page's scripts are copied beside it, the data (words of the reference and of every column,
waveform peaks, small spectrograms) is in `review/data.js`, and the audio is played from
where the manifest says it is (a relative path from the page). The list sorts by any
column's AAS, worst first: that is where a person sees what adaptation changed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..data.audio import audio_info
from . import media
from .rows import word_row

STATIC = Path(__file__).parent / "static"
MARKER = "<!-- REVIEW_DATA -->"
SPECTROGRAM_SECONDS = 30.0  # longer utterances get no spectrogram in the report (page size)


def write_review_page(
    out_dir: str | Path, results: Sequence, columns: Sequence[str], worst: int = 10
) -> Path:
    """`out_dir/review/index.html` with the `worst` utterances of every column (by AAS
    against the reference); returns the page's path."""
    page = Path(out_dir) / "review"
    chosen: dict[str, object] = {}
    for column in columns:
        have = [r for r in results if column in r.predictions]
        have.sort(key=lambda r: -float(r.errors(column).mean()))
        for r in have[:worst]:
            chosen.setdefault(r.key, r)
    data: dict = {
        "session": {
            "manifest": f"evaluation report: {Path(out_dir).resolve()}",
            "output": None,
            "read_only": True,
            "rows": list(columns),
            "reference": "reference",
        },
        "items": [],
        "lines": {},
        "peaks": {},
        "spectrograms": {},
        "default_sort": f"aas:{next((c for c in columns if c != 'base'), columns[0])}"
        if columns
        else "line",
    }
    for number, r in enumerate(chosen.values(), start=1):
        data["items"].append(summary(number, r, columns))
        data["lines"][number], peaks, spectrogram = detail(number, r, columns, page)
        if peaks is not None:
            data["peaks"][number] = peaks
        if spectrogram is not None:
            data["spectrograms"][number] = spectrogram
    if page.exists():
        shutil.rmtree(page)
    shutil.copytree(STATIC, page / "static")
    (page / "data.js").write_text(
        "window.REVIEW_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n",
        encoding="utf-8",
    )
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    (page / "index.html").write_text(
        html.replace(MARKER, '<script src="data.js"></script>'), encoding="utf-8"
    )
    return page / "index.html"


def aas_of(r, columns: Sequence[str]) -> dict[str, float]:
    return {c: round(float(r.errors(c).mean()), 1) for c in columns if c in r.predictions}


def summary(number: int, r, columns: Sequence[str]) -> dict:
    return {
        "id": number,
        "name": Path(r.audio_path).stem,
        "line": int(r.key.rpartition(":")[2]) if r.key.rpartition(":")[2].isdigit() else None,
        "text": " ".join(r.units)[:120],
        "problem": None,
        "reviewed": False,
        "changed": False,
        "confidence": None,
        "flags": [],
        "disagreement_ms": None,
        "aas_ms": aas_of(r, columns),
    }


def detail(number: int, r, columns: Sequence[str], page: Path):
    """(the line as the page's API gives it, peaks, spectrogram)."""
    reference = np.asarray(r.reference, dtype=np.float64).reshape(-1, 2)
    rows = [word_row("reference", r.units, reference, editable=True)]
    rows[0] |= {"label": "reference", "reference": True}
    for column in columns:
        if column in r.predictions:
            spans = np.asarray(r.predictions[column].spans, dtype=np.float64)
            rows.append(word_row(column, r.units, spans, reference))
    out = summary(number, r, columns) | {"rows": rows, "problems": [], "revision": 0}
    out["figures"] = {
        "units": len(r.units),
        "zero_length": int(np.sum(reference[:, 1] - reference[:, 0] < 1e-6)),
        "confidence": None,
        "aas_ms": out["aas_ms"],
        "flags": [],
    }
    audio = Path(r.audio_path)
    try:
        duration = audio_info(audio).duration
    except (FileNotFoundError, ValueError) as err:
        out |= {"audio": False, "duration": float(reference.max()) + 0.5}
        out["problems"].append(f"{r.key}: {err}")
        return out, None, None
    out |= {"audio": True, "duration": duration}
    out["audio_url"] = quote(os.path.relpath(audio.resolve(), page.resolve()).replace(os.sep, "/"))
    peaks = media.peaks(audio, duration, r.channel)
    spectrogram = None
    if duration <= SPECTROGRAM_SECONDS:
        spectrogram = media.spectrogram(audio, duration, r.channel, frames=500, bins=64)
    return out, peaks, spectrogram
