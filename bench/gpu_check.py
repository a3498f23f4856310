"""The GPU check: the real architecture at full depth with random weights (no download), one table.

    make gpu-check                       # = python bench/gpu_check.py
    python bench/gpu_check.py --peak-tflops 989    # MFU against a peak (H100 SXM bf16 dense)

For each LoRA preset (bf16 weights, bf16 autocast, AdamW on the trained parameters, batch 1):
peak memory of a training step at 30 / 120 / 180 s pieces against the memory planner's
prediction (alignadapt.training.memory, measured on CPU), training audio seconds per second
and model FLOPs utilisation (FLOPs counted as in bench/train_step.py); then bf16 inference
audio seconds per second through the Aligner users run, with length-sorted batches and SDPA.

Without a GPU it runs the same code on the reduced model (1 decoder and 1 encoder layer at
real width, a small vocabulary, pieces of 2 / 6 / 9 s) in a minute or two, so it cannot rot
(tests/test_gpu_check.py runs it); memory there is what autograd keeps for backward (CPU has
no allocator peak), compared with the planner's figure for that depth.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parents[1] / "src"))

from alignadapt.inference.aligner import Aligner, AlignerSettings  # noqa: E402
from alignadapt.model.architecture import random_aligner, real_config, real_processor  # noqa: E402
from alignadapt.model.lora import count_parameters  # noqa: E402
from alignadapt.model.prompt import slot_logits, unwrap  # noqa: E402
from alignadapt.training import memory  # noqa: E402

PRESETS = ("decoder_attn", "decoder_attn_mlp", "decoder_audio", "decoder_attn_head", "none")
GB = 1e9


def flops(model, inputs) -> float:
    """FLOPs of one training step (bench/train_step.py's count; LoRA on frozen towers)."""
    core = unwrap(model)
    config, text = core.config, core.config.text_config
    dec = sum(
        p.numel() for n, p in core.model.language_model.named_parameters() if "embed" not in n
    )
    enc = sum(p.numel() for p in core.model.audio_tower.parameters())
    ids = inputs["input_ids"]
    rows, seq = ids.shape
    audio = int((ids == config.audio_token_id).sum())
    slots = int((ids == config.timestamp_token_id).sum())
    attention = (
        2 * 4 * text.num_hidden_layers * rows * seq * seq * text.num_attention_heads * text.head_dim
    )
    head = 2 * 3 * text.hidden_size * config.num_labels * slots
    return 4 * dec * int(inputs["attention_mask"].sum()) + attention + 2 * enc * audio + head


def train_step(net, optimizer, inputs, targets, device: str) -> None:
    tsid = unwrap(net).config.timestamp_token_id
    with torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
        logits, _ = slot_logits(net, inputs, tsid, dropout=True)
        loss = F.cross_entropy(logits.float(), targets.to(logits.device))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check_preset(name, processor, layers, audio_layers, lengths, device, peak_tflops, quick):
    """[(seconds, measured GB, planner GB)], audio s/s and MFU of the preset's training step."""
    spec = memory.preset_spec(name)
    planner = memory.measure(
        spec, "bf16", lengths=(2.0, 4.0), checkpointing_too=False
    )  # whole 1 s chunks
    if quick:
        model = memory.measuring_model(layers, audio_layers, processor, torch.bfloat16)
    else:
        model = random_aligner(real_config(layers, audio_layers), dtype=torch.bfloat16)
    net = memory.train_ready(model, spec, checkpointing=False).to(device)
    trainable, _ = count_parameters(net)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-5)
    rows, speed, mfu = [], None, None
    for seconds in lengths:
        inputs, targets = memory.probe(processor, seconds, torch.bfloat16)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        if quick:  # what autograd keeps, against the planner at this depth
            got = memory.saved_bytes(net, processor, seconds, torch.bfloat16, True)[0]
            want = planner.saved(1, seconds, False, layers, audio_layers)
        else:
            train_step(net, optimizer, inputs, targets, device)  # optimizer state exists now
            torch.cuda.reset_peak_memory_stats()
            train_step(net, optimizer, inputs, targets, device)
            got = torch.cuda.max_memory_allocated()
            want = planner.training_peak(1, seconds, False) - memory.CUDA_CONTEXT
        rows.append((seconds, got / GB, want / GB))
        if seconds == lengths[0]:
            train_step(net, optimizer, inputs, targets, device)  # warm
            sync(device)
            started = time.perf_counter()
            steps = 1 if quick else 5
            for _ in range(steps):
                train_step(net, optimizer, inputs, targets, device)
            sync(device)
            per_step = (time.perf_counter() - started) / steps
            speed = seconds / per_step
            if peak_tflops:
                mfu = flops(net, inputs) / per_step / (peak_tflops * 1e12)
    del net, optimizer, model
    gc.collect()  # peft and hooks make reference cycles: free the model before the next
    if not quick:
        torch.cuda.empty_cache()
    return rows, speed, mfu, trainable


