"""Alignment with a trained or base model: loading, batching, windowing for long recordings.

One runner serves evaluation, pseudo-labelling and `alignadapt align`: prompts come from
`alignadapt.data.build_inputs` (the training prompt), times from `alignadapt.decoding.decode`
(the validation decoding). A model is a hub id or directory (base or merged export), an
adapter directory (`adapter/` of a run, or `alignadapt export`), or a Lightning checkpoint
from train.py (which holds only the trained weights; loaded with `weights_only=True`).

Long recordings go window by window (`windowed_alignment`): the aligner reads a limited
stretch per call (what `num_labels` x 80 ms can express; the real model's timestamps also
collapse after about 270 s), so a window is aligned, the words that end well inside it are
kept, and the next window starts at the end of the last kept word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import SAMPLE_RATE
from .data import build_inputs
from .decoding import Decoded, decode
from .modeling import (
    ADAPTER_META,
    LoraSpec,
    apply_lora,
    base_fingerprint,
    load_adapter,
    load_aligner,
)

MODEL_INPUTS = ("input_ids", "attention_mask", "input_features", "input_features_mask")


def load_for_inference(
    source: str | Path, base: str | None = None, dtype: str = "float32"
) -> tuple[torch.nn.Module, object]:
    """(model in eval mode, processor) for a base/merged model, an adapter dir or a .ckpt.

    `base` overrides the base model an adapter or checkpoint names in its metadata (e.g. the
    same model in another local directory).
    """
    path = Path(source)
    if path.suffix == ".ckpt":
        model, processor = load_checkpoint(path, base, dtype)
    elif (path / ADAPTER_META).exists() and (path / "adapter_config.json").exists():
        import json

        meta = json.loads((path / ADAPTER_META).read_text())
        model, processor = load_aligner(base or meta["base_model"], meta.get("revision"), dtype)
        model = load_adapter(model, path, float(processor.timestamp_segment_time))
    else:
        model, processor = load_aligner(str(source), None, dtype)
    model.requires_grad_(False)  # inference only: nothing for DDP or autograd to track
    return model.eval(), processor


def load_checkpoint(path: Path, base: str | None = None, dtype: str = "float32"):
    """A train.py checkpoint: the base model, the run's LoRA preset, the trained weights."""
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    hparams = ckpt.get("hyper_parameters") or {}
    meta = ckpt.get("alignadapt") or {}
    base = base or hparams.get("pretrained") or meta.get("base_model")
    if not base:
        raise ValueError(f"{path}: names no base model; pass the base model explicitly")
    model, processor = load_aligner(base, hparams.get("revision"), dtype)
    if meta and meta.get("fingerprint") != base_fingerprint(model.config):
        raise ValueError(f"{path} was trained on {meta.get('base_model')!r}, not on {base!r}")
    lora = hparams.get("lora") or {}
    net = apply_lora(model, lora if isinstance(lora, LoraSpec) else LoraSpec(**lora))
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items()}
    trained = {n for n, p in net.named_parameters() if p.requires_grad}
    missing = trained - set(state)
    if missing:
        raise ValueError(
            f"{path} lacks {len(missing)} trained weights (e.g. {sorted(missing)[0]}): "
            "it was made with another LoRA preset"
        )
    net.load_state_dict(state, strict=False)
    return net, processor


@dataclass
class Window:
    start: float  # seconds into the recording
    first: int  # first unit aligned in this window
    kept: int  # units kept from this window


@dataclass
class Alignment:
    """One utterance aligned with one or more decodings (absolute times)."""

    decoded: dict[str, Decoded]
    windows: list[Window] = field(default_factory=list)


def stitch(parts: list[tuple[Window, Decoded]]) -> Decoded:
    """Concatenate the kept slots of each window, shifted to absolute time."""
    times, conf, changed = [], [], []
    for window, dec in parts:
        n = 2 * window.kept
        times.append(dec.times[:n] + window.start)
        conf.append(dec.confidence[:n] if dec.confidence is not None else np.ones(n))
        changed.append(dec.changed[:n] if dec.changed is not None else np.zeros(n, dtype=bool))
    changed_all = np.concatenate(changed)
    return Decoded(
        times=np.maximum.accumulate(np.concatenate(times)),
        repaired=int(changed_all.sum()),
        confidence=np.concatenate(conf),
        changed=changed_all,
    )


