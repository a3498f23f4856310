"""Training: the LightningModule (loss, validation, adapter-only checkpoints) and the train task."""
