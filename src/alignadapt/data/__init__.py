"""Data: audio, manifests and their checks, importers, splits, replay, augmentation, batching
and the LightningDataModule. Uses `alignadapt.model` only for the prompt and the timing."""
