"""The real model on a CPU: what aligning costs a laptop user, per precision, and what a faster
path changes in the timestamps.

    make bench-cpu                                   # = python bench/cpu_align.py (full depth)
    python bench/cpu_align.py --layers 2 --audio-layers 2 --seconds 20 40   # a quick try

Speed and memory: the real architecture at full depth (28 decoder + 24 encoder layers, real
width, the released config in src/alignadapt/model/qwen3_forced_aligner_0.6b_hf/) with random
weights, saved in bf16 like the release, then loaded and run exactly as `alignadapt align`
runs it (`Aligner.load`, `Aligner.align`, one recording a call), once per path, each path in
its own process so that its peak resident memory is its own:
  - fp32 (`--dtype float32`, the default), bf16 (`--dtype bfloat16`);
  - int8: fp32 with the text decoder's linear layers quantised dynamically to int8
    (`torch.ao.quantization.quantize_dynamic`: int8 weights, activations quantised per batch).
Recordings are noise with 2.5 one-token words a second (conversational speech); speed does
not depend on what the weights are. The first call (5 s) warms up and is not timed.

Agreement: random weights say nothing about accuracy, so each path is also run on the trained
demo base (models/demo-base) over espeak-ng sentences with exact word times: the share of
`<timestamp>` slots on the same 80 ms class as fp32 and within one class, and the error
against the reference (AAS, ms) of each path.

Prints a Markdown table (the README's CPU table is a copy of it) and writes it with the
figures as JSON into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PATHS = ("float32", "bfloat16", "int8")
DEMO_BASE = ROOT / "models" / "demo-base"
WORDS_PER_S = 2.5


def load_path(source: str, path: str):
    """An Aligner for `source` in one of PATHS, as `alignadapt align --dtype` loads it."""
    import torch

    from alignadapt.inference.aligner import Aligner, AlignerSettings

    dtype = "float32" if path == "int8" else path
    aligner = Aligner.load(source, settings=AlignerSettings(dtype=dtype))
    if path == "int8":
        with warnings.catch_warnings():  # torch.ao's notice that pt2e quantization moved to torchao
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(
                aligner.core.model.language_model,
                {torch.nn.Linear},
                dtype=torch.qint8,
                inplace=True,
            )
    return aligner


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def child(model: str, path: str, seconds: list[float]) -> dict:
    """One path's speed and peak memory (run in its own process)."""
    import numpy as np

    started = time.perf_counter()
    aligner = load_path(model, path)
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)

    def recording(s: float):
        audio = (0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32)
        return audio, ["the"] * int(WORDS_PER_S * s)

    audio, units = recording(5.0)
    aligner.align([audio], [units])  # warm
    timed = 0.0
    for s in seconds:
        audio, units = recording(s)
        started = time.perf_counter()
        aligner.align([audio], [units])
        timed += time.perf_counter() - started
    return {
        "path": path,
        "audio_s": sum(seconds),
        "seconds": timed,
        "audio_s_per_s": sum(seconds) / timed,
        "load_s": load_s,
        "peak_rss_gb": peak_rss_gb(),
    }


def agreement(paths: list[str], sentences: int, work: Path) -> dict[str, dict]:
    """Each path on the trained demo base against fp32 and against espeak-ng's word times."""
    import numpy as np
    import soundfile as sf
    import torch

    from alignadapt.demo.degrade import CLEAN
    from alignadapt.demo.testsets import Split, write_split
    from alignadapt.model.decoding import decode
    from alignadapt.model.prompt import split_units

    split = Split("cpu_bench", sentences, "en", side="test", seconds=(2.0, 10.0), conditions=CLEAN)
    manifest = write_split(work, split, seed=11, progress=False)
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    audios = [sf.read(work / r["audio_path"], dtype="float32")[0] for r in lines]
    reference = np.concatenate(
        [[t for w in r["words"] for t in (w["start"], w["end"])] for r in lines]
    )
    classes, times = {}, {}
    for path in ["float32", *[p for p in paths if p != "float32"]]:
        aligner = load_path(str(DEMO_BASE), path)
        units = [split_units(aligner.processor, r["text"], "English") for r in lines]
        logits = aligner.slot_logits(audios, units)
        classes[path] = torch.cat(logits).argmax(-1)
        times[path] = np.concatenate(
            [decode(row, aligner.class_ms, "argmax").times for row in logits]
        )
    out = {}
    for path in classes:
        diff = (classes[path] - classes["float32"]).abs()
        out[path] = {
            "slots": len(diff),
            "same_class": float((diff == 0).float().mean()),
            "within_one_class": float((diff <= 1).float().mean()),
            "aas_ms": float(np.abs(times[path] - reference).mean() * 1000),
        }
    return out


