"""The LightningModule: the LoRA-adapted aligner, its loss, validation decoding and metrics.

Checkpoints hold only what trains (LoRA weights, a trained head, or everything for full
training) plus optimizer and scheduler state; the frozen backbone is reloaded from
`pretrained` on resume. What a `.ckpt` keeps, and the checks on resume, are model/reference.py's
(the format's one home, which names `net`, `ctc_head` and `frame_head` below). Metrics use slash names:
`train/loss`, `val/aas_ms`, ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from ..evaluation.listening import summarize_listening, withheld_features
from ..evaluation.metrics import slot_errors_ms, summarize
from ..model.decoding import DECODINGS, decode
from ..model.loading import load_aligner
from ..model.lora import LoraSpec, apply_lora, count_parameters
from ..model.prompt import (
    decoder_states,
    head_logits,
    model_dtype,
    slot_logits,
    to_model,
    unwrap,
)
from ..model.reference import (
    CTC_HEAD,
    FRAME_HEAD,
    adapter_metadata,
    check_complete,
    check_fits,
    checkpoint_reference,
    read_reference,
    save_adapter,
    trained_keys,
    write_checkpoint,
)
from ..model.timing import IGNORE_INDEX

log = logging.getLogger(__name__)


class AlignerModule(L.LightningModule):
    def __init__(
        self,
        pretrained: str,
        lora: LoraSpec | dict,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        revision: str | None = None,
        dtype: str = "float32",
        head_dropout: float | None = None,  # None keeps transformers' generic 0.1 (the release: 0)
        gradient_checkpointing: bool = False,
        loss: str = "hard",  # "hard" cross-entropy or "soft": the target spread over nearby classes
        soft_sigma: float = 1.0,  # classes (x 80 ms): width of the soft target
        compile: bool = False,  # torch.compile the decoder (GPU; variable shapes recompile on CPU)
        decoding: str = "argmax",  # argmax | subclass: how validation turns logits into times
        listening_check: bool = True,  # val/: the error with the audio withheld (evaluation/listening.py)
        ctc_weight: float = 0.0,  # > 0 (pretraining): CTC of the units' tokens at the audio tokens
        ctc_frames: int = 4,  # CTC frames per audio token: 80 ms tokens are too few to spell text
        frame_weight: float = 0.0,  # > 0 (pretraining): each audio token names the tokens spoken in it
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.lora = lora if isinstance(lora, LoraSpec) else LoraSpec(**lora)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        ref = read_reference(pretrained)
        if ref.kind != "model":
            raise ValueError(
                f"model.pretrained={pretrained} is {ref.kind.replace('adapter', 'an adapter')} "
                "directory or file, not a base model: train on its base "
                f"(model.pretrained={ref.base}); resume a run with ckpt_path=..."
            )
        self.pretrained, self.revision = ref.source, revision
        base, self.processor = load_aligner(self.pretrained, revision, dtype)
        if head_dropout is not None:
            base.dropout.p = head_dropout
        if gradient_checkpointing:
            # transformers 5's name (gradient_checkpointing_enable is its deprecated alias)
            base.activation_checkpointing_enable(
                activation_checkpointing_kwargs={"use_reentrant": False}
            )
        self.base_config = base.config
        base.requires_grad_(False)
        self.net = apply_lora(base, self.lora)
        # from_pretrained returns the model in eval mode and Lightning keeps each module's mode,
        # so without this, dropout (LoRA's, the head's) would be off during training.
        self.net.train()
        self.timestamp_token_id = base.config.timestamp_token_id
        self.class_ms = float(self.processor.timestamp_segment_time)
        self.trainable, self.total = count_parameters(self.net)
        if loss not in ("hard", "soft"):
            raise ValueError(f"model.loss must be 'hard' or 'soft', not {loss!r}")
        self.loss_kind, self.soft_sigma = loss, soft_sigma
        if decoding not in DECODINGS:
            raise ValueError(f"model.decoding must be one of {DECODINGS}, not {decoding!r}")
        self.decoding = decoding
        if compile:
            self.aligner.model.language_model.compile(dynamic=True)
        self._step_started: float | None = None
        # Frozen weights are absent from our checkpoints, so loading one is not strict.
        self.strict_loading = False
        self._val_errors: list[np.ndarray] = []
        self._val_repaired = 0
        self.listening_check = listening_check
        self._val_withheld: list[np.ndarray] = []
        self._val_changed = 0
        # An auxiliary loss for training from scratch (joint CTC-attention training): the
        # decoder's states at the audio tokens, which come before the text and cannot see it,
        # must spell the units' tokens in order. It teaches the audio path what was said where;
        # the head is not part of the model and is not saved with it. Each audio token (80 ms)
        # speaks for `ctc_frames` CTC frames: at one frame a token, 44% of the demo's test
        # utterances have more text tokens than frames, an impossible path whose infinite loss
        # `zero_infinity` silently zeroes (the v3 base's CTC sat at ~4 nats for 3,500 steps).
        self.ctc_weight = ctc_weight
        self.ctc_frames = ctc_frames
        self.audio_token_id = base.config.audio_token_id
        self.ctc_head = None
        if ctc_weight > 0:
            text = base.config.text_config
            classes = text.vocab_size + 1  # + blank
            self.ctc_head = torch.nn.Linear(text.hidden_size, ctc_frames * classes)
        # A second auxiliary loss, dense and local where CTC is a sequence (which sat in its
        # all-blank plateau for thousands of steps): each audio token's state predicts the set
        # of text tokens of the unit being spoken at it (none in silence), from the reference
        # times. It asks the audio path the aligner's own question, which word is where.
        self.frame_weight = frame_weight
        self.frame_head = None
        if frame_weight > 0:
            fe = self.processor.feature_extractor
            chunk_s = 2 * fe.n_window * fe.hop_length / fe.sampling_rate
            call_s = base.config.num_labels * self.class_ms / 1000.0
            if chunk_s < call_s:
                raise ValueError(
                    f"model.frame_weight needs one audio encoder chunk a call (audio token k = "
                    f"class k): this model's chunk is {chunk_s:g} s (n_window {fe.n_window}) and "
                    f"its calls reach {call_s:g} s; build it with n_window >= "
                    f"{int(call_s * fe.sampling_rate / fe.hop_length / 2 + 0.999)} "
                    "(model.tiny.n_window) or set model.frame_weight=0"
                )
            text = base.config.text_config
            self.frame_head = torch.nn.Linear(text.hidden_size, text.vocab_size)
            # starts near the targets' sparsity (a few of ~400 tokens a frame): at bias 0 every
            # frame would cost ~280 nats and its first gradients would shake the base's weights
            torch.nn.init.constant_(self.frame_head.bias, -5.0)
        if ctc_weight > 0 or frame_weight > 0:
            special = set(self.processor.tokenizer.all_special_ids)
            special |= {self.timestamp_token_id, self.audio_token_id}
            self.register_buffer("_special_ids", torch.tensor(sorted(special)), persistent=False)

    # ---- forward and loss -------------------------------------------------------------
    @property
    def aligner(self):
        """The Qwen3ASRForTokenClassification inside any peft wrapping."""
        return unwrap(self.net)

    def slot_logits(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at the `<timestamp>` slots only, (slots in batch, num_labels), and the mask;
        the head's dropout applies in training (the module's mode), as in transformers."""
        inputs = to_model(batch, model_dtype(self.net))
        return slot_logits(self.net, inputs, self.timestamp_token_id, dropout=True)

    def ctc_loss(self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """CTC of each row's unit tokens (the text after the audio, special tokens left out)
        on the decoder states at its audio tokens; the blank is the head's last class."""
        ids = inputs["input_ids"]
        audio = ids == self.audio_token_id
        states = hidden[audio]  # (audio tokens in batch, hidden)
        frames = self.ctc_head(states).float().reshape(len(states) * self.ctc_frames, -1)
        logp = F.log_softmax(frames, dim=-1)  # each token's frames in order
        lengths = audio.sum(dim=1) * self.ctc_frames
        frames = torch.nn.utils.rnn.pad_sequence(torch.split(logp, lengths.tolist()))  # (T, B, C)
        text = (inputs["attention_mask"] == 1) & ~torch.isin(ids, self._special_ids)
        return F.ctc_loss(
            frames,
            ids[text],
            lengths,
            text.sum(dim=1),
            blank=logp.shape[-1] - 1,
            reduction="mean",
            zero_infinity=True,
        )

    def frame_targets(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Multi-hot targets (audio tokens in batch, vocab): audio token k (80 ms from k x 80 ms,
        which is class k) holds the text tokens of every unit whose [start, end) covers it.

        The prompt reads `<audio...> unit <ts><ts> unit <ts><ts>`; each unit's two slots hold
        its start and end classes. Needs one encoder chunk a call (the demo's n_window 1600),
        where audio token k is class k.
        """
        rows = []
        vocab = self.frame_head.out_features
        special = self._special_ids.to(input_ids.device)
        for ids, row_labels in zip(input_ids, labels, strict=True):
            stamp = ids == self.timestamp_token_id
            bounds = row_labels[stamp].reshape(-1, 2)  # (units, start and end class)
            # a text token belongs to the unit whose two slots come next: count the slots before it
            unit = (torch.cumsum(stamp, 0) - stamp.long()) // 2
            text = ~torch.isin(ids, special) & (unit < len(bounds))
            tokens = torch.zeros(len(bounds), vocab, device=ids.device)  # (units, vocab) multi-hot
            tokens[unit[text], ids[text]] = 1.0
            start, end = bounds[:, 0], torch.maximum(bounds[:, 1], bounds[:, 0] + 1)
            start = torch.where((bounds >= 0).all(dim=1), start, end)  # unlabelled: covers nothing
            frame = torch.arange(int((ids == self.audio_token_id).sum()), device=ids.device)
            covers = (frame[:, None] >= start[None, :]) & (frame[:, None] < end[None, :])
            rows.append((covers.float() @ tokens).clamp(max=1.0))
        return torch.cat(rows)

    def frame_loss(
        self, hidden: torch.Tensor, inputs: dict[str, torch.Tensor], labels
    ) -> torch.Tensor:
        """Binary cross-entropy of `frame_targets`, summed over the vocabulary and averaged over
        audio tokens."""
        states = hidden[inputs["input_ids"] == self.audio_token_id]
        logits = self.frame_head(states).float()
        targets = self.frame_targets(inputs["input_ids"], labels).to(logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        return bce / max(len(states), 1)

    def summed_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss summed over slots: hard cross-entropy, or soft (a Gaussian over nearby classes).

        Timestamps are ordinal: with `soft`, predicting the neighbouring 80 ms class costs little
        and a class 50 steps away costs a lot, instead of both costing the same.
        """
        logits = logits.float()
        if self.loss_kind == "hard":
            return F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")
        keep = targets != IGNORE_INDEX
        classes = torch.arange(logits.shape[-1], device=logits.device, dtype=logits.dtype)
        distance = (classes[None, :] - targets[keep, None].to(logits.dtype)) / self.soft_sigma
        soft = torch.exp(-0.5 * distance**2)
        soft = soft / soft.sum(dim=-1, keepdim=True)
        return -(soft * F.log_softmax(logits[keep], dim=-1)).sum()

    def loss_from(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed loss divided by the batch's slot count (not a mean of per-utterance means)."""
        return self.summed_loss(logits, targets) / max(int((targets != IGNORE_INDEX).sum()), 1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        inputs = to_model(batch, model_dtype(self.net))
        hidden = decoder_states(self.net, inputs)
        logits, mask = head_logits(self.net, hidden, inputs, self.timestamp_token_id, dropout=True)
        targets = batch["labels"][mask]
        # Normalise by the slots of the whole global batch, not this rank's: DDP averages
        # gradients over ranks, so x world_size / global slots gives exactly the gradient of one
        # process that sees the global batch.
        slots = (targets != IGNORE_INDEX).sum().to(torch.float32)
        world = self.trainer.world_size
        if world > 1:
            slots = self.trainer.strategy.reduce(slots.detach(), reduce_op="sum")
        loss = self.summed_loss(logits, targets) * world / slots.clamp(min=1)
        self.log(
            "train/loss", loss, prog_bar=True, batch_size=len(batch["keys"]), sync_dist=world > 1
        )
        if self.ctc_head is not None:
            ctc = self.ctc_loss(hidden, inputs)
            self.log("train/ctc_loss", ctc, batch_size=len(batch["keys"]), sync_dist=world > 1)
            loss = loss + self.ctc_weight * ctc
        if self.frame_head is not None:
            frame = self.frame_loss(hidden, inputs, batch["labels"])
            self.log("train/frame_loss", frame, batch_size=len(batch["keys"]), sync_dist=world > 1)
            loss = loss + self.frame_weight * frame
        self._audio_seconds = batch["audio_seconds"]
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Throughput in audio seconds per wall-clock second, over all ranks."""
        if self._step_started is None:
            return
        elapsed = time.perf_counter() - self._step_started
        rate = self._audio_seconds * self.trainer.world_size / max(elapsed, 1e-9)
        self.log("train/audio_s_per_s", rate, batch_size=1)

    # ---- validation ------------------------------------------------------------------
    def decode_batch(self, logits: torch.Tensor, mask: torch.Tensor):
        counts = mask.sum(dim=1).tolist()
        return [
            decode(chunk, self.class_ms, self.decoding) for chunk in torch.split(logits, counts)
        ]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val", batch_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test", batch_idx)

    def _evaluate(self, batch: dict[str, Any], stage: str, batch_idx: int = 0) -> None:
        logits, mask = self.slot_logits(batch)
        loss = self.loss_from(logits, batch["labels"][mask])
        self.log(
            f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch["keys"]), sync_dist=True
        )
        decoded_rows = self.decode_batch(logits, mask)
        for decoded, ref in zip(decoded_rows, batch["ref_times"], strict=True):
            self._val_errors.append(slot_errors_ms(decoded.times, ref.numpy()))
            self._val_repaired += decoded.repaired
        if stage == "val" and self.listening_check:
            self._listen(batch, decoded_rows)
        if stage == "val" and batch_idx == 0 and "units" in batch:  # the utterance pictured in W&B
            self._example = (
                batch["keys"][0],
                batch["units"][0],
                batch["ref_times"][0].numpy(),
                decoded_rows[0].times,
            )

    def _listen(self, batch: dict[str, Any], decoded_rows: list) -> None:
        """The batch again with each recording's features swapped for another's
        (evaluation/listening.py): its errors, and how many boundaries moved."""
        swapped = dict(batch)
        swapped["input_features"] = withheld_features(
            batch["input_features"], batch["input_features_mask"]
        )
        logits, mask = self.slot_logits(swapped)
        rows = self.decode_batch(logits, mask)
        for deaf, own, ref in zip(rows, decoded_rows, batch["ref_times"], strict=True):
            self._val_withheld.append(slot_errors_ms(deaf.times, ref.numpy()))
            self._val_changed += int(np.sum(np.abs(deaf.times - own.times) > 1e-6))

    def on_validation_epoch_end(self) -> None:
        errors = np.concatenate(self._val_errors) if self._val_errors else np.zeros(0)
        errors = self._gather_errors(errors)
        stats = summarize(errors, prefix="val/")
        stats.pop("val/p90_ms", None)
        if stats:
            self.log("val/aas_ms", stats.pop("val/aas_ms"), prog_bar=True)
            self.log_dict(stats)
            self.log("val/repaired_share", self._val_repaired / max(len(errors), 1))
        if self.listening_check and self._val_withheld:
            withheld = self._gather_errors(np.concatenate(self._val_withheld))
            changed = self._gather_errors(np.asarray([self._val_changed], dtype=np.float64))
            check = summarize_listening(errors, withheld, int(changed.sum()), len(errors))
            self.log("val/aas_withheld_ms", check["aas_withheld_ms"])
            self.log("val/listening", check["ratio"], prog_bar=True)
            self.log("val/changed_share", check["changed_share"])
        self._log_example_picture()
        self._val_errors, self._val_repaired = [], 0
        self._val_withheld, self._val_changed = [], 0

    def _log_example_picture(self) -> None:
        """Every validation: one utterance's reference and predicted spans, as a W&B image."""
        from lightning.pytorch.loggers import WandbLogger

        example, self._example = getattr(self, "_example", None), None
        wandb_loggers = [lg for lg in self.loggers if isinstance(lg, WandbLogger)]
        if example is None or not wandb_loggers or not self.trainer.is_global_zero:
            return
        import matplotlib.pyplot as plt
        import wandb

        from ..evaluation.report import timeline_figure

        key, units, ref, pred = example
        rows = [("reference", ref), ("predicted", pred)]
        fig = timeline_figure(units, rows, title=f"{key} at step {self.global_step}")
        for logger in wandb_loggers:
            logger.experiment.log(
                {"val/alignment": wandb.Image(fig), "trainer/global_step": self.global_step}
            )
        plt.close(fig)

    def _gather_errors(self, errors: np.ndarray) -> np.ndarray:
        """All ranks' slot errors, so every rank logs (and checkpoints by) the same metric."""
        if self.trainer.world_size == 1:
            return errors
        gathered = [None] * self.trainer.world_size
        torch.distributed.all_gather_object(gathered, errors)
        return np.concatenate(gathered)

    def on_test_epoch_start(self) -> None:
        self._val_errors, self._val_repaired = [], 0
        self._val_withheld, self._val_changed = [], 0

    def on_test_epoch_end(self) -> None:
        errors = self._gather_errors(
            np.concatenate(self._val_errors) if self._val_errors else np.zeros(0)
        )
        self.log_dict(summarize(errors, prefix="test/"))
        self._val_errors = []

    # ---- optimisation ----------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.net.parameters() if p.requires_grad]
        for head in (self.ctc_head, self.frame_head):
            if head is not None:
                params += list(head.parameters())
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
        t = self.trainer
        budget = getattr(t.datamodule, "batch_budget", None)  # an AlignDataModule's
        per_device, unit = budget() if budget is not None else (None, "batches")
        devices = t.num_devices * t.num_nodes
        global_batch = (per_device or 0) * devices * t.accumulate_grad_batches
        message = (
            f"trainable parameters: {self.trainable:,} of {self.total:,} ({share:.3f}%), "
            f"LoRA preset {self.lora.name}\n"
            f"global batch: {per_device} {unit} per device x {t.num_devices} devices x {t.num_nodes} nodes "
            f"x {t.accumulate_grad_batches} accumulation = {global_batch:g} {unit} per optimizer step"
        )
        if t.is_global_zero:  # printed once (a log line too would show it twice on the console)
            print(message)
        for logger in self.loggers:
            logger.log_hyperparams(
                {
                    "params/trainable": self.trainable,
                    "params/total": self.total,
                    "global_batch": global_batch,
                    "global_batch_unit": unit,
                }
            )

    # ---- checkpoints: only what trains (model/reference.py's format) --------------------
    def aux_heads(self) -> dict[str, torch.nn.Module | None]:
        """Pretraining's auxiliary heads by their checkpoint prefix (trained and resumed with
        the run, never exported)."""
        return {CTC_HEAD: self.ctc_head, FRAME_HEAD: self.frame_head}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_checkpoint(checkpoint, self.net, self.aux_heads(), self.metadata())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse, before Lightning loads it, a checkpoint of another base or LoRA preset."""
        where = getattr(self._trainer, "ckpt_path", None) or "the checkpoint"
        ref = checkpoint_reference(checkpoint, str(where), self.pretrained)
        trained_on = ref.metadata.get("base_model")
        check_fits(
            ref, self.base_config, self.class_ms, f"resume with model.pretrained={trained_on}"
        )
        fix = "resume with the LoRA preset the run was started with (its .hydra/config.yaml)"
        check_complete(ref, trained_keys(self.net, self.aux_heads()), fix)

    def metadata(self) -> dict:
        return adapter_metadata(
            self.pretrained, self.revision, self.base_config, self.class_ms, self.lora
        )

    def save_adapter(self, out_dir: str | Path) -> Path:
        """peft `save_pretrained` (or the whole model for full training) plus alignadapt metadata."""
        return save_adapter(self.net, self.processor, out_dir, self.metadata())
