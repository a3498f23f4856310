"""Alignment with a trained or base model: loading, batching, long recordings.

One runner serves evaluation, pseudo-labelling and `alignadapt align`: prompts come from
`alignadapt.model.prompt` (the training prompt), times from `alignadapt.model.decoding.decode`
(the validation decoding). Models come from `alignadapt.model.reference` (any form a user
names a model in); the settings are `AlignerSettings` (conf/aligner/).

A call reads at most `window` seconds (default 180 s, the official pipeline's
MAX_FORCE_ALIGN_INPUT_SECONDS, and never more than `num_labels` x 80 ms can express; the real
model's timestamps also collapse after about 270 s). A longer recording is cut at pauses into
pieces and each piece is aligned with exactly its own words (long.py, planning.py).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..model.decoding import DECODINGS, Decoded, decode
from ..model.prompt import SAMPLE_RATE, build_inputs, model_dtype, slot_logits, unwrap
from .long import Alignment, ArrayAudio, FileAudio, Gap, align_long, find_gaps
from .planning import Piece

__all__ = ["Aligner", "AlignerSettings", "Alignment", "Gap", "Piece"]

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
        180.0, "seconds of audio per call at most; longer recordings are cut at pauses"
    )
    overlap: float = _setting(1.0, "seconds a piece's call reaches into its neighbours")
    flag_gap: float = _setting(10.0, "seconds with no word that are flagged as a gap")

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
        if self.window <= 0 or self.overlap < 0 or self.flag_gap <= 0:
            raise ValueError(
                "aligner.window and aligner.flag_gap must be positive and aligner.overlap "
                f"not negative, not {self.window}, {self.flag_gap}, {self.overlap}"
            )

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


class Aligner:
    """A loaded model + processor that aligns batches of (audio, units) with chosen decodings.

    A recording that fits one window is aligned in one call, batched with the others; a
    longer one is cut into pieces, each aligned with its own words (long.py, planning.py).
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

    def run_pieces(self, batch: list[tuple[Piece, np.ndarray, list[str]]]) -> list[dict]:
        """One forward pass over a batch of pieces; times relative to each piece's start."""
        rows = self.slot_logits([audio for _, audio, _ in batch], [u for _, _, u in batch])
        return [self.decode_all(row) for row in rows]

    def align(
        self,
        audios: list[np.ndarray],
        unit_lists: list[list[str]],
        names: list[str] | None = None,
        breaks: list[np.ndarray | None] | None = None,
    ) -> list[Alignment]:
        """Align a batch: recordings within one window in one forward pass, longer ones piece
        by piece (a progress bar each, named by `names`; `breaks`: each transcript's
        `unit_breaks`, which lets a long one's unspoken sentences be found)."""
        results: list[Alignment | None] = [None] * len(audios)
        short = [i for i, a in enumerate(audios) if len(a) / SAMPLE_RATE <= self.window_s]
        if short:
            rows = self.slot_logits([audios[i] for i in short], [unit_lists[i] for i in short])
            for i, row in zip(short, rows, strict=True):
                results[i] = self._whole(row, len(audios[i]) / SAMPLE_RATE)
        for i, audio in enumerate(audios):
            if results[i] is None:
                name = names[i] if names else f"recording {i + 1}"
                brk = breaks[i] if breaks else None
                results[i] = self.align_long(ArrayAudio(audio), unit_lists[i], name, brk)
        return results  # type: ignore[return-value]

    def align_file(
        self,
        path: str | Path,
        units: list[str],
        channel: int | None = None,
        breaks: np.ndarray | None = None,
    ) -> Alignment:
        """Align one file; a long one is read in blocks and pieces, never decoded whole."""
        source = FileAudio(path, channel)
        if source.duration <= self.window_s:
            (row,) = self.slot_logits([source.read(0.0, source.duration)], [units])
            return self._whole(row, source.duration)
        return self.align_long(source, units, Path(path).name, breaks)

    def align_long(
        self,
        source: ArrayAudio | FileAudio,
        units: list[str],
        name: str = "",
        breaks: np.ndarray | None = None,
    ) -> Alignment:
        result = align_long(
            source,
            units,
            self.run_pieces,
            self.window_s,
            self.settings.overlap,
            self.settings.flag_gap,
            self.settings.batch_size,
            desc=f"aligning {name}",
            breaks=breaks,
        )
        for dec in result.decoded.values():  # no word ends past the audio
            np.minimum(dec.times, source.duration, out=dec.times)
        return result

    def _whole(self, row: torch.Tensor, duration: float) -> Alignment:
        decoded = self.decode_all(row)
        n = row.shape[0] // 2
        for dec in decoded.values():  # no word ends past the audio
            np.minimum(dec.times, duration, out=dec.times)
        spans = next(iter(decoded.values())).spans
        piece = Piece(0.0, duration, list(range(n)))
        gaps = find_gaps(spans, np.ones(n, bool), duration, self.settings.flag_gap)
        return Alignment(decoded, [piece], gaps)
