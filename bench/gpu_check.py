"""The GPU check: the real model's training path, memory and speed on a card, random weights.

    make gpu-check                                    # = python bench/gpu_check.py --out logs/gpu_check
    python bench/gpu_check.py --quick --out /tmp/gc   # the same code on CPU, reduced model
    python bench/gpu_check.py --peak-tflops 989       # MFU for a card the peak table lacks

Without a usable CUDA device it stops with what to install (which driver the installed torch
needs, which TORCH_INDEX matches this machine's driver), unless --quick asks for CPU. It needs
no network: the real architecture, its config and a stand-in tokenizer with the released
token ids ship with the project (src/alignadapt/model/qwen3_forced_aligner_0.6b_hf/).

1. Presets (bf16 weights, bf16 autocast, AdamW on the trained parameters, batch 1): peak
   memory of a training step at 30 / 120 / 180 s pieces against the memory planner
   (alignadapt.training.memory, measured on CPU), training audio seconds per second and MFU.
2. Experiments (`medical_lora`, `qwen3_16gb`, `qwen3_80gb`): each trained by train.py's own
   task on a random-weight copy of the real architecture at full depth, at its configured
   batch, accumulation, precision and checkpointing, on noise pieces of 60-100% of its
   longest item (`data.max_duration`, else the model's longest call: real padding), for
   --steps optimizer steps, then one validation batch; the adapter is saved, reloaded with `Aligner.load`, and must give the trained
   module's logits. Peak memory in training and in validation against the planner, seconds
   per batch, audio seconds per second, and MFU (FLOPs counted as in bench/train_step.py,
   recomputation not counted; the card's dense bf16 peak looked up from its name).
3. bf16 inference through the `Aligner` (SDPA, length-sorted batches): audio seconds per second.

It writes gpu_check.json and gpu_check.md into --out; the README's GPU table is gpu_check.md.
--quick runs every part on CPU with the reduced model (1 decoder and 1 encoder layer at real
width, a small vocabulary; pieces of 2 / 6 / 9 s; experiments on pieces of up to 6 s), so the
GPU run is never the first (tests/test_gpu_check.py). On CPU the memory column is what
autograd keeps for backward (CPU has no allocator peak), against the planner at that depth.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import cuda_builds  # noqa: E402

from alignadapt.inference.aligner import Aligner, AlignerSettings  # noqa: E402
from alignadapt.model.architecture import (  # noqa: E402
    build_real_aligner,
    random_aligner,
    real_config,
    real_processor,
)
from alignadapt.model.lora import count_parameters  # noqa: E402
from alignadapt.model.prompt import slot_logits, unwrap  # noqa: E402
from alignadapt.training import memory  # noqa: E402

PRESETS = ("decoder_attn", "decoder_attn_mlp", "decoder_audio", "decoder_attn_head", "none")
EXPERIMENTS = ("medical_lora", "qwen3_16gb", "qwen3_80gb")
GB = 1e9
# Dense bf16 tensor-core peaks, TFLOP/s (NVIDIA's data sheets; SXM unless named), matched
# against torch.cuda.get_device_name() in this order (the first name found in it wins).
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # "NVIDIA H100 80GB HBM3" (SXM)
    ("H200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
)


def peak_tflops(device_name: str) -> float | None:
    """The card's dense bf16 peak from its name, or None for a card not in PEAK_TFLOPS."""
    return next((tf for key, tf in PEAK_TFLOPS if key in device_name), None)


def no_cuda_message() -> str:
    """Why gpu-check cannot run here, and what to install instead."""
    driver = cuda_builds.driver_version()
    cuda = torch.version.cuda
    lines = [f"gpu-check needs a CUDA device, and torch {torch.__version__} sees none."]
    if cuda is None:
        lines.append("This torch is the CPU-only build.")
    else:
        needed = cuda_builds.needed_driver(cuda)
        lines.append(
            f"This torch is built for CUDA {cuda}"
            + (f", which needs an NVIDIA driver {needed} or newer." if needed else ".")
        )
    if driver is None:
        lines.append("No NVIDIA driver answers here (nvidia-smi is missing or fails).")
    else:
        lines.append(f"This machine's driver is {driver} (nvidia-smi).")
        index = cuda_builds.index_for_driver(driver)
        if index and index != cuda_builds.CPU_INDEX:
            lines.append(
                f"Install the torch build for it: rm -rf .venv && make install TORCH_INDEX={index}"
            )
        elif index == cuda_builds.CPU_INDEX:
            lines.append("No torch 2.11 build runs on a driver this old: update the driver.")
    lines.append("Without a GPU: python bench/gpu_check.py --quick (the reduced model on CPU).")
    return "\n".join(lines)


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


