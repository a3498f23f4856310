"""Validation of long recordings the way they will be aligned: `val/long_aas_ms`.

`val/aas_ms` scores the model on the segments the datamodule cuts from long labelled recordings
by their references (where the words are is known there). A user's long recording has no
references: `alignadapt align`, evaluate and pseudo-labelling cut it at pauses and decide
each piece's words themselves (`inference/long.py`). This callback runs exactly that path,
`Aligner.align_many`, on the labelled validation recordings longer than one call, with the
model being trained, and logs their AAS over starts and ends, so a run shows what long
recordings will get, not only what its segments get.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from ..data.datamodule import AlignDataModule
from ..evaluation.metrics import slot_errors_ms
from ..inference.service import AlignRequest
from ..model.prompt import split_units

METRIC = "val/long_aas_ms"


class LongValidation(Callback):
    """At the end of every validation (not the sanity check): the first `max_recordings`
    validation lines the datamodule cut into segments (labelled, longer than its longest
    item, already checked), aligned whole with the aligner's window and scored. Data without such lines
    costs nothing. Under DDP each rank aligns its share (every world_size-th recording) and
    the ranks' error sums and counts are gathered, so every rank logs the figure of all."""

    def __init__(self, max_recordings: int = 8):
        super().__init__()
        self.max_recordings = max_recordings
        self.requests: list[AlignRequest] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # after the datamodule's setup: its checked index of the validation manifest says
        # which lines are long, so nothing is read twice at start-up
        self.requests = []
        data = trainer.datamodule
        if stage != "fit" or not isinstance(data, AlignDataModule):
            return
        for utt in data.cut_recordings("val", self.max_recordings):
            units = split_units(pl_module.processor, utt.text, utt.language)
            self.requests.append(AlignRequest.of(utt, units, scored=True))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self.requests:
            return
        from ..inference.aligner import Aligner, AlignerSettings

        # the aligner's own window (its default, within the model's classes), as align uses
        settings = AlignerSettings(decodings=[pl_module.decoding], device=str(pl_module.device))
        aligner = Aligner(pl_module.net, pl_module.processor, settings)
        share = self.requests[trainer.global_rank :: trainer.world_size]
        total, count = 0.0, 0
        for _, result in aligner.align_many(share):
            errors = slot_errors_ms(result.decoded.times, result.request.reference.ravel())
            total, count = total + float(errors.sum()), count + errors.size
        if trainer.world_size > 1:  # every rank calls this: a rank without a share sends zeros
            mine = torch.tensor([total, count], dtype=torch.float64, device=pl_module.device)
            total, count = pl_module.all_gather(mine).reshape(-1, 2).sum(dim=0).tolist()
        pl_module.log(METRIC, total / count, sync_dist=False)