def table(speed: dict[str, dict], agree: dict[str, dict]) -> str:
    head = [
        "path",
        "audio s/s",
        "minutes per hour of audio",
        "peak RSS GB",
        "same 80 ms class as fp32 (demo base)",
        "within one class",
        "AAS on demo base, ms",
    ]
    rows = []
    for path, s in speed.items():
        a = agree.get(path)
        rows.append(
            [
                path if path != "int8" else "int8 (decoder linears, dynamic)",
                f"{s['audio_s_per_s']:.2f}",
                f"{60 / s['audio_s_per_s']:.0f}",
                f"{s['peak_rss_gb']:.1f}",
                "(reference)" if path == "float32" else f"{a['same_class']:.1%}" if a else "-",
                "" if path == "float32" else f"{a['within_one_class']:.1%}" if a else "-",
                f"{a['aas_ms']:.0f}" if a else "-",
            ]
        )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=28, help="text decoder layers (released: 28)")
    parser.add_argument("--audio-layers", type=int, default=24, help="audio encoder layers (24)")
    parser.add_argument(
        "--seconds", type=float, nargs="+", default=[60.0, 120.0, 180.0], help="recordings timed"
    )
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--sentences", type=int, default=24, help="espeak-ng sentences (agreement)")
    parser.add_argument("--out", default="logs/bench_cpu", help="table.md and figures.json here")
    parser.add_argument("--model-dir", default=None, help="the random-weight model (built once)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one path in this process: print its figures as JSON
        print(json.dumps(child(args.model_dir, args.child, args.seconds)))
        return {}

    from alignadapt.model.architecture import build_real_aligner

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = Path(
        args.model_dir or ROOT / ".cache" / f"cpu_bench-{args.layers}-{args.audio_layers}"
    )
    started = time.perf_counter()
    build_real_aligner(model_dir, args.layers, args.audio_layers)  # reused when it exists
    speed = {}
    for path in args.paths:
        command = [sys.executable, __file__, "--child", path, "--model-dir", str(model_dir)]
        command += ["--seconds", *map(str, args.seconds)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
        if done.returncode != 0:
            raise SystemExit(f"the {path} run failed:\n{done.stderr[-3000:]}")
        speed[path] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {path}: {speed[path]['audio_s_per_s']:.2f} audio s/s", flush=True)
    agree = agreement(args.paths, args.sentences, out / "demo_sentences")
    import torch

    title = (
        f"The real architecture on CPU: {args.layers} decoder + {args.audio_layers} encoder "
        f"layers, random weights, `alignadapt align`'s path one recording a call "
        f"({' + '.join(f'{s:g}' for s in args.seconds)} s, {WORDS_PER_S:g} words/s); "
        f"{os.cpu_count()} CPU threads ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}. Agreement: the demo base on {args.sentences} espeak-ng "
        f"sentences ({next(iter(agree.values()))['slots']} slots)."
    )
    markdown = title + "\n\n" + table(speed, agree)
    wall = time.perf_counter() - started
    report = {"title": title, "speed": speed, "agreement": agree, "wall_s": wall}
    (out / "figures.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "table.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\n({wall:.0f} s; written to {out}/table.md and figures.json)")
    return report


if __name__ == "__main__":
    main()
