"""Choose `make train`'s settings on the validation sets, never on the tests.

    python bench/make_train_choice.py                 # the grid below, two seeds (~50 min, 2 cores)
    python bench/make_train_choice.py --seeds 42 --only r16_replay70   # one setting, one seed

Each setting trains `experiment=demo_lora` with its overrides once per seed (400 steps, the
experiment's budget), then evaluates the adapter on `domain_val` and `general_val` with
evaluate.py (the base and the naive baseline in the same report; the listening pass is left
out, the tests report it). Both sets are in training voices and neither is trained on:
`domain_val` also picks each run's checkpoint (the lowest val/aas_ms), as in `make train`.

The rule, fixed before the runs: among the settings whose general_val AAS (mean over the
seeds) is within `--max-drift` (5%) of the base's, the one with the lowest mean domain_val
AAS; when none is, the one that drifts least. 5% leaves room under the 10% that #24 asks of
the general *test*. The test sets are measured afterwards, once, for the setting chosen
(`make train`).

Resumable: a run whose adapter and reports exist, made with the same overrides and steps
(`run.json`), is read, not redone; an unfinished or different one is started again. Prints a
Markdown table and writes it, with every figure, to <out>/choice.{md,json} (default logs/make_train_choice). Runs are sequential on purpose: two
jobs on two cores spoil each other's budgets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = "data/demo"
VALIDATION = ("domain_val", "general_val")

# experiment=demo_lora uses the one this chose, r16_replay50; alpha is 4 x r throughout.
GRID: dict[str, list[str]] = {
    "r8_replay50": ["lora.r=8", "lora.alpha=32", "data.replay.share=0.5"],
    "r8_replay70": ["lora.r=8", "lora.alpha=32", "data.replay.share=0.7"],
    "r16_replay50": ["lora.r=16", "lora.alpha=64", "data.replay.share=0.5"],
    "r16_replay70": ["lora.r=16", "lora.alpha=64", "data.replay.share=0.7"],
}


def choose(rows: dict[str, dict[str, float]], base_general: float, max_drift: float) -> str:
    """The setting the rule picks. `rows`: name -> {"domain": mean domain_val AAS,
    "general": mean general_val AAS}; `base_general`: the base's general_val AAS."""
    if not rows:
        raise ValueError("no setting to choose from")

    def drift(name: str) -> float:
        return rows[name]["general"] / base_general - 1.0

    within = [name for name in rows if within_drift(drift(name), max_drift)]
    if within:
        return min(within, key=lambda name: (rows[name]["domain"], drift(name)))
    return min(rows, key=drift)


def within_drift(drift: float, max_drift: float) -> bool:
    """The rule's limit on general speech (rounded: 210 / 200 - 1 is 0.05000000000000004)."""
    return round(drift, 9) <= max_drift


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def columns(report: Path) -> dict[str, float]:
    cols = json.loads((report / "metrics.json").read_text())["columns"]
    return {name: round(col["aas_ms"], 1) for name, col in cols.items()}


def one_run(run_dir: Path, seed: int, overrides: list[str], steps: int | None = None) -> dict:
    """Train (unless done) and evaluate on both validation sets; the figures of one run."""
    adapter = run_dir / "train" / "adapter"
    made_with = {"seed": seed, "steps": steps, "overrides": overrides}
    stamp = run_dir / "run.json"
    same = stamp.exists() and json.loads(stamp.read_text()) == made_with
    minutes = None
    if not (adapter.exists() and same):
        shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts again
        budget = [f"trainer.max_steps={steps}"] if steps else []
        started = time.perf_counter()
        # test on domain_val: it loads the best checkpoint, as make train's test does, without
        # the test set being touched
        run([sys.executable, "train.py", "experiment=demo_lora", f"seed={seed}",
             f"data.test_manifest={DEMO}/domain_val.jsonl",
             f"hydra.run.dir={run_dir}/train", "trainer.enable_progress_bar=false", *budget, *overrides])  # fmt: skip
        minutes = round((time.perf_counter() - started) / 60, 1)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "train_minutes.txt").write_text(f"{minutes}\n")
        stamp.write_text(json.dumps(made_with) + "\n")
    elif (run_dir / "train_minutes.txt").exists():
        minutes = float((run_dir / "train_minutes.txt").read_text())
    row: dict = {"seed": seed, "train_minutes": minutes}
    for split in VALIDATION:
        report = run_dir / split
        if not (report / "metrics.json").exists():
            run([sys.executable, "evaluate.py", f"manifest={DEMO}/{split}.jsonl",
                 f"models.adapted={adapter}", f"out_dir={report}", "listening=false", "force=true"])  # fmt: skip
        row[split] = columns(report)
    return row