@cache
def planned(preset: str, precision: str) -> memory.Measured:
    """The planner's figures for a preset, with and without checkpointing, measured once (on
    CPU, real width, 2 and 4 s pieces: whole 1 s chunks)."""
    return memory.measure(memory.preset_spec(preset), precision, lengths=(2.0, 4.0))


def check_preset(name, processor, layers, audio_layers, lengths, device, peak, quick) -> dict:
    """A preset's training step: [(seconds, measured GB, planner GB)], audio s/s and MFU."""
    spec = memory.preset_spec(name)
    planner = planned(name, "bf16")
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
            if peak:
                mfu = flops(net, inputs) / per_step / (peak * 1e12)
    del net, optimizer, model
    gc.collect()  # peft and hooks make reference cycles: free the model before the next
    if not quick:
        torch.cuda.empty_cache()
    return {"preset": name, "trained": trainable, "rows": rows, "audio_s_per_s": speed, "mfu": mfu}


# ---- experiments: train.py's task on the real architecture ------------------------------


class StepMeter(L.Callback):
    """Per training batch: its seconds, peak bytes allocated (CUDA), audio seconds, padded
    length and FLOPs; the peak of the validation batches; and the trained module."""

    def __init__(self, device: str):
        self.device = device
        self.batches: list[dict] = []
        self.val_peak = 0
        self.val_padded_s = 0.0
        self.module = None
        self._started = 0.0

    def _reset(self) -> None:
        sync(self.device)
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        self._started = time.perf_counter()

    def _peak(self) -> int:
        sync(self.device)
        return torch.cuda.max_memory_allocated() if self.device.startswith("cuda") else 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._reset()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        peak, seconds = self._peak(), time.perf_counter() - self._started
        self.batches.append(
            {
                "seconds": seconds,
                "peak": peak,
                "rows": int(batch["input_ids"].shape[0]),
                "audio_s": float(batch["audio_seconds"]),
                "padded_s": batch["input_features"].shape[-1] / 100.0,  # 100 frames a second
                "flops": flops(module.net, batch),
            }
        )

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        self._reset()

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.val_peak = max(self.val_peak, self._peak())
        self.val_padded_s = max(self.val_padded_s, batch["input_features"].shape[-1] / 100.0)

    def on_fit_end(self, trainer, module):
        self.module = module


def noise_pieces(out_dir: Path, count: int, longest: float, seed: int = 0) -> list[dict]:
    """`count` noise recordings of 60-100% of `longest` seconds with 4 one-word units a second
    evenly spaced, as manifest lines (wav files in `out_dir`)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, seconds in enumerate(np.linspace(0.6 * longest, longest, count)):
        seconds = float(round(seconds, 2))
        path = out_dir / f"piece{i:03d}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)
        n = int(memory.UNITS_PER_S * seconds)
        edges = np.linspace(0.0, seconds, n + 1)
        stamps = [
            [round(float(a), 3), round(float(b), 3)]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        lines.append({"audio_path": str(path), "text": " ".join(["the"] * n), "timestamps": stamps})
    rng.shuffle(lines)
    return lines


def write_manifest(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def reduced_base(out_dir: Path) -> Path:
    """The reduced real-width model (1 + 1 layers, small vocabulary) saved as a model directory."""
    if (out_dir / "model.safetensors").exists():
        return out_dir
    processor = memory.measuring_processor()
    model = memory.measuring_model(1, 1, processor, torch.bfloat16)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def compose_experiment(name: str, overrides: list[str], out_dir: Path):
    """The experiment's config as `python train.py experiment=NAME ...` composes it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from alignadapt.tasks import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={name}", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
    return cfg


def real_longest_item(requested) -> float:
    """The longest training item of the real model, as the data module derives it at setup."""
    from alignadapt.model.architecture import real_config
    from alignadapt.model.timing import longest_item

    config = real_config()
    return longest_item(config.num_labels, config.timestamp_segment_time, requested)


