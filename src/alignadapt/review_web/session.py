"""One manifest under review: its lines in review order, rows to compare them with, and the
corrections written safely to an output manifest.

- The input manifest is read once and never written. Each saved line goes to the output
  manifest (all reviewed lines, in input order, rewritten atomically on every save), marked
  `alignment.reviewed` with where it came from and which boundaries moved: `train.py` and
  `evaluate.py` take it as they take `review import`'s output.
- Restarting on the same output resumes: the lines already there are the reviewed ones, with
  the person's times.
- Two tabs: every line has a revision. A save based on an older revision is merged unit by
  unit with what the other tab saved when they moved different words, and refused with a
  message when both moved the same boundary differently.
- The input changing on disk pauses saving (a line number might now name another line) with
  a message saying so.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.audio import audio_info
from ..data.external import MapError, map_to_units, read_predictions, words_for
from ..data.manifest import (
    ManifestError,
    Utterance,
    parse_line,
    span_problems,
    to_record,
    write_jsonl,
)
from ..inference.formats import Word
from ..inference.review import line_confidence
from ..inference.service import flag_alignment
from .rows import mean_abs_ms, word_row

TOOL = "alignadapt review serve"
SNAP_S = 0.001  # the page moves boundaries in whole milliseconds


class ReviewError(ValueError):
    """A request the session refuses, with the message the page shows."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Line:
    id: int  # the input line number (1-based): the line's name everywhere
    record: dict
    utt: Utterance | None
    units: list[str]
    problem: str | None = None
    compare: dict[str, np.ndarray] = field(default_factory=dict)  # row -> (units, 2) seconds
    compare_problems: dict[str, str] = field(default_factory=dict)


def words_of(record: dict, utt: Utterance) -> list[str]:
    """The line's alignment units: its `words`, or its text split on spaces for the seed form."""
    if record.get("words"):
        return [str(w.get("word", "")) for w in record["words"]]
    units = utt.text.split()
    if utt.spans and len(units) != len(utt.spans):
        raise ManifestError(
            utt.source,
            utt.line,
            f"{len(utt.spans)} timestamp pairs but {len(units)} space-separated words",
            "write the richer form with `words` (pseudo_label.py and prepare do)",
        )
    return units


def three_way(
    loaded: list[list[float]], current: list[list[float]], mine: list[list[float]]
) -> tuple[list[list[float]], list[int]]:
    """Merge a save made from `loaded` with `current` (what another tab saved since): per
    unit, whichever side changed it; the units both changed differently are returned."""
    merged, clashes = [], []
    for i, (base, theirs, ours) in enumerate(zip(loaded, current, mine, strict=True)):
        if np.allclose(ours, base, atol=SNAP_S / 2):
            merged.append(list(theirs))
        elif np.allclose(theirs, base, atol=SNAP_S / 2) or np.allclose(
            theirs, ours, atol=SNAP_S / 2
        ):
            merged.append(list(ours))
        else:
            clashes.append(i)
            merged.append(list(theirs))
    return merged, clashes


