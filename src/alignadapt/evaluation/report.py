"""The evaluation report: metrics per model column, a bootstrap interval, words.csv, plots.

A column is one model decoded one way (`base`, `adapted`, or `adapted/subclass` when several
decodings are reported). Errors are matched by unit index over every start and end
(the README's "Evaluation"); every number is computed over the utterances whose unit count matches the
reference; the others are listed per line in `mismatched`, never dropped silently. A column
from another tool (data/external.py) covers the utterances it could be mapped on: its
figures are over those, its difference to the base over the utterances both have, and the
rest are listed per column.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.decoding import Decoded
from .listening import verdict as listening_verdict
from .metrics import slot_errors_ms, summarize

ZERO_LENGTH_S = 1e-6  # a span shorter than this is zero-length
# Below this many utterances a bootstrap interval is not evidence of anything: resampling 2 or
# 5 utterances gives a narrow interval around whatever those few happen to say.
MIN_BOOTSTRAP_UTTERANCES = 20


@dataclass
class UttResult:
    key: str  # manifest:line
    units: list[str]
    reference: np.ndarray  # (units, 2) seconds
    language: str
    audio_path: str
    predictions: dict[str, Decoded] = field(default_factory=dict)  # column -> decoded
    channel: int | None = None

    def errors(self, column: str) -> np.ndarray:
        return slot_errors_ms(self.predictions[column].times, self.reference)


def scored(results: Sequence[UttResult], column: str) -> list[UttResult]:
    """The utterances a column has a prediction for (all of them for a model)."""
    return [r for r in results if column in r.predictions]


def is_term(unit: str, terms: set[str]) -> bool:
    return unit.lower() in terms


def column_metrics(results: Sequence[UttResult], column: str, terms: set[str]) -> dict:
    """Every number of one column: overall, by language, domain terms against other words."""
    results = scored(results, column)
    errors = [r.errors(column) for r in results]
    all_errors = np.concatenate(errors) if errors else np.zeros(0)
    spans = (
        np.concatenate([r.predictions[column].spans for r in results])
        if results
        else np.zeros((0, 2))
    )
    repaired = sum(r.predictions[column].repaired for r in results)
    out: dict = {
        **summarize(all_errors),
        "zero_length_share": float(np.mean(spans[:, 1] - spans[:, 0] < ZERO_LENGTH_S))
        if len(spans)
        else 0.0,
        "repaired_share": repaired / max(len(all_errors), 1),
        "slots": int(len(all_errors)),
        "utterances": len(results),
    }
    by_language: dict[str, list[np.ndarray]] = {}
    for r, e in zip(results, errors, strict=True):
        by_language.setdefault(r.language, []).append(e)
    out["by_language"] = {
        lang: summarize(np.concatenate(e)) for lang, e in sorted(by_language.items())
    }
    if terms and results:
        term_err, other_err = [], []
        for r, e in zip(results, errors, strict=True):
            mask = np.repeat([is_term(u, terms) for u in r.units], 2)
            term_err.append(e[mask])
            other_err.append(e[~mask])
        out["terms"] = summarize(np.concatenate(term_err)) | {"slots": int(sum(map(len, term_err)))}
        out["other_words"] = summarize(np.concatenate(other_err)) | {
            "slots": int(sum(map(len, other_err)))
        }
    return out


def bootstrap_aas_difference(
    results: Sequence[UttResult], column: str, base: str, n: int = 1000, seed: int = 0
) -> dict:
    """AAS(column) - AAS(base) in ms, with a 95% interval from resampling utterances (those
    both columns have)."""
    results = [r for r in results if column in r.predictions and base in r.predictions]
    sums = np.array(
        [[r.errors(column).sum(), r.errors(base).sum(), 2 * len(r.units)] for r in results]
    )
    diff = (sums[:, 0].sum() - sums[:, 1].sum()) / sums[:, 2].sum()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(results), size=(n, len(results)))
    resampled = sums[picks].sum(axis=1)  # (n, 3)
    diffs = (resampled[:, 0] - resampled[:, 1]) / resampled[:, 2]
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {
        "aas_diff_ms": float(diff),
        "ci95_ms": [float(low), float(high)],
        "resamples": n,
        "utterances": len(results),
        "too_few_utterances": len(results) < MIN_BOOTSTRAP_UTTERANCES,
    }


ROWS = (
    ("aas_ms", "AAS (ms)", "{:.1f}"),
    ("median_ms", "median (ms)", "{:.1f}"),
    ("p90_ms", "p90 (ms)", "{:.1f}"),
    ("within_20ms", "within 20 ms", "{:.1%}"),
    ("within_50ms", "within 50 ms", "{:.1%}"),
    ("within_100ms", "within 100 ms", "{:.1%}"),
    ("zero_length_share", "zero-length spans", "{:.1%}"),
    ("repaired_share", "repaired slots", "{:.1%}"),
)


def format_table(metrics: dict) -> str:
    """The printed table: one column per model, rows per metric and per split."""
    columns = list(metrics["columns"])
    rows: list[list[str]] = []

    def add(label: str, values: list[float | None], fmt: str) -> None:
        rows.append([label, *("-" if v is None else fmt.format(v) for v in values)])

    for key, label, fmt in ROWS:
        add(label, [metrics["columns"][c].get(key) for c in columns], fmt)
    rows.append(["utterances scored", *(str(metrics["columns"][c]["utterances"]) for c in columns)])
    languages = sorted({lang for c in columns for lang in metrics["columns"][c]["by_language"]})
    if len(languages) > 1:
        for lang in languages:
            add(
                f"AAS {lang} (ms)",
                [metrics["columns"][c]["by_language"].get(lang, {}).get("aas_ms") for c in columns],
                "{:.1f}",
            )
    for split, label in (("terms", "terms"), ("other_words", "other words")):
        if any(split in metrics["columns"][c] for c in columns):
            add(
                f"AAS {label} (ms)",
                [metrics["columns"][c].get(split, {}).get("aas_ms") for c in columns],
                "{:.1f}",
            )
    header = ["", *columns]
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(v.ljust(width[i]) if i == 0 else v.rjust(width[i]) for i, v in enumerate(r))
        for r in [header, *rows]
    ]
    differences = [*metrics.get("vs_base", {}).items(), *metrics.get("vs_naive", {}).items()]
    for column, diff in differences:
        low, high = diff["ci95_ms"]
        verdict = "a real difference" if high < 0 or low > 0 else "not distinguishable from 0"
        if diff.get("utterances", metrics["utterances"]) < MIN_BOOTSTRAP_UTTERANCES:
            verdict = (
                f"too few utterances to tell: an interval over fewer than "
                f"{MIN_BOOTSTRAP_UTTERANCES} is not evidence; score more"
            )
        lines.append(
            f"AAS {column} - {diff['base']}: {diff['aas_diff_ms']:+.1f} ms, 95% CI "
            f"[{low:+.1f}, {high:+.1f}] over {diff.get('utterances', metrics['utterances'])} "
            f"utterances ({verdict})"
        )
    for name, check in metrics.get("listening", {}).items():
        if check:
            lines.append("listening: " + listening_verdict(name, check))
    for name, own in metrics.get("self_labelled", {}).items():
        lines.append(
            f"warning: {own['lines']} of {metrics['utterances']} references are {name}'s own "
            f"pseudo-labels: {name}'s numbers measure agreement with itself, not accuracy"
        )
    for column, mapping in metrics.get("mapping", {}).items():
        lines.append(
            f"{column}: {mapping['utterances']} of {mapping['of']} utterances mapped to the "
            f"reference units ({mapping['units']} units, {mapping['approximate_units']} of them "
            f"approximate)"
        )
        for item in mapping["unmapped"]:
            lines.append(f"  not mapped: {item['key']}: {item['problem']}")
    for item in metrics.get("mismatched", []):
        lines.append(f"not scored: {item['key']}: {item['problem']}")
    return "\n".join(lines)


def write_words_csv(
    path: Path, results: Sequence[UttResult], columns: Sequence[str], terms: set[str]
) -> Path:
    """Every word: reference times and, per column, predicted times, confidence, error."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header = ["key", "language", "index", "word", "is_term", "ref_start", "ref_end"]
        for c in columns:
            header += [f"{c}:start", f"{c}:end", f"{c}:confidence", f"{c}:error_ms"]
        writer.writerow(header)
        for r in results:
            for i, unit in enumerate(r.units):
                row = [
                    r.key,
                    r.language,
                    i,
                    unit,
                    int(is_term(unit, terms)),
                    *(f"{t:.4f}" for t in r.reference[i]),
                ]
                for c in columns:
                    dec = r.predictions.get(c)
                    if dec is None:  # a tool's column that could not map this utterance
                        row += ["", "", "", ""]
                        continue
                    start, end = dec.spans[i]
                    conf = (
                        dec.confidence[2 * i : 2 * i + 2].min()
                        if dec.confidence is not None
                        else float("nan")
                    )
                    err = np.abs(dec.spans[i] - r.reference[i]).mean() * 1000
                    row += [f"{start:.4f}", f"{end:.4f}", f"{conf:.4f}", f"{err:.1f}"]
                writer.writerow(row)
    return path