def check_experiment(name, base: Path, work: Path, device, peak, quick, steps):
    """Train experiment NAME for `steps` optimizer steps with train.py's task, measure it and
    reload its adapter: (the table's row, the problems found)."""
    from alignadapt.training.run import train

    probe = compose_experiment(name, [], work / name)
    batch, eval_batch = probe.data.batch_size, probe.data.eval_batch_size
    accumulate = probe.trainer.accumulate_grad_batches
    checkpointing = bool(probe.model.gradient_checkpointing)
    longest = 6.0 if quick else real_longest_item(probe.data.max_duration)
    batches = steps * accumulate
    pieces = noise_pieces(work / "audio" / name, batches * batch + eval_batch, longest)
    train_lines, val_lines = pieces[: batches * batch], pieces[batches * batch :]
    overrides = [
        f"model.pretrained={base}",
        f"data.train_manifest={write_manifest(work / f'{name}_train.jsonl', train_lines)}",
        f"data.val_manifest={write_manifest(work / f'{name}_val.jsonl', val_lines)}",
        "data.test_manifest=null",
        f"data.max_duration={longest}",
        "data.index_cache=false",
        "logger=none",
        "test=false",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=1",
        f"trainer.val_check_interval={batches}",
        "trainer.check_val_every_n_epoch=null",
        "++trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    if quick:
        overrides += ["trainer.accelerator=cpu", "data.num_workers=0"]
    cfg = compose_experiment(name, overrides, work / name)
    meter = StepMeter(device)
    result = train(cfg, extra_callbacks=[meter])
    problems = []
    if "val/aas_ms" not in result.metrics:
        problems.append(f"{name}: the validation pass logged no val/aas_ms")
    if len(meter.batches) != batches:
        problems.append(f"{name}: {len(meter.batches)} training batches, {batches} expected")

    # the adapter as users load it must give the trained module's logits
    settings = AlignerSettings(dtype=cfg.model.dtype, device=device, batch_size=eval_batch)
    audios, units = [], []
    import soundfile as sf

    for line in val_lines[:2]:
        audios.append(sf.read(line["audio_path"], dtype="float32")[0])
        units.append(line["text"].split())
    trained = Aligner(meter.module.net, meter.module.processor, settings).slot_logits(audios, units)
    reloaded = Aligner.load(str(result.outputs["adapter"]), settings=settings)
    again = reloaded.slot_logits(audios, units)
    logit_diff = max(float((a - b).abs().max()) for a, b in zip(trained, again, strict=True))
    if logit_diff > 1e-3:
        problems.append(f"{name}: the reloaded adapter's logits differ by {logit_diff:.3g}")

    planner = planned(cfg.lora.name, "bf16" if cfg.model.dtype == "bfloat16" else "mixed")
    timed = meter.batches[1:] or meter.batches  # the first batch warms kernels and allocator
    per_batch = sum(b["seconds"] for b in timed) / len(timed)
    padded = max(b["padded_s"] for b in meter.batches)
    row = {
        "experiment": name,
        "batch": batch,
        "accumulate": accumulate,
        "checkpointing": checkpointing,
        "eval_batch": eval_batch,
        "padded_s": padded,
        "padding": 1
        - sum(b["audio_s"] for b in meter.batches)
        / sum(b["rows"] * b["padded_s"] for b in meter.batches),
        "train_peak_gb": max(b["peak"] for b in meter.batches) / GB,
        "train_planner_gb": planner.training_peak(batch, padded, checkpointing) / GB,
        "val_peak_gb": meter.val_peak / GB,
        "val_planner_gb": planner.evaluation_peak(eval_batch, meter.val_padded_s) / GB,
        "s_per_batch": per_batch,
        "audio_s_per_s": sum(b["audio_s"] for b in timed) / sum(b["seconds"] for b in timed),
        "mfu": (sum(b["flops"] for b in timed) / sum(b["seconds"] for b in timed) / (peak * 1e12))
        if peak
        else None,
        "val_aas_ms": result.metrics.get("val/aas_ms"),
        "adapter_logit_diff": logit_diff,
    }
    del meter, reloaded, trained, result
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row, problems


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


# ---- report --------------------------------------------------------------------------------


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def preset_table(results: list[dict], lengths, quick: bool) -> str:
    what, unit = ("kept for backward MB", 1e3) if quick else ("peak allocated GB", 1.0)
    head = ["preset", "trained"] + [f"{s:g} s: {what} (planner)" for s in lengths]
    head += [f"train audio s/s ({lengths[0]:g} s)", "MFU"]
    rows = []
    for r in results:
        cells = [r["preset"], f"{r['trained'] / 1e6:.2f} M"]
        cells += [f"{g * unit:.2f} ({p * unit:.2f})" for _, g, p in r["rows"]]
        cells += [f"{r['audio_s_per_s']:.1f}", f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"]
        rows.append(cells)
    return table(head, rows)


def experiment_table(results: list[dict], quick: bool) -> str:
    head = [
        "experiment",
        "batch x accumulation",
        "checkpointing",
        "padded piece s (padding)",
        "train peak GB (planner)",
        "val batch: peak GB (planner)",
        "s per batch",
        "train audio s/s",
        "MFU",
        "adapter reloaded: max logit diff",
    ]
    rows = []
    for r in results:
        # CPU has no allocator peak, and the planner plans the full-depth model: no figures
        train = "-" if quick else f"{r['train_peak_gb']:.1f} ({r['train_planner_gb']:.1f})"
        val = "-" if quick else f"{r['val_peak_gb']:.1f} ({r['val_planner_gb']:.1f})"
        rows.append(
            [
                r["experiment"],
                f"{r['batch']} x {r['accumulate']}",
                "on" if r["checkpointing"] else "off",
                f"{r['padded_s']:.0f} ({r['padding']:.0%})",
                train,
                f"{r['eval_batch']}: {val}",
                f"{r['s_per_batch']:.2f}",
                f"{r['audio_s_per_s']:.1f}",
                f"{r['mfu']:.1%}" if r["mfu"] is not None else "-",
                f"{r['adapter_logit_diff']:.1g}",
            ]
        )
    return table(head, rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced model on CPU")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--experiments", nargs="*", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per experiment")
    parser.add_argument("--out", default="logs/gpu_check", help="gpu_check.json and .md go here")
    parser.add_argument(
        "--work", default=None, help="model, audio and runs (default: a temporary folder, removed)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the card's bf16 peak (default: looked up)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if not quick and not torch.cuda.is_available():
        raise SystemExit(no_cuda_message())
    started = time.perf_counter()
    device = "cpu" if quick else "cuda"
    name = "CPU (reduced model: 1+1 layers)" if quick else torch.cuda.get_device_name()
    peak = args.peak_tflops or (None if quick else peak_tflops(name))
    layers, audio_layers = (1, 1) if quick else (memory.DECODER_LAYERS, memory.AUDIO_LAYERS)
    lengths = (2.0, 6.0, 9.0) if quick else (30.0, 120.0, 180.0)
    processor = memory.measuring_processor() if quick else real_processor()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    temporary = tempfile.TemporaryDirectory(prefix="gpu_check-") if args.work is None else None
    work = Path(args.work or temporary.name)
    import transformers

    title = (
        f"gpu-check on {name}: real width, {layers} decoder + {audio_layers} encoder layers, "
        f"random weights; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"Python {platform.python_version()}"
        + (f"; MFU against {peak:g} TFLOP/s bf16" if peak else "")
    )
    print(title, flush=True)
    report: dict = {"device": name, "quick": quick, "peak_tflops": peak, "title": title}

    presets = []
    for preset in args.presets:
        presets.append(
            check_preset(preset, processor, layers, audio_layers, lengths, device, peak, quick)
        )
        print(f"  preset {preset}: done", flush=True)
    report["presets"] = presets

    experiments, problems = [], []
    if args.experiments:
        base = reduced_base(work / "base") if quick else build_real_aligner(work / "base")
        for experiment in args.experiments:
            row, found = check_experiment(experiment, base, work, device, peak, quick, args.steps)
            experiments.append(row)
            problems += found
            print(f"  experiment {experiment}: done", flush=True)
    report["experiments"] = experiments

    report["inference_audio_s_per_s"] = inference_speed(
        processor, layers, audio_layers, device, quick
    )
    report["wall_s"] = time.perf_counter() - started
    report["problems"] = problems
    markdown = "\n\n".join(
        [
            title,
            "Presets, batch 1, bf16 weights and autocast, AdamW:\n\n"
            + preset_table(presets, lengths, quick),
            *(
                [
                    "Experiments (train.py's task, configured batch, one validation batch):\n\n"
                    + experiment_table(experiments, quick)
                ]
                if experiments
                else []
            ),
            "bf16 inference (Aligner, SDPA, length-sorted batches of 8): "
            f"{report['inference_audio_s_per_s']:.1f} audio s/s; "
            f"the whole check: {report['wall_s']:.0f} s",
        ]
    )
    if temporary is not None:
        temporary.cleanup()
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "gpu_check.md").write_text(markdown + "\n")
    print(markdown)
    if problems:
        raise SystemExit("gpu-check found problems:\n" + "\n".join(problems))
    return report


if __name__ == "__main__":
    main()
