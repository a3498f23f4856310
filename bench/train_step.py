"""Training-step throughput: audio seconds per second, and model FLOPs utilisation on a GPU.

    python bench/train_step.py                                   # tiny model on CPU (this machine)
    python bench/train_step.py --model Qwen/Qwen3-ForcedAligner-0.6B-hf --device cuda \
        --dtype bfloat16 --batch 8 --seconds 30 --peak-tflops 312   # A100 bf16 peak

FLOP count per training step (LoRA on the decoder; the audio encoder frozen, forward only):
  decoder:  forward 2 x N_dec x T  +  backward (activation gradients only; frozen weights get
            none) 2 x N_dec x T  =  4 x N_dec x T, plus attention 4 x L x T^2 x H (fwd) x 2
  encoder:  2 x N_enc x T_audio (forward only)
  head:     2 x hidden x classes x slots x 3 (fwd + both backward products)
with N_dec, N_enc the non-embedding parameters of each tower (0.6B model: 0.44 G decoder,
0.30 G encoder), T the text+audio tokens, T_audio = 13 per second of audio. LoRA's own FLOPs
(2 x r x (in+out) per token and module) are under 1% and left out. MFU = FLOPs / time / peak.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alignadapt.data.datamodule import Collator
from alignadapt.demo.synthetic import SyntheticSpec, render_utterance
from alignadapt.demo.tiny import TinySpec, build_tiny_aligner
from alignadapt.model.lora import LoraSpec, count_parameters
from alignadapt.training.module import AlignerModule


def step_flops(module: AlignerModule, batch: dict) -> float:
    config = module.base_config
    text = config.text_config
    dec = sum(
        p.numel()
        for n, p in module.aligner.model.language_model.named_parameters()
        if "embed" not in n
    )
    enc = sum(p.numel() for p in module.aligner.model.audio_tower.parameters())
    tokens = int(batch["attention_mask"].sum())
    rows = batch["input_ids"].shape[0]
    seq = batch["input_ids"].shape[1]
    audio_tokens = int((batch["input_ids"] == config.audio_token_id).sum())
    slots = int((batch["input_ids"] == config.timestamp_token_id).sum())
    attention = (
        2 * 4 * text.num_hidden_layers * rows * seq * seq * text.num_attention_heads * text.head_dim
    )
    head = 2 * 3 * text.hidden_size * config.num_labels * slots
    return 4 * dec * tokens + attention + 2 * enc * audio_tokens + head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="model dir or hub id (default: the tiny model)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="approximate audio per utterance"
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's peak, for MFU"
    )
    args = parser.parse_args()

    path = args.model or str(build_tiny_aligner(".cache/tiny-aligner", TinySpec()))
    optimizer = lambda params: torch.optim.AdamW(params, lr=1e-4)  # noqa: E731
    module = AlignerModule(path, LoraSpec(name="decoder_attn"), optimizer, dtype=args.dtype).to(
        args.device
    )
    module.train()
    opt = optimizer([p for p in module.parameters() if p.requires_grad])
    collate = Collator(
        module.processor, module.timestamp_token_id, module.class_ms, module.base_config.num_labels
    )

    rng = np.random.default_rng(0)
    n_words = max(2, int(args.seconds * 2.2))  # synthetic "speech" at ~2.2 words a second
    spec = SyntheticSpec(min_words=n_words, max_words=n_words)
    from alignadapt.data.datamodule import Example

    examples = []
    for i in range(args.batch):
        audio, text, spans = render_utterance(rng, spec)
        examples.append(
            Example(f"bench:{i}", audio, text.split(), [tuple(s) for s in spans], "English")
        )
    batch = collate(examples)
    tensors = {k: v.to(args.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    audio_seconds = batch["audio_seconds"]
    autocast = torch.autocast(
        args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.dtype != "float32"
    )

    def step() -> None:
        with autocast:
            logits, mask = module.slot_logits(tensors)
            loss = module.loss_from(logits, tensors["labels"][mask])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - started) / args.steps

    trainable, total = count_parameters(module.net)
    flops = step_flops(module, tensors)
    print(
        f"model: {path} ({total / 1e6:.2f} M parameters, {trainable:,} trained) on {args.device}, {args.dtype}"
    )
    print(
        f"batch: {args.batch} utterances, {audio_seconds:.1f} s of audio, {tensors['input_ids'].shape[1]} tokens/row"
    )
    print(f"step time: {per_step * 1000:.1f} ms")
    print(f"throughput: {audio_seconds / per_step:.1f} audio seconds per second")
    print(f"model FLOPs per step: {flops / 1e9:.2f} GFLOP -> {flops / per_step / 1e12:.4f} TFLOP/s")
    if args.peak_tflops:
        print(
            f"MFU: {100 * flops / per_step / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s"
        )


if __name__ == "__main__":
    main()