def worst_words(results: Sequence[UttResult], column: str, n: int = 20) -> list[dict]:
    """The words with the largest mean start/end error in one column."""
    rows = []
    for r in scored(results, column):
        spans = r.predictions[column].spans
        err = np.abs(spans - r.reference).mean(axis=1) * 1000
        for i in np.argsort(-err)[:n]:
            rows.append(
                {
                    "key": r.key,
                    "word": r.units[i],
                    "ref_start": float(r.reference[i, 0]),
                    "ref_end": float(r.reference[i, 1]),
                    "pred_start": float(spans[i, 0]),
                    "pred_end": float(spans[i, 1]),
                    "error_ms": float(err[i]),
                }
            )
    return sorted(rows, key=lambda x: -x["error_ms"])[:n]


# ---- plots -------------------------------------------------------------------------------
# Chinese, Japanese and Korean words need a CJK font: matplotlib falls back along this list
# glyph by glyph (fonts-noto-cjk, a Debian package of `make install`, provides Noto Sans CJK).
CJK_FONTS = ["Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Droid Sans Fallback"]


@functools.lru_cache(maxsize=1)
def _plt():
    """pyplot on the Agg backend with a CJK fallback font, set up once per process (the font
    scan reads every system font file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed.intersection(CJK_FONTS):  # installed after matplotlib cached its font list
        for path in font_manager.findSystemFonts():
            if "cjk" in path.lower() or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    plt.rcParams["font.family"] = ["DejaVu Sans", *(f for f in CJK_FONTS if f in installed)]
    return plt


def set_title(metrics: dict) -> str:
    """'domain_test.jsonl: base = demo-base, adapted = run/adapter': what a plot shows."""

    def short(source: str) -> str:
        return "/".join(Path(source).parts[-2:]) if "/" in source else source

    models = ", ".join(f"{k} = {short(str(v))}" for k, v in metrics.get("models", {}).items())
    return f"{Path(metrics.get('manifest', '')).name}: {models}"


def _save_legend_plot(fig, ax, path: Path, what: str, title: str) -> Path:
    """Title ("what, set and models"), legend, write the PNG, free the figure."""
    ax.set_title(f"{what}, {title}" if title else what, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    _plt().close(fig)
    return path


def plot_error_distribution(
    results: Sequence[UttResult], columns: Sequence[str], path: Path, title: str = ""
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    top = max(
        (
            np.percentile(np.concatenate([r.errors(c) for r in scored(results, c)]), 99)
            for c in columns
            if scored(results, c)
        ),
        default=1.0,
    )
    bins = np.linspace(0, max(top, 1.0), 40)
    for c in columns:
        if not scored(results, c):
            continue
        errors = np.concatenate([r.errors(c) for r in scored(results, c)])
        ax.hist(
            np.clip(errors, 0, bins[-1]),
            bins=bins,
            histtype="step",
            linewidth=1.5,
            label=f"{c} (AAS {errors.mean():.0f} ms)",
        )
    ax.set_xlabel("|predicted - reference| per start/end (ms, last bin holds the rest)")
    ax.set_ylabel("slots")
    return _save_legend_plot(fig, ax, path, "error distribution", title)


def plot_error_by_position(
    results: Sequence[UttResult],
    columns: Sequence[str],
    path: Path,
    bins: int = 10,
    title: str = "",
) -> Path:
    """Mean error against the word's relative position in its utterance (drift shows here)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    centers = (np.arange(bins) + 0.5) / bins
    for c in columns:
        sums, counts = np.zeros(bins), np.zeros(bins)
        for r in scored(results, c):
            err = r.errors(c).reshape(-1, 2).mean(axis=1)
            pos = np.minimum((np.arange(len(err)) / max(len(err), 1) * bins).astype(int), bins - 1)
            np.add.at(sums, pos, err)
            np.add.at(counts, pos, 1)
        ax.plot(centers, sums / np.maximum(counts, 1), marker="o", label=c)
    ax.set_xlabel("position of the word in its utterance (0 = first, 1 = last)")
    ax.set_ylabel("mean error (ms)")
    return _save_legend_plot(fig, ax, path, "error by position", title)


