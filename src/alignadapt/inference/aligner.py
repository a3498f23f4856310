"""The model runner behind every alignment: loading, batching, short and long recordings.

`Aligner.align_many` is the one call every caller uses (evaluate, pseudo-labelling,
`alignadapt align`, long validation, the benches): requests in (`service.AlignRequest`),
results out (`service.AlignResult`) as each length-sorted batch finishes. Prompts come from
`alignadapt.model.prompt` (the training prompt), times from `alignadapt.model.decoding.decode`
(the validation decoding); models from `alignadapt.model.reference` (any form a user names a
model in, read once); the settings are `AlignerSettings` (settings.py, conf/aligner/).

A call reads at most `window` seconds (default 180 s, the official pipeline's
MAX_FORCE_ALIGN_INPUT_SECONDS, and never more than `num_labels` x 80 ms can express; the real
model's timestamps also collapse after about 270 s). A longer recording is cut at pauses into
pieces and each piece is aligned with exactly its own words (long.py, planning.py); a file is
then read in blocks and piece by piece, never decoded whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..model.decoding import Decoded, decode
from ..model.prompt import SAMPLE_RATE, build_inputs, model_dtype, slot_logits, unwrap
from ..model.timing import model_window
from .batching import sorted_map
from .long import Alignment, ArrayAudio, FileAudio, Gap, align_long, find_gaps
from .planning import Piece
from .service import AlignRequest, AlignResult, Prepared, prepare, read_short
from .settings import AlignerSettings

__all__ = ["Aligner", "AlignerSettings", "AlignRequest", "AlignResult", "Alignment", "Gap", "Piece"]


class Aligner:
    """A loaded model + processor that aligns requests with the settings' decodings.

    A recording that fits one window is aligned in one call, batched with the others; a
    longer one is cut into pieces, each aligned with its own words (long.py, planning.py).
    `label` names the model in every result's provenance.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        settings: AlignerSettings | None = None,
        label: str = "",
    ):
        self.settings = settings = settings or AlignerSettings()
        self.model = model.to(settings.device).eval()
        self.core = unwrap(model)
        self.processor = processor
        self.decodings = settings.decodings
        self.label = label
        config = self.core.config
        self.timestamp_token_id = config.timestamp_token_id
        self.class_ms = float(processor.timestamp_segment_time)
        self.max_window_s = model_window(config.num_labels, self.class_ms)
        self.window_s = min(settings.window, self.max_window_s)

    @classmethod
    def load(
        cls,
        source,
        base: str | None = None,
        settings: AlignerSettings | None = None,
        label: str | None = None,
    ):
        """An aligner for any model reference (hub id, directory, adapter, checkpoint), or
        for one already read (`read_reference`: a checkpoint is not read again); its results
        name it `label`, by default the reference as given (as resolved, for one read)."""
        from ..model.reference import ModelReference, load_for_inference

        settings = settings or AlignerSettings()
        model, processor = load_for_inference(source, base, settings.dtype)
        if label is None:
            label = source.source if isinstance(source, ModelReference) else str(source)
        return cls(model, processor, settings, label)

    @property
    def device(self) -> torch.device:
        """Where the model is now (Lightning may have moved it since loading)."""
        return next(self.model.parameters()).device

    def prepare(self, request: AlignRequest, load: bool = False) -> Prepared:
        """Units, breaks and length of a request; with `load`, a short file is decoded now."""
        return prepare(request, self.processor, self.window_s if load else None)

    def read_short(self, prepared: Prepared) -> Prepared:
        """The same request with its samples read when it fits one call (a caller that
        needs the audio of a batch, evaluate's listening check, reads it once here)."""
        return read_short(prepared, self.window_s)

    def align_many(
        self,
        requests: Sequence[AlignRequest | Prepared],
        sort: bool = True,
        progress: Callable[[int], object] | None = None,
    ) -> Iterator[tuple[int, AlignResult]]:
        """(input position, result) for every request, batch by batch as each finishes.

        Batches hold `batch_size` requests, shortest first (inference/batching.py: less
        padding, the same groups on every run) unless `sort` is off. Every request is
        prepared before any is aligned, so a transcript with nothing to align stops the run
        before work is spent. `progress(n)` is told the number of requests done per batch."""
        prepared = [r if isinstance(r, Prepared) else self.prepare(r) for r in requests]
        lengths = [p.seconds for p in prepared]
        batch_size = self.settings.batch_size
        return sorted_map(prepared, lengths, batch_size, self.align_batch, sort, progress)

    def align_batch(self, batch: Sequence[Prepared]) -> list[AlignResult]:
        """One batch: recordings within one window in one forward pass (a file decoded
        whole), longer ones piece by piece (a file read in blocks, never whole)."""
        sources = [
            ArrayAudio(p.samples)
            if p.samples is not None
            else FileAudio(p.request.audio, p.request.channel)
            for p in batch
        ]
        short = [i for i, s in enumerate(sources) if s.duration <= self.window_s]
        for i in short:
            if isinstance(sources[i], FileAudio):
                sources[i] = ArrayAudio(read_short(batch[i], self.window_s).samples)
        alignments: list[Alignment | None] = [None] * len(batch)
        if short:
            rows = self.slot_logits(
                [sources[i].audio for i in short], [batch[i].units for i in short]
            )
            for i, row in zip(short, rows, strict=True):
                alignments[i] = self._whole(row, sources[i].duration)
        for i, p in enumerate(batch):
            if alignments[i] is None:
                alignments[i] = self.align_long(sources[i], p.units, p.name, p.breaks)
        return [
            AlignResult(
                p.request,
                p.units,
                source.duration,
                alignment,
                self.label,
                self.decodings[0],
                self.settings.min_confidence,
            )
            for p, source, alignment in zip(batch, sources, alignments, strict=True)
        ]

    def align(
        self,
        audios: list[np.ndarray],
        unit_lists: list[list[str]],
        names: list[str] | None = None,
        breaks: list[np.ndarray | None] | None = None,
    ) -> list[Alignment]:
        """Decoded samples aligned as one batch (no sorting): the primitive the batching
        tests compare orders with."""
        batch = [
            Prepared(
                AlignRequest(audio, units=units, name=names[i] if names else f"recording {i + 1}"),
                units,
                breaks[i] if breaks else None,
                len(audio) / SAMPLE_RATE,
                audio,
            )
            for i, (audio, units) in enumerate(zip(audios, unit_lists, strict=True))
        ]
        return [r.alignment for r in self.align_batch(batch)]

    def align_file(
        self,
        path: str | Path,
        units: list[str],
        channel: int | None = None,
        breaks: np.ndarray | None = None,
    ) -> Alignment:
        """Align one file; a long one is read in blocks and pieces, never decoded whole."""
        request = AlignRequest(path, units=units, channel=channel)
        prepared = Prepared(request, units, breaks, 0.0)
        return self.align_batch([prepared])[0].alignment

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