class ReviewSession:
    """The state behind the page; thread-safe (the server answers requests in threads)."""

    def __init__(
        self,
        manifest: str | Path,
        out: str | Path | None = None,
        compare: dict[str, str] | None = None,
        reference: str | None = None,
    ):
        self.manifest = Path(manifest).resolve()
        if not self.manifest.is_file():
            raise FileNotFoundError(f"{manifest} does not exist")
        self.out = Path(out).resolve() if out else None
        if self.out is not None and self.out == self.manifest:
            raise ValueError(f"the output {out} is the input manifest: give another file")
        self.compare_sources = dict(compare or {})
        if reference is not None and reference not in self.compare_sources:
            raise ValueError(
                f"--reference {reference}: no --compare row of that name "
                f"(rows: {', '.join(self.compare_sources) or 'none'})"
            )
        self.reference = reference
        self.lock = threading.Lock()
        self.stamp = self._stat()
        self.lines = self._read_lines()
        self._read_compare()
        self.reviewed: dict[int, dict] = {}  # line id -> output record
        self.revision: dict[int, int] = dict.fromkeys(self.lines, 0)
        if self.out is not None and self.out.exists():
            self._resume()

    # ---- reading ---------------------------------------------------------------------------
    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.manifest)
        return st.st_mtime_ns, st.st_size

    def _read_lines(self) -> dict[int, Line]:
        lines: dict[int, Line] = {}
        with open(self.manifest, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    utt = parse_line(raw, number, self.manifest)
                    record = json.loads(raw)
                    units = words_of(record, utt)
                except ManifestError as err:
                    lines[number] = Line(number, {}, None, [], str(err).replace("\n  -> ", "; "))
                    continue
                line = Line(number, record, utt, units)
                if not utt.spans:
                    line.problem = (
                        f"{self.manifest}:{number}: the line has no words with times to "
                        "check; pseudo-label the manifest first (python pseudo_label.py ...)"
                    )
                lines[number] = line
        if not lines:
            raise ValueError(f"{self.manifest}: no lines")
        return lines

    def _read_compare(self) -> None:
        """Every compared row mapped onto every line's units, as evaluate.py maps them."""
        for name, path in self.compare_sources.items():
            found = read_predictions(name, path)
            for line in self.lines.values():
                if line.utt is None or not line.units:
                    continue
                words = words_for(found, line.utt.audio_path, line.utt.channel)
                try:
                    if words is None:
                        raise MapError(
                            f"no words for recording {line.utt.audio_path.stem!r} in {path}"
                        )
                    line.compare[name] = map_to_units(line.units, words).times.reshape(-1, 2)
                except MapError as err:
                    line.compare_problems[name] = f"{name}: {err}"

    def _resume(self) -> None:
        """The output's lines are the ones already reviewed: check they still fit the input."""
        with open(self.out, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                record = json.loads(raw)
                source = str((record.get("alignment") or {}).get("source", ""))
                path, _, line_no = source.rpartition(":")
                where = f"{self.out}:{number}"
                if Path(path) != self.manifest or not line_no.isdigit():
                    raise ValueError(
                        f"{where}: not a review of {self.manifest} (its source is "
                        f"{source or 'missing'}); give another --output"
                    )
                line = self.lines.get(int(line_no))
                if line is None or line.utt is None or line.utt.text != record.get("text"):
                    raise ValueError(
                        f"{where}: line {line_no} of {self.manifest} is no longer the line "
                        "that was reviewed (the manifest changed); review into a new --output"
                    )
                self.reviewed[line.id] = record
                self.revision[line.id] = int(record["alignment"].get("revision", 1))

    # ---- what the page shows ----------------------------------------------------------------
    def warning(self) -> str | None:
        if self._stat() != self.stamp:
            return (
                f"{self.manifest} changed on disk after the server read it: saving is paused "
                "(a line number may now name another line). Restart `alignadapt review serve` "
                f"to reload it; the corrections saved so far are in {self.out}."
            )
        return None

    def spans(self, line: Line) -> np.ndarray:
        """The line's times now: the person's if reviewed, the input's otherwise."""
        if line.id in self.reviewed:
            words = self.reviewed[line.id]["words"]
            return np.array([[w["start"], w["end"]] for w in words], dtype=np.float64)
        return np.array(line.utt.spans, dtype=np.float64)

    def flags(self, line: Line) -> list[str]:
        if line.problem:
            return [line.problem]
        alignment = line.record.get("alignment") or {}
        conf = [w.get("confidence", 1.0) for w in line.record.get("words", [])]
        words = [
            Word(u, u, s, e, float(c))
            for u, (s, e), c in zip(
                line.units, line.utt.spans, conf or [1.0] * len(line.units), strict=True
            )
        ]
        flags = flag_alignment(words)
        if alignment.get("low_confidence") and not any("confidence" in f for f in flags):
            flags.append(f"low confidence: {alignment.get('confidence')}")
        if alignment.get("gaps"):
            flags.append(f"{len(alignment['gaps'])} gap(s) where the aligner found no speech")
        return flags

    def aas(self, line: Line) -> dict[str, float]:
        """Mean |row - reference| per row, ms, when there is a reference for the line."""
        if self.reference is None or self.reference not in line.compare:
            return {}
        ref = line.compare[self.reference]
        out = {"manifest": round(mean_abs_ms(self.spans(line), ref), 1)}
        for name, times in line.compare.items():
            if name != self.reference:
                out[name] = round(mean_abs_ms(times, ref), 1)
        return out

    def summary(self, line: Line) -> dict:
        item = {
            "id": line.id,
            "name": line.utt.audio_path.stem if line.utt else f"line {line.id}",
            "text": line.utt.text[:120] if line.utt else "",
            "problem": line.problem,
            "reviewed": line.id in self.reviewed,
            "changed": bool((self.reviewed.get(line.id) or {}).get("alignment", {}).get("changed")),
        }
        if line.problem:
            return item | {"confidence": None, "flags": [line.problem], "disagreement_ms": None}
        spans = self.spans(line)
        others = [mean_abs_ms(t, spans) for n, t in line.compare.items() if n != self.reference]
        has_conf = "confidence" in (line.record.get("alignment") or {}) or any(
            "confidence" in w for w in line.record.get("words", [])
        )
        return item | {
            "confidence": round(line_confidence(line.record), 4) if has_conf else None,
            "flags": self.flags(line),
            "disagreement_ms": round(max(others), 1) if others else None,
            "aas_ms": self.aas(line),
        }

    def summaries(self) -> dict:
        """Every line, most flagged and least confident first."""
        with self.lock:
            items = [self.summary(line) for line in self.lines.values()]
        items.sort(
            key=lambda x: (
                x["problem"] is not None,  # lines that cannot be reviewed go last
                -len(x["flags"]),
                x["confidence"] if x["confidence"] is not None else 1.0,
                x["id"],
            )
        )
        return {"items": items, "warning": self.warning()}

    def line(self, line_id: int) -> Line:
        if line_id not in self.lines:
            raise ReviewError(f"{self.manifest} has no line {line_id}", 404)
        return self.lines[line_id]

    def detail(self, line_id: int) -> dict:
        """One line for the page: audio facts, the editable row and the compared rows."""
        with self.lock:
            line = self.line(line_id)
            out = self.summary(line) | {"rows": [], "problems": [], "revision": 0}
            out["warning"] = self.warning()
            if line.problem:
                out["problems"].append(line.problem)
                return out
            out["problems"] += list(line.compare_problems.values())
            audio = line.utt.audio_path
            out["duration"] = line.utt.duration
            try:
                out["duration"] = audio_info(audio).duration
                out["audio"] = True
            except (FileNotFoundError, ValueError) as err:
                missing = not audio.exists()
                out["problems"].append(
                    f"{self.manifest}:{line.id}: audio file {audio} does not exist"
                    if missing
                    else str(err)
                )
                out["audio"] = False
            spans = self.spans(line)
            if out["duration"] is None:
                out["duration"] = float(spans.max()) + 0.5
            ref = line.compare.get(self.reference) if self.reference else None
            conf = [w.get("confidence") for w in line.record.get("words", [])]
            out["rows"].append(
                word_row("manifest", line.units, spans, ref, conf, editable=True)
                | {"label": "this manifest" + (" (reviewed)" if out["reviewed"] else "")}
            )
            for name, times in line.compare.items():
                row = word_row(name, line.units, times, None if name == self.reference else ref)
                out["rows"].append(row | {"reference": name == self.reference})
            out["revision"] = self.revision[line.id]
            out["figures"] = self.figures(line, spans)
            return out

    def figures(self, line: Line, spans: np.ndarray) -> dict:
        lengths = spans[:, 1] - spans[:, 0]
        return {
            "units": len(line.units),
            "zero_length": int(np.sum(lengths < 1e-6)),
            "confidence": self.summary(line)["confidence"],
            "aas_ms": self.aas(line),
            "flags": self.flags(line),
        }

    # ---- saving ----------------------------------------------------------------------------
    def save(
        self, line_id: int, revision: int, loaded: list[list[float]], words: list[list[float]]
    ) -> dict:
        """Write the line's corrected times to the output; see the module docstring."""
        if self.out is None:
            raise ReviewError("this page is read-only", 403)
        with self.lock:
            warning = self.warning()
            if warning:
                raise ReviewError(warning, 409)
            line = self.line(line_id)
            if line.problem:
                raise ReviewError(line.problem)
            mine = self.checked(line, words, "times")
            message = None
            if revision != self.revision[line.id]:
                base = self.checked(line, loaded, "loaded times")
                current = self.spans(line).tolist()
                mine, clashes = three_way(base, current, mine)
                if clashes:
                    shown = ", ".join(f"{i + 1} ({line.units[i]})" for i in clashes[:5])
                    raise ReviewError(
                        f"line {line.id} was saved from another tab meanwhile, with other "
                        f"times for word {shown}: not saved. Reload the line to see that "
                        "version, then redo your change.",
                        409,
                    )
                message = (
                    f"line {line.id} was saved from another tab meanwhile; both changes are kept "
                    "(they moved different words)"
                )
            record = self.output_record(line, mine, self.revision[line.id] + 1)
            problems = span_problems([(w["start"], w["end"]) for w in record["words"]])
            if problems:
                raise ReviewError(f"line {line.id}: {problems[0][0]}; not saved")
            self.reviewed[line.id] = record
            self.revision[line.id] += 1
            self.write_output()
            return {
                "revision": self.revision[line.id],
                "words": record["words"],
                "changed": record["alignment"]["changed"],
                "message": message,
            }

    def checked(self, line: Line, words, what: str) -> list[list[float]]:
        """The page's times as [[start, end], ...] (0.1 ms, as manifests keep them), or an error
        naming the line."""
        try:
            spans = [[round(float(s), 4), round(float(e), 4)] for s, e in words]
        except (TypeError, ValueError):
            raise ReviewError(f"line {line.id}: {what} are not [[start, end], ...]") from None
        if len(spans) != len(line.units):
            raise ReviewError(
                f"line {line.id}: {len(spans)} {what} for {len(line.units)} words; not saved"
            )
        return spans

    def output_record(self, line: Line, spans: list[list[float]], revision: int) -> dict:
        before = [(round(s, 4), round(e, 4)) for s, e in line.utt.spans]
        utt = Utterance(**{**line.utt.__dict__, "spans": [tuple(s) for s in spans]})
        record = to_record(utt, line.units, relative_to=self.out.parent)
        for key, value in line.record.items():  # speaker and the like travel with the line
            if key not in record and key not in ("timestamps", "alignment", "audio_filepath"):
                record[key] = value
        changes = [
            {"unit": i, "word": u, "from": list(old), "to": [w["start"], w["end"]]}
            for i, (u, old, w) in enumerate(zip(line.units, before, record["words"], strict=True))
            if abs(old[0] - w["start"]) > SNAP_S / 2 or abs(old[1] - w["end"]) > SNAP_S / 2
        ]
        record["alignment"] = {
            "reviewed": True,
            "tool": TOOL,
            "source": f"{self.manifest}:{line.id}",
            "changed": bool(changes),
            "changes": changes,
            "pseudo_labelled_by": (line.record.get("alignment") or {}).get("model"),
            "revision": revision,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return record

    def write_output(self) -> None:
        write_jsonl(self.out, (self.reviewed[k] for k in sorted(self.reviewed)), force=True)