TIME_BIN_WIDTHS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def error_by_time(
    results: Sequence[UttResult], column: str, width_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean word error (ms, the mean of its start and end errors) by where the word starts
    in its recording, in bins of `width_s` seconds: (bin starts in s, mean errors, words),
    empty bins left out. A model that loses count shows an error that grows with time."""
    starts, errors = [], []
    for r in scored(results, column):
        starts.append(np.asarray(r.reference, dtype=np.float64).reshape(-1, 2)[:, 0])
        errors.append(r.errors(column).reshape(-1, 2).mean(axis=1))
    if not starts:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    bins = np.floor(np.concatenate(starts) / width_s).astype(int)
    counts = np.bincount(bins)
    sums = np.bincount(bins, weights=np.concatenate(errors))
    kept = np.flatnonzero(counts)
    return kept * width_s, sums[kept] / counts[kept], counts[kept]


def time_bin_width(longest_s: float, most_bins: int = 15) -> float:
    """The smallest of TIME_BIN_WIDTHS_S that cuts `longest_s` into at most `most_bins`."""
    for width in TIME_BIN_WIDTHS_S:
        if longest_s / width <= most_bins:
            return width
    return TIME_BIN_WIDTHS_S[-1]


def plot_error_by_time(
    results: Sequence[UttResult],
    columns: Sequence[str],
    path: Path,
    title: str = "",
    min_words: int = 10,
) -> Path:
    """Mean error against the seconds into the recording where the word starts (bins with
    fewer than `min_words` words are left out: a mean of a few words is noise)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    longest = max((float(np.max(r.reference, initial=0.0)) for r in results), default=0.0)
    width = time_bin_width(longest)
    for c in columns:
        starts, means, words = error_by_time(results, c, width)
        kept = words >= min_words
        ax.plot(starts[kept] + width / 2, means[kept], marker="o", label=c)
    ax.set_xlim(left=0)
    ax.set_xlabel(
        f"seconds into the recording where the word starts (bins of {width:g} s, "
        f"{min_words} words or more)"
    )
    ax.set_ylabel("mean error (ms)")
    return _save_legend_plot(fig, ax, path, "error by time", title)


def timeline_figure(
    units: Sequence[str],
    rows: Sequence[tuple[str, np.ndarray]],
    title: str = "",
    waveform: np.ndarray | None = None,
    sample_rate: int = 16_000,
):
    """Word spans per row (reference, each model), over the waveform when given: a Figure.

    Used for the report's worst utterances and for the picture logged at every validation.
    """
    plt = _plt()
    rows = [(label, np.asarray(spans).reshape(-1, 2)) for label, spans in rows]
    end = max(float(s.max(initial=0)) for _, s in rows) + 0.2
    if waveform is not None and len(waveform):
        end = max(end, len(waveform) / sample_rate)
    fig, ax = plt.subplots(figsize=(max(7, min(30, 1.2 * end)), 1.0 + 0.8 * len(rows)), dpi=100)
    if waveform is not None and len(waveform):
        t = np.arange(len(waveform)) / sample_rate
        ax.plot(
            t,
            len(rows) - 0.5 + waveform / (np.abs(waveform).max() + 1e-9) * 0.4,
            color="0.7",
            linewidth=0.4,
        )
    colors = ["tab:green", "tab:orange", "tab:blue", "tab:red", "tab:purple"]
    for k, (label, spans) in enumerate(rows):
        y = len(rows) - 1.5 - k
        for unit, (s, e) in zip(units, spans, strict=True):
            ax.barh(
                y,
                max(e - s, 0.005),
                left=s,
                height=0.6,
                color=colors[k % len(colors)],
                alpha=0.75,
                edgecolor="black",
            )
            ax.text((s + e) / 2, y, unit, ha="center", va="center", fontsize=6, clip_on=True)
        ax.text(0, y + 0.35, label, fontsize=7)
    ax.set_xlim(0, end)
    ax.set_ylim(-1, len(rows))
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_timeline(
    result: UttResult,
    columns: Sequence[str],
    waveform: np.ndarray | None,
    path: Path,
    sample_rate: int = 16_000,
    title: str = "",
) -> Path:
    """Reference and every column's word spans over the waveform, one row each, as a PNG;
    the title names the line, the set and the models (`title`)."""
    rows = [
        ("reference", result.reference),
        *((c, result.predictions[c].spans) for c in columns if c in result.predictions),
    ]
    heading = f"{result.key} ({title})" if title else result.key
    fig = timeline_figure(result.units, rows, heading, waveform, sample_rate)
    fig.savefig(path)
    _plt().close(fig)
    return path
