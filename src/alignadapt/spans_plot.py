"""A picture of one utterance: reference word spans above, predicted spans below."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_spans(
    units: Sequence[str],
    reference: np.ndarray,
    predicted: np.ndarray,
    title: str = "",
    waveform: np.ndarray | None = None,
    sample_rate: int = 16_000,
):
    """Reference (top) and predicted (bottom) spans per unit, seconds on x; returns the Figure."""
    ref, pred = np.asarray(reference).reshape(-1, 2), np.asarray(predicted).reshape(-1, 2)
    end = float(max(ref.max(initial=0), pred.max(initial=0))) + 0.2
    fig, ax = plt.subplots(figsize=(max(6, min(24, 1.2 * end)), 2.6), dpi=100)
    if waveform is not None and len(waveform):
        t = np.arange(len(waveform)) / sample_rate
        scale = 0.4 / (np.abs(waveform).max() + 1e-9)
        ax.plot(t, 1.0 + waveform * scale, color="0.75", linewidth=0.5, zorder=0)
        end = max(end, t[-1])
    for row, (spans, color, label) in enumerate(
        ((ref, "tab:green", "reference"), (pred, "tab:orange", "predicted"))
    ):
        y = 1.5 - row
        for unit, (start, stop) in zip(units, spans, strict=True):
            ax.barh(
                y,
                max(stop - start, 0.004),
                left=start,
                height=0.35,
                color=color,
                alpha=0.8,
                edgecolor="black",
            )
            ax.text(
                (start + stop) / 2,
                y + 0.24,
                unit,
                ha="center",
                va="bottom",
                fontsize=7,
                clip_on=True,
            )
        ax.text(0, y - 0.3, label, fontsize=7, color=color)
    ax.set_xlim(0, end)
    ax.set_ylim(0, 2.1)
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