def inference_speed(processor, layers, audio_layers, device, quick, n=32, batch=8) -> float:
    """bf16 audio seconds per second through the Aligner, length-sorted batches, SDPA."""
    if quick:
        model = memory.measuring_model(layers, audio_layers, processor, torch.bfloat16)
    else:
        model = random_aligner(real_config(layers, audio_layers), dtype=torch.bfloat16)
    assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
    aligner = Aligner(
        model, processor, AlignerSettings(dtype="bfloat16", device=device, batch_size=batch)
    )
    rng = np.random.default_rng(0)
    top = 6.0 if quick else 60.0
    seconds = sorted(rng.uniform(top / 12, top, n))  # sorted: batches of similar lengths
    audios = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in seconds]
    units = [["the"] * int(4 * s) for s in seconds]
    aligner.align(audios[:batch], units[:batch])  # warm
    sync(device)
    started = time.perf_counter()
    for i in range(0, n, batch):
        aligner.align(audios[i : i + batch], units[i : i + batch])
    sync(device)
    return sum(seconds) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> list[list]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the reduced model on CPU (default without a GPU)"
    )
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's bf16 peak, for MFU"
    )
    args = parser.parse_args(argv)
    quick = args.quick or not torch.cuda.is_available()
    device = "cpu" if quick else "cuda"
    layers, audio_layers = (1, 1) if quick else (memory.DECODER_LAYERS, memory.AUDIO_LAYERS)
    lengths = (2.0, 6.0, 9.0) if quick else (30.0, 120.0, 180.0)
    processor = memory.measuring_processor() if quick else real_processor()
    what, unit = ("kept for backward MB", 1e3) if quick else ("peak allocated GB", 1.0)
    name = torch.cuda.get_device_name() if not quick else "CPU (reduced model: 1+1 layers)"
    print(
        f"gpu-check on {name}: real width, {layers} decoder + {audio_layers} encoder layers, bf16"
    )
    head = ["preset", "trained"] + [f"{s:g} s: {what} (planner)" for s in lengths]
    head += [f"train audio s/s ({lengths[0]:g} s)", "MFU"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    results = []
    for preset in args.presets:
        rows, speed, mfu, trained = check_preset(
            preset, processor, layers, audio_layers, lengths, device, args.peak_tflops, quick
        )
        results.append([preset, rows, speed])
        cells = [preset, f"{trained / 1e6:.2f} M"] + [
            f"{g * unit:.2f} ({p * unit:.2f})" for _, g, p in rows
        ]
        cells += [f"{speed:.1f}", f"{mfu:.1%}" if mfu is not None else "-"]
        print("| " + " | ".join(cells) + " |", flush=True)
    speed = inference_speed(processor, layers, audio_layers, device, quick)
    print(f"\nbf16 inference (Aligner, SDPA, length-sorted batches of 8): {speed:.1f} audio s/s")
    return results


if __name__ == "__main__":
    main()