def windowed_alignment(
    duration: float,
    n_units: int,
    align_window: Callable[[float, float, int, int], dict[str, Decoded]],
    window_s: float,
    margin_s: float,
    max_units_per_s: float,
    primary: str = "argmax",
) -> Alignment:
    """Align a recording window by window; `align_window(start, end, first, count)` aligns
    units [first, first + count) against audio [start, end) and returns times relative to
    `start` per decoding.

    A window ends at most `window_s` after its start; of its units, the leading ones that
    end before `end - margin_s` are kept (at least one, so every window makes progress),
    and the next window starts where the last kept unit ends. The window that reaches the
    end of the recording keeps everything. At most `max_units_per_s` x window units are
    passed per window (faster speech than that would not fit anyway).
    """
    margin = min(margin_s, window_s / 4)
    start, first = 0.0, 0
    parts: dict[str, list[tuple[Window, Decoded]]] = {}
    windows: list[Window] = []
    while first < n_units:
        end = min(duration, start + window_s)
        final = end >= duration - 1e-6
        remaining = n_units - first
        count = (
            remaining
            if final
            else min(remaining, max(1, math.ceil(max_units_per_s * (end - start))))
        )
        out = align_window(start, end, first, count)
        spans = out[primary].spans
        if final:
            kept = count
        else:
            inside = spans[:, 1] <= (end - start) - margin
            kept = max(1, int(np.argmin(inside)) if not inside.all() else count)
        window = Window(start, first, kept)
        windows.append(window)
        for name, dec in out.items():
            parts.setdefault(name, []).append((window, dec))
        start = max(start, start + float(spans[kept - 1, 1]))
        first += kept
    return Alignment({name: stitch(p) for name, p in parts.items()}, windows)


class Aligner:
    """A loaded model + processor that aligns batches of (audio, units) with chosen decodings.

    Recordings longer than `window_s` (capped at what the classes can express) go through
    `windowed_alignment`; the rest are batched as they come.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        decodings: Sequence[str] = ("argmax",),
        window_s: float = 240.0,
        margin_s: float = 2.0,
        max_units_per_s: float = 8.0,
        device: str = "cpu",
    ):
        self.model = model.to(device).eval()
        self.core = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.processor = processor
        self.decodings = list(decodings)
        self.device = device
        config = self.core.config
        self.timestamp_token_id = config.timestamp_token_id
        self.class_ms = float(processor.timestamp_segment_time)
        # the last class is num_labels - 1; keep one class of headroom below it
        self.max_window_s = (config.num_labels - 1) * self.class_ms / 1000.0
        self.window_s = min(window_s, self.max_window_s)
        self.margin_s, self.max_units_per_s = margin_s, max_units_per_s

    @torch.inference_mode()
    def slot_logits(
        self, audios: list[np.ndarray], unit_lists: list[list[str]]
    ) -> list[torch.Tensor]:
        """Each row's `<timestamp>` logits, shape (2 x units, num_labels), float32 on CPU."""
        inputs = build_inputs(self.processor, audios, unit_lists)
        batch = {k: inputs[k].to(self.device) for k in MODEL_INPUTS}
        hidden = self.core.model(**batch).last_hidden_state
        mask = batch["input_ids"] == self.timestamp_token_id
        logits = self.core.score(hidden[mask]).float().cpu()
        rows = torch.split(logits, mask.sum(dim=1).tolist())
        for row, units in zip(rows, unit_lists, strict=True):
            if row.shape[0] != 2 * len(units):
                raise ValueError(
                    f"{row.shape[0]} <timestamp> slots for {len(units)} units: a unit "
                    "tokenizes into a <timestamp> token"
                )
        return list(rows)

    def decode_all(self, logits: torch.Tensor) -> dict[str, Decoded]:
        return {name: decode(logits, self.class_ms, name) for name in self.decodings}

    def align(self, audios: list[np.ndarray], unit_lists: list[list[str]]) -> list[Alignment]:
        """Align a batch: short items in one forward pass, long ones window by window."""
        results: list[Alignment | None] = [None] * len(audios)
        short = [i for i, a in enumerate(audios) if len(a) / SAMPLE_RATE <= self.window_s]
        if short:
            rows = self.slot_logits([audios[i] for i in short], [unit_lists[i] for i in short])
            for i, row in zip(short, rows, strict=True):
                results[i] = Alignment(self.decode_all(row), [Window(0.0, 0, len(unit_lists[i]))])
        for i, audio in enumerate(audios):
            if results[i] is None:
                results[i] = self.align_long(audio, unit_lists[i])
            for dec in results[i].decoded.values():  # no word ends past the audio
                np.minimum(dec.times, len(audio) / SAMPLE_RATE, out=dec.times)
        return results  # type: ignore[return-value]

    def align_long(self, audio: np.ndarray, units: list[str]) -> Alignment:
        def align_window(start: float, end: float, first: int, count: int) -> dict[str, Decoded]:
            piece = audio[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
            (row,) = self.slot_logits([piece], [units[first : first + count]])
            return self.decode_all(row)

        return windowed_alignment(
            len(audio) / SAMPLE_RATE,
            len(units),
            align_window,
            self.window_s,
            self.margin_s,
            self.max_units_per_s,
            primary=self.decodings[0],
        )
