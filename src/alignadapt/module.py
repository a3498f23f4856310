"""The LightningModule: the LoRA-adapted aligner, its loss, validation decoding and metrics.

Checkpoints hold only what trains (LoRA weights, a trained head, or everything for full
training) plus optimizer and scheduler state; the frozen backbone is reloaded from
`pretrained` on resume. Metrics use slash names: `train/loss`, `val/aas_ms`, ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from .decoding import decode_argmax
from .metrics import slot_errors_ms, summarize
from .modeling import (
    LoraSpec,
    adapter_metadata,
    apply_lora,
    base_fingerprint,
    count_parameters,
    load_aligner,
    save_adapter,
)
from .timing import IGNORE_INDEX

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "input_features", "input_features_mask")


class AlignerModule(L.LightningModule):
    def __init__(
        self,
        pretrained: str,
        lora: LoraSpec | dict,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        revision: str | None = None,
        dtype: str = "float32",
        head_dropout: float | None = None,  # None keeps the model's own (0.1 in the released head)
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.lora = lora if isinstance(lora, LoraSpec) else LoraSpec(**lora)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.pretrained, self.revision = pretrained, revision
        base, self.processor = load_aligner(pretrained, revision, dtype)
        if head_dropout is not None:
            base.dropout.p = head_dropout
        if gradient_checkpointing:
            base.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        self.base_config = base.config
        base.requires_grad_(False)
        self.net = apply_lora(base, self.lora)
        self.timestamp_token_id = base.config.timestamp_token_id
        self.class_ms = float(self.processor.timestamp_segment_time)
        self.trainable, self.total = count_parameters(self.net)
        # Frozen weights are absent from our checkpoints, so loading one is not strict.
        self.strict_loading = False
        self._val_errors: list[np.ndarray] = []
        self._val_repaired = 0

    # ---- forward and loss -------------------------------------------------------------
    @property
    def aligner(self):
        """The Qwen3ASRForTokenClassification inside any peft wrapping."""
        return self.net.get_base_model() if hasattr(self.net, "get_base_model") else self.net

    def slot_logits(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at the `<timestamp>` slots only, shape (slots in batch, num_labels), and the mask.

        The head is applied where it is needed, not at every position: at the real model's
        5000 classes, full-sequence logits would dominate activation memory.
        """
        inputs = {k: batch[k] for k in MODEL_INPUTS}
        hidden = self.aligner.model(**inputs).last_hidden_state
        mask = batch["input_ids"] == self.timestamp_token_id
        head = self.aligner
        return head.score(head.dropout(hidden[mask])), mask

    def loss_from(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy summed over slots, divided by the batch's slot count (not a mean of means)."""
        return F.cross_entropy(
            logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum"
        ) / max(int((targets != IGNORE_INDEX).sum()), 1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits, mask = self.slot_logits(batch)
        loss = self.loss_from(logits, batch["labels"][mask])
        size = len(batch["keys"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/audio_seconds", batch["audio_seconds"], reduce_fx="sum", batch_size=size)
        return loss

    # ---- validation ------------------------------------------------------------------
    def decode_batch(self, logits: torch.Tensor, mask: torch.Tensor):
        counts = mask.sum(dim=1).tolist()
        return [decode_argmax(chunk, self.class_ms) for chunk in torch.split(logits, counts)]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        logits, mask = self.slot_logits(batch)
        loss = self.loss_from(logits, batch["labels"][mask])
        self.log(
            f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch["keys"]), sync_dist=True
        )
        for decoded, ref in zip(self.decode_batch(logits, mask), batch["ref_times"], strict=True):
            self._val_errors.append(slot_errors_ms(decoded.times, ref.numpy()))
            self._val_repaired += decoded.repaired

    def on_validation_epoch_end(self) -> None:
        errors = np.concatenate(self._val_errors) if self._val_errors else np.zeros(0)
        errors = self._gather_errors(errors)
        stats = summarize(errors, prefix="val/")
        stats.pop("val/p90_ms", None)
        if stats:
            self.log("val/aas_ms", stats.pop("val/aas_ms"), prog_bar=True)
            self.log_dict(stats)
            self.log("val/repaired_share", self._val_repaired / max(len(errors), 1))
        self._val_errors, self._val_repaired = [], 0

    def _gather_errors(self, errors: np.ndarray) -> np.ndarray:
        """All ranks' slot errors, so every rank logs (and checkpoints by) the same metric."""
        if self.trainer.world_size == 1:
            return errors
        gathered = [None] * self.trainer.world_size
        torch.distributed.all_gather_object(gathered, errors)
        return np.concatenate(gathered)

    def on_test_epoch_start(self) -> None:
        self._val_errors, self._val_repaired = [], 0

    def on_test_epoch_end(self) -> None:
        errors = self._gather_errors(
            np.concatenate(self._val_errors) if self._val_errors else np.zeros(0)
        )
        self.log_dict(summarize(errors, prefix="test/"))
        self._val_errors = []

    # ---- optimisation ----------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, num_training_steps=total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_fit_start(self) -> None:
        share = 100.0 * self.trainable / self.total
        message = f"trainable parameters: {self.trainable:,} of {self.total:,} ({share:.3f}%), LoRA preset {self.lora.name}"
        log.info(message)
        if self.trainer.is_global_zero:
            print(message)
        for logger in self.loggers:
            logger.log_hyperparams({"params/trainable": self.trainable, "params/total": self.total})

    # ---- checkpoints: only what trains -----------------------------------------------
    def trainable_state_keys(self) -> set[str]:
        return {f"net.{n}" for n, p in self.net.named_parameters() if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = self.trainable_state_keys()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        checkpoint["alignadapt"] = self.metadata()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("alignadapt")
        if meta and meta["fingerprint"] != base_fingerprint(self.base_config):
            raise ValueError(
                f"this checkpoint was trained on {meta['base_model']!r}, whose shape differs from "
                f"{self.pretrained!r}; resume with model.pretrained={meta['base_model']}"
            )
        missing = self.trainable_state_keys() - set(checkpoint["state_dict"])
        if missing:
            raise ValueError(
                f"checkpoint lacks {len(missing)} trained weights (e.g. {sorted(missing)[0]}); "
                "it was made with a different LoRA preset"
            )

    def metadata(self) -> dict:
        return adapter_metadata(
            self.pretrained, self.revision, self.base_config, self.class_ms, self.lora
        )

    def save_adapter(self, out_dir: str | Path) -> Path:
        """peft `save_pretrained` (or the whole model for full training) plus alignadapt metadata."""
        return save_adapter(self.net, self.processor, out_dir, self.metadata())
