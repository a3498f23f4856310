"""The model card (README.md) of a saved adapter: what it is, what it was trained on, how well
it did, and the command that made it. peft writes an empty template card; this replaces it,
and `alignadapt export` carries it (with a line about the export) to what it writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

CARD = "README.md"
# The listening check's pass mark (evaluation/listening.py): a model whose error grows by less
# than half when its audio is replaced does not use the audio for much: the first demo base
# had 1.00, a 5-minute run on speech with wide silences 2.2, the goal for the demo base is 3.
# It lives here, the lowest layer that reads it, so the model layer imports nothing above it.
MIN_RATIO = 1.5


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(
    title: str,
    base: str,
    preset: str,
    parameters: tuple[int, int] | None,
    data: Mapping[str, str | None],
    metrics: Mapping[str, float],
    command: str,
    commit: str | None = None,
) -> str:
    """Markdown: base and LoRA preset, the manifests, the metrics (val/ and test/), the command."""
    lines = [
        f"# {title}",
        "",
        "A LoRA adapter for Qwen3-ForcedAligner (word start/end times for audio + transcript), "
        "made with alignadapt. Load it with `alignadapt align --model BASE --adapter THIS_DIR` "
        "or `evaluate.py models.adapted=THIS_DIR`; its base is read from "
        "`alignadapt_adapter.json`.",
        "",
        f"- base model: `{base}`",
        f"- LoRA preset: `{preset}`",
    ]
    if parameters:
        trainable, total = parameters
        lines.append(f"- trained parameters: {trainable:,} of {total:,}")
    if commit:
        lines.append(f"- alignadapt commit: `{commit}`")
    lines += ["", "## Data", ""]
    for split, path in data.items():
        if path:
            lines.append(f"- {split}: `{path}` ({_count_lines(path)})")
    shown = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
    lines += ["", "## Metrics", ""]
    if shown:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_number(v)} |" for k, v in sorted(shown.items())]
        lines += [
            "",
            "AAS: mean |predicted - reference| over all word starts and ends, ms (lower is "
            "better); within_N: share of starts and ends within N ms. Validation numbers on "
            "pseudo-labels measure agreement with the labelling model, not accuracy.",
        ]
    else:
        lines.append("No validation or test ran.")
    lines += listening_lines(metrics)
    lines += ["", "## How it was made", "", "```bash", command, "```", ""]
    return "\n".join(lines)


def listening_lines(metrics: Mapping[str, float]) -> list[str]:
    """The card's listening check: validation error with each recording's audio swapped for
    another's, against its own (evaluation/listening.py); a model that fails it says so first."""
    if "val/listening" not in metrics or "val/aas_withheld_ms" not in metrics:
        return []
    ratio = float(metrics["val/listening"])
    aas, deaf = float(metrics["val/aas_ms"]), float(metrics["val/aas_withheld_ms"])
    lines = [
        "",
        "## Listening check",
        "",
        f"Validation AAS {aas:.1f} ms with each recording's own audio, {deaf:.1f} ms with another "
        f"recording's in its place: {ratio:.2f}x.",
    ]
    if ratio < MIN_RATIO:
        lines += [
            "",
            f"**NOT LISTENING** (under {MIN_RATIO}x): this model's timestamps hardly depend on "
            "its audio, so its figures measure a guess from the text and the length.",
        ]
    return lines


def _count_lines(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f"{sum(1 for raw in f if raw.strip()):,} lines"
    except OSError:
        return "not readable now"


def write_card(out_dir: str | Path, text: str) -> Path:
    path = Path(out_dir) / CARD
    path.write_text(text, encoding="utf-8")
    return path


def carry_card(source: str | Path, out_dir: str | Path, note: Sequence[str]) -> Path | None:
    """Copy an adapter's card to an export, with `note` lines about the export appended."""
    source = Path(source)
    card = source / CARD if source.is_dir() else None
    if card is None or not card.exists() or "alignadapt" not in card.read_text(encoding="utf-8"):
        return None
    text = card.read_text(encoding="utf-8").rstrip() + "\n\n## Export\n\n"
    text += "\n".join(f"- {n}" for n in note) + "\n"
    return write_card(out_dir, text)


def card_command(overrides: Sequence[str], script: str = "train.py") -> str:
    import shlex

    return " ".join(shlex.quote(w) for w in ["python", script, *overrides])
