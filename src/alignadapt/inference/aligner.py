"""Alignment with a trained or base model: loading, batching, windowing for long recordings.

One runner serves evaluation, pseudo-labelling and `alignadapt align`: prompts come from
`alignadapt.model.prompt` (the training prompt), times from `alignadapt.model.decoding.decode`
(the validation decoding). Models come from `alignadapt.model.reference` (any form a user
names a model in); the settings are `AlignerSettings` (conf/aligner/).

Long recordings go window by window (`windowed_alignment`): the aligner reads a limited
stretch per call (what `num_labels` x 80 ms can express; the real model's timestamps also
collapse after about 270 s), so a window is aligned, the words that end well inside it are
kept, and the next window starts at the end of the last kept word.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields

import numpy as np
import torch

from ..model.decoding import DECODINGS, Decoded, decode
from ..model.prompt import SAMPLE_RATE, build_inputs, model_dtype, slot_logits, unwrap

DTYPES = ("float32", "bfloat16", "float16")


def _setting(default, help: str, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class AlignerSettings:
    """How a model is run to get timestamps. One group, `conf/aligner/default.yaml`, serves
    evaluate.py and pseudo_label.py (`aligner.KEY=...`), and `alignadapt align` has exactly
    these as flags (`--KEY`, underscores as dashes); the help text lives here once."""

    decodings: list[str] = _setting(
        None, "argmax and/or subclass; the first one is written out", lambda: ["argmax"]
    )
    batch_size: int = _setting(8, "utterances per forward pass")
    dtype: str = _setting("float32", "float32, bfloat16 or float16 (halves memory on a GPU)")
    device: str = _setting("cpu", "cpu, cuda, cuda:1, ...")
    window: float = _setting(
        240.0, "seconds per call for long recordings (capped at num_labels x 80 ms)"
    )
    window_margin: float = _setting(2.0, "seconds: words ending this close to a window's end wait")
    max_units_per_second: float = _setting(8.0, "units passed per second of a window")

    def __post_init__(self) -> None:
        if isinstance(self.decodings, str):
            self.decodings = [self.decodings]
        self.decodings = list(self.decodings)
        bad = [d for d in self.decodings if d not in DECODINGS]
        if bad or not self.decodings:
            raise ValueError(f"aligner.decodings must be among {DECODINGS}, not {self.decodings}")
        if self.dtype not in DTYPES:
            raise ValueError(f"aligner.dtype must be one of {DTYPES}, not {self.dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"aligner.batch_size must be at least 1, not {self.batch_size}")

    @classmethod
    def from_config(cls, cfg) -> AlignerSettings:
        """From the `aligner` group of a Hydra config (or any mapping with these keys)."""
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        unknown = set(cfg) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(
                f"unknown aligner setting(s): {', '.join(sorted(unknown))} "
                f"(known: {', '.join(f.name for f in fields(cls))})"
            )
        return cls(**cfg)

    @classmethod
    def add_arguments(cls, parser) -> None:
        """One flag per setting, with the same name, default and help."""
        group = parser.add_argument_group("aligner settings (conf/aligner/default.yaml)")
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            help_text = f"{f.metadata['help']} (default: {default})"
            if f.name == "decodings":
                group.add_argument(
                    flag, nargs="+", choices=DECODINGS, default=default, help=help_text
                )
            else:
                group.add_argument(flag, type=type(default), default=default, help=help_text)

    @classmethod
    def from_args(cls, args) -> AlignerSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


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

    Recordings longer than the window (capped at what the classes can express) go through
    `windowed_alignment`; the rest are batched as they come.
    """

    def __init__(self, model: torch.nn.Module, processor, settings: AlignerSettings | None = None):
        self.settings = settings = settings or AlignerSettings()
        self.device = settings.device
        self.model = model.to(self.device).eval()
        self.core = unwrap(model)
        self.processor = processor
        self.decodings = settings.decodings
        config = self.core.config
        self.timestamp_token_id = config.timestamp_token_id
        self.class_ms = float(processor.timestamp_segment_time)
        # the last class is num_labels - 1; keep one class of headroom below it
        self.max_window_s = (config.num_labels - 1) * self.class_ms / 1000.0
        self.window_s = min(settings.window, self.max_window_s)

    @classmethod
    def load(cls, source, base: str | None = None, settings: AlignerSettings | None = None):
        """An aligner for any model reference (hub id, directory, adapter, checkpoint)."""
        from ..model.reference import load_for_inference

        settings = settings or AlignerSettings()
        model, processor = load_for_inference(source, base, settings.dtype)
        return cls(model, processor, settings)

    @torch.inference_mode()
    def slot_logits(
        self, audios: list[np.ndarray], unit_lists: list[list[str]]
    ) -> list[torch.Tensor]:
        """Each row's `<timestamp>` logits, shape (2 x units, num_labels), float32 on CPU."""
        inputs = build_inputs(
            self.processor, audios, unit_lists, model_dtype(self.model), self.device
        )
        logits, mask = slot_logits(self.model, inputs, self.timestamp_token_id)
        rows = torch.split(logits.float().cpu(), mask.sum(dim=1).tolist())
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
            self.settings.window_margin,
            self.settings.max_units_per_second,
            primary=self.decodings[0],
        )
