"""Lightning's loggers, adjusted. The CSV logger is made safe for a run that continues in its
own folder; the W&B logger stops a warning at every run.

Lightning's writer deletes an existing `metrics.csv` when it starts (a resumed run would lose
every row before the interruption), and rewrites the file with only the keys *its* process
has seen when a new key appears (with `ddp_spawn` the main process then meets the rows the
spawned rank wrote with keys it never saw, and fails: "dict contains fields not in
fieldnames"). This writer keeps the rows and takes the header from the file as well.
"""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class AppendingWriter(ExperimentWriter):
    """Appends to an existing metrics.csv; the header is the union of the file's and ours."""

    def _check_log_dir_exists(self) -> None:  # keep what an earlier part of the run wrote
        pass

    def _record_new_keys(self) -> set[str]:
        """Keys the file's header lacks (a rewrite with the full header is then due)."""
        on_file = None
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                on_file = set(next(csv.reader(f), []))
            self.metrics_keys = sorted(set(self.metrics_keys) | on_file)
        new = super()._record_new_keys()
        return new if on_file is None else set(self.metrics_keys) - on_file


class CSVLogger(LightningCSVLogger):
    """`lightning.pytorch.loggers.CSVLogger` with the appending writer (same arguments)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class WandbLogger(LightningWandbLogger):
    """`lightning.pytorch.loggers.WandbLogger` (same arguments), except that it does not pass
    `anonymous=None` to `wandb.init`: recent wandb warns on every run that the setting "has
    no effect" whenever it is passed at all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