def table(results: dict[str, list[dict]], means: dict[str, dict[str, float]],
          base: dict[str, float], naive: dict[str, float], chosen: str, max_drift: float) -> str:  # fmt: skip
    lines = [
        "| setting | seeds | domain_val AAS, per seed | mean | general_val AAS, per seed | mean | drift |",
        "|---|---|---|---|---|---|---|",
        f"| demo base (no fine-tuning) | - | - | {base['domain_val']} | - | "
        f"{base['general_val']} | - |",
        f"| naive baseline | - | - | {naive['domain_val']} | - | {naive['general_val']} | - |",
    ]
    for name, runs in results.items():
        d = [r["domain_val"]["adapted"] for r in runs]
        g = [r["general_val"]["adapted"] for r in runs]
        drift = means[name]["general"] / base["general_val"] - 1.0
        mark = "**" if name == chosen else ""
        lines.append(
            f"| {mark}{name}{mark} | {', '.join(str(r['seed']) for r in runs)} | "
            f"{' / '.join(f'{x:.1f}' for x in d)} | {mark}{means[name]['domain']:.1f}{mark} | "
            f"{' / '.join(f'{x:.1f}' for x in g)} | {means[name]['general']:.1f} | {drift:+.1%} |"
        )
    lines.append("")
    if within_drift(means[chosen]["general"] / base["general_val"] - 1.0, max_drift):
        why = f"lowest mean domain_val AAS among the settings within {max_drift:.0%} of the base"
    else:
        why = f"none within {max_drift:.0%} of the base: the one that drifts least"
    lines.append(f"chosen: {chosen} ({why} on general_val)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(GRID), help="settings (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1])
    parser.add_argument("--steps", type=int, default=None, help="default: the experiment's 400")
    parser.add_argument("--max-drift", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "make_train_choice")
    args = parser.parse_args()
    alignadapt = str(Path(sys.executable).with_name("alignadapt"))
    run([alignadapt, "demo-data", DEMO, "--quiet"])  # makes the sets that are missing
    results: dict[str, list[dict]] = {}
    for name, overrides in GRID.items():
        if args.only and name not in args.only:
            continue
        results[name] = [
            one_run(args.out / f"{name}_seed{seed}", seed, overrides, args.steps)
            for seed in args.seeds
        ]
    first = next(iter(results.values()))[0]
    base = {split: first[split]["base"] for split in VALIDATION}
    naive = {split: first[split]["naive"] for split in VALIDATION}
    means = {
        name: {
            "domain": statistics.mean(r["domain_val"]["adapted"] for r in runs),
            "general": statistics.mean(r["general_val"]["adapted"] for r in runs),
        }
        for name, runs in results.items()
    }
    chosen = choose(means, base["general_val"], args.max_drift)
    text = table(results, means, base, naive, chosen, args.max_drift)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "choice.md").write_text(text + "\n")
    payload = {"chosen": chosen, "max_drift": args.max_drift, "base": base, "naive": naive,
               "means": means, "runs": results, "grid": GRID}  # fmt: skip
    (args.out / "choice.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
