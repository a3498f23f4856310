"""Measure the accuracy levers on the demo: each a config switch, same seed and step budget.

    python bench/levers.py --steps 150      # all levers, one run at a time (~3 min each on 2 cores)
    python bench/levers.py --only soft_loss replay   # demo_lora's own 400 steps: ~7 min each

Every lever trains `experiment=demo_lora` with its overrides (at the experiment's LoRA rank,
16, whatever the preset), then evaluates the adapter on
the domain test and the general test (forgetting) with evaluate.py; argmax and sub-class
decoding are both reported for each run. Prints a Markdown table (AAS in ms) and writes it
with the raw numbers to logs/levers/<stamp>/levers.{md,json}. Runs are sequential on
purpose: two jobs on two cores spoil each other's timings and budgets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = "data/demo"

REPLAY = f"data.replay.manifest={DEMO}/general_replay.jsonl"
NO_REPLAY = "data.replay.manifest=null"
# Each lever against the same baseline: decoder attention, hard CE, head frozen, no replay.
LEVERS: dict[str, list[str]] = {
    "baseline (decoder attn, hard CE, head frozen)": ["lora=decoder_attn", NO_REPLAY],
    "soft_loss": ["lora=decoder_attn", NO_REPLAY, "model.loss=soft", "model.soft_sigma=1.0"],
    "head_trained": ["lora=decoder_attn_head", NO_REPLAY],
    "replay_50": ["lora=decoder_attn", REPLAY, "data.replay.share=0.5"],
    "replay_70": ["lora=decoder_attn", REPLAY, "data.replay.share=0.7"],
    "preset_attn_mlp": ["lora=decoder_attn_mlp", NO_REPLAY],
    "preset_audio": ["lora=decoder_audio", NO_REPLAY],
    # make train's replay until bench/make_train_choice.py chose 50% (the README's table has it)
    "audio_replay_70 (preset_audio r=16 + replay_70)": ["data.replay.share=0.7"],
}


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def aas(report: Path) -> dict[str, float]:
    columns = json.loads((report / "metrics.json").read_text())["columns"]
    return {name: round(col["aas_ms"], 1) for name, col in columns.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="lever names (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="override the step budget")
    args = parser.parse_args()
    out = ROOT / "logs" / "levers" / time.strftime("%Y%m%d-%H%M%S")
    results = {}
    for name, overrides in LEVERS.items():
        if args.only and name.split(" ")[0] not in args.only:
            continue
        run_dir = out / name.split(" ")[0]
        budget = [f"trainer.max_steps={args.steps}"] if args.steps else []
        started = time.perf_counter()
        run([sys.executable, "train.py", "experiment=demo_lora", "test=false", f"hydra.run.dir={run_dir}/train",
             "trainer.enable_progress_bar=false", *budget, *overrides])  # fmt: skip
        minutes = (time.perf_counter() - started) / 60
        row = {"train_minutes": round(minutes, 1)}
        for split in ("domain_test", "general_test"):
            report = run_dir / split
            run([sys.executable, "evaluate.py", f"manifest={DEMO}/{split}.jsonl",
                 f"models.adapted={run_dir}/train/adapter", f"out_dir={report}", "aligner.decodings=[argmax,subclass]"])  # fmt: skip
            row[split] = aas(report)
        results[name] = row

    lines = [
        "| lever | domain AAS, argmax | domain, sub-class | general AAS, argmax | general, sub-class | train min |",
        "|---|---|---|---|---|---|",
    ]
    first = next(iter(results.values()), None)
    if first:
        d, g = first["domain_test"], first["general_test"]
        lines.append(
            f"| demo base (no fine-tuning) | {d['base/argmax']} | {d['base/subclass']} | "
            f"{g['base/argmax']} | {g['base/subclass']} | - |"
        )
        if "naive" in d:
            lines.append(f"| naive baseline | {d['naive']} | - | {g['naive']} | - | - |")
    for name, row in results.items():
        d, g = row["domain_test"], row["general_test"]
        lines.append(
            f"| {name} | {d['adapted/argmax']} | {d['adapted/subclass']} | "
            f"{g['adapted/argmax']} | {g['adapted/subclass']} | {row['train_minutes']} |"
        )
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "levers.md").write_text(table + "\n")
    (out / "levers.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
