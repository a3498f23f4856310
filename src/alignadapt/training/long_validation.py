"""Validation of long recordings the way they will be aligned: `val/long_aas_ms`.

`val/aas_ms` scores the model on the pieces the datamodule cuts from long labelled recordings
by their references (where the words are is known there). A user's long recording has no
references: `alignadapt align`, evaluate and pseudo-labelling cut it at pauses and decide
each piece's words themselves (`inference/long.py`). This callback runs exactly that path,
`Aligner.align_file`, on the labelled validation recordings longer than one call, with the
model being trained, and logs their AAS over starts and ends, so a run shows what long
recordings will get, not only what its pieces get.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback

from ..data.audio import audio_info
from ..data.manifest import iter_manifest
from ..evaluation.metrics import slot_errors_ms
from ..model.prompt import split_units, unit_breaks

METRIC = "val/long_aas_ms"


class LongValidation(Callback):
    """At the end of every validation (not the sanity check): the first `max_recordings`
    labelled lines of `manifest` longer than one call, aligned piece by piece and scored.
    A manifest without such lines costs nothing. Every DDP rank aligns the same recordings
    (a handful, by design) and logs the same figure."""

    def __init__(self, manifest: str | Path, max_duration: float, max_recordings: int = 8):
        super().__init__()
        self.manifest, self.max_duration = Path(manifest), max_duration
        self.max_recordings = max_recordings
        self.items: list[tuple] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        config = pl_module.base_config
        # one call holds at most max_duration and what the classes can express
        call = min(self.max_duration, (config.num_labels - 1) * pl_module.class_ms / 1000)
        self.items = []
        for utt in iter_manifest(self.manifest):
            if len(self.items) >= self.max_recordings:
                break
            if not utt.spans:
                continue
            duration = utt.duration or audio_info(utt.audio_path).duration
            if duration <= call:
                continue
            units = split_units(pl_module.processor, utt.text, utt.language)
            if len(units) != len(utt.spans):  # the datamodule's checks report these lines
                continue
            reference = np.asarray(utt.spans, dtype=np.float64).ravel()
            self.items.append((utt, units, unit_breaks(utt.text, units), reference))
        self.window = call

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self.items:
            return
        from ..inference.aligner import Aligner, AlignerSettings

        settings = AlignerSettings(
            decodings=[pl_module.decoding], window=self.window, device=str(pl_module.device)
        )
        aligner = Aligner(pl_module.net, pl_module.processor, settings)
        errors = []
        for utt, units, breaks, reference in self.items:
            result = aligner.align_file(utt.audio_path, units, utt.channel, breaks)
            errors.append(slot_errors_ms(result.decoded[pl_module.decoding].times, reference))
        pl_module.log(METRIC, float(np.concatenate(errors).mean()), sync_dist=False)
