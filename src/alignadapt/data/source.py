"""Where a data module's batches come from when they are not its manifests.

`AlignDataModule` reads JSONL manifests for every split. A `Source` plugged into it
(`AlignDataModule(source=...)`, `data.source` in the config) replaces what it supplies and
leaves the rest to the manifests: Shar shards stream the training batches
(`shard_source.ShardSource`), the demo's broad speech is made on the fly for training and
validation (`alignadapt.demo.stream.BroadSource`), the synthetic corpus is written once and then
read as manifests (`alignadapt.demo.synthetic.SyntheticSource`). The data module keeps what
every source shares: the processor and collator, the longest item, workers, seed, augmentation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch
from torch.utils.data import DataLoader

if TYPE_CHECKING:
    from .datamodule import AlignDataModule


class Source(Protocol):
    """What a source may supply; each method has a default, so a source writes only its own."""

    def prepare(self) -> None:
        """Write or fetch data once, on one process, before setup (`prepare_data`)."""

    def setup(self, data: AlignDataModule, stage: str | None) -> None:
        """After the data module has its collator, its longest item and its manifests."""

    def train_loader(self, data: AlignDataModule) -> DataLoader | None:
        """Training batches; None: from the train manifest."""
        return None

    def val_loader(self, data: AlignDataModule) -> DataLoader | None:
        """Validation batches; None: from the validation manifest."""
        return None

    def budget(self) -> tuple[float, str] | None:
        """What one device's training batch holds, (amount, unit); None: the manifests' own."""
        return None

    def state_dict(self, data: AlignDataModule) -> dict:
        """Kept in the checkpoint, for a resumed run to continue where this one stopped."""
        return {}

    def load_state_dict(self, data: AlignDataModule, state: dict) -> None:
        """From the checkpoint of the run being resumed."""


def worker_init(worker_id: int) -> None:
    """One torch thread per DataLoader worker (the workers are the parallelism), plus
    Lightning's per-worker seeding when seed_everything(workers=True) asked for it."""
    from lightning.fabric.utilities.seed import pl_worker_init_function

    torch.set_num_threads(1)
    pl_worker_init_function(worker_id)
