"""Does the demo base generalise? AAS of the base versus the naive baseline on the fixed tests.

    alignadapt demo-data --tests                          # once: data/demo/tests/
    python bench/demo_generalisation.py                   # models/demo-base
    python bench/demo_generalisation.py --model logs/pretrain/checkpoints/last.ckpt
    python bench/demo_generalisation.py --languages en zh --buckets 1-5s 20-30s
    python bench/demo_generalisation.py --decoding monotonic   # another slot decoding
    python bench/demo_generalisation.py --window 6   # calls of at most 6 s, cut at pauses

For every test manifest (language x length bucket, unseen voices and sentences) it runs
evaluate.py's `run_evaluation` with the base and the naive baseline (units spread over the
voiced span by length), then prints a table of AAS over starts and ends (ms, base / naive,
with the base's share within 100 ms), then the listening check per cell (the base's AAS with
each recording's audio swapped for another recording's, over its AAS with its own: 1.0 is
deaf; the goal is 3), and writes them with the raw numbers and a plot to
logs/bench_demo/<stamp>/ (generalisation.{md,json,png}; one evaluation report per manifest).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alignadapt.demo.broad import BUCKETS, LANGUAGES  # noqa: E402
from alignadapt.demo.testsets import bucket_name  # noqa: E402


def as_model_dir(model: str, tmp: Path) -> str:
    """A model directory: a train.py checkpoint is merged into a temporary one first."""
    if not model.endswith(".ckpt"):
        return model
    from alignadapt.inference.export import export_model

    return str(export_model(model, tmp / "model", merge=True))


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = sorted({r["language"] for r in rows}, key=list(LANGUAGES).index)
    fig, axes = plt.subplots(1, len(languages), figsize=(3.2 * len(languages), 3.2), sharey=True)
    axes = [axes] if len(languages) == 1 else list(axes)
    for ax, lang in zip(axes, languages, strict=True):
        mine = [r for r in rows if r["language"] == lang]
        x = range(len(mine))
        ax.bar([i - 0.2 for i in x], [r["base_ms"] for r in mine], 0.4, label="base")
        ax.bar([i + 0.2 for i in x], [r["naive_ms"] for r in mine], 0.4, label="naive")
        ax.set_xticks(list(x), [r["bucket"] for r in mine], rotation=30)
        ax.set_title(lang)
        ax.set_yscale("log")
    axes[0].set_ylabel("AAS (ms, log scale)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "demo-base"))
    parser.add_argument("--tests", default=str(ROOT / "data" / "demo" / "tests"))
    parser.add_argument("--languages", nargs="*", default=list(LANGUAGES))
    parser.add_argument("--buckets", nargs="*", default=[bucket_name(b) for b in BUCKETS])
    parser.add_argument("--out", default=None, help="default: logs/bench_demo/<stamp>")
    parser.add_argument(
        "--decoding", default="argmax", help="slot logits -> times: argmax, subclass or monotonic"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds a call hears at most (aligner.window): longer recordings are cut at pauses "
        "and aligned piece by piece; default: the whole recording in one call",
    )
    args = parser.parse_args()
    out = Path(args.out or ROOT / "logs" / "bench_demo" / time.strftime("%Y%m%d-%H%M%S"))
    tests = Path(args.tests)
    wanted = [(lang, b) for lang in args.languages for b in args.buckets]
    missing = [f"{lang}_{b}" for lang, b in wanted if not (tests / f"{lang}_{b}.jsonl").exists()]
    if missing:
        sys.exit(
            f"no test manifest {missing[0]}.jsonl in {tests}: run alignadapt demo-data --tests"
        )

    from alignadapt.evaluation.run import run_evaluation
    from alignadapt.inference.settings import AlignerSettings

    settings = AlignerSettings(decodings=[args.decoding])
    if args.window:
        settings.window = args.window

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = as_model_dir(args.model, Path(tmp))
        for lang, bucket in wanted:
            name = f"{lang}_{bucket}"
            metrics = run_evaluation(
                tests / f"{name}.jsonl", {}, model, out / name, settings, bootstrap=0, worst=2
            )
            base, naive = metrics["columns"]["base"], metrics["columns"]["naive"]
            listening = metrics["listening"]["base"]
            rows.append(
                {
                    "language": lang,
                    "bucket": bucket,
                    "utterances": metrics["utterances"],
                    "base_ms": round(base["aas_ms"], 1),
                    "naive_ms": round(naive["aas_ms"], 1),
                    "base_within_100ms": round(base["within_100ms"], 3),
                    # None where no recording fits one call (--window shorter than the cell)
                    "withheld_ms": round(listening["aas_withheld_ms"], 1) if listening else None,
                    "listening": round(listening["ratio"], 2) if listening else None,
                }
            )

    def grid(title: str, cell) -> list[str]:
        """A language x bucket Markdown table of `cell(row)`."""
        out = [title, "", "| language | " + " | ".join(args.buckets) + " |"]
        out.append("|---|" + "---|" * len(args.buckets))
        for lang in args.languages:
            cells = [cell(r) for r in rows if r["language"] == lang]
            out.append(f"| {lang} | " + " | ".join(cells) + " |")
        return out

    lines = grid(
        f"AAS (ms) base / naive (base within 100 ms) - model {args.model}, {args.decoding}"
        + (f", window {args.window:g} s" if args.window else ""),
        lambda r: f"{r['base_ms']:.0f} / {r['naive_ms']:.0f} ({100 * r['base_within_100ms']:.0f}%)",
    )
    wins = sum(r["base_ms"] < r["naive_ms"] for r in rows)
    lines += ["", f"base beats naive in {wins} of {len(rows)} cells", ""]
    lines += grid(
        "Listening: AAS with another recording's audio / with its own (x; 1.0 = deaf)",
        lambda r: (
            f"{r['withheld_ms']:.0f} / {r['base_ms']:.0f} ({r['listening']:.1f}x)"
            if r["listening"] is not None
            else "n/a (longer than a call)"
        ),
    )
    checked = [r for r in rows if r["listening"] is not None]
    hearing = sum(r["listening"] >= 3.0 for r in checked)
    lines += [
        "",
        f"withholding the audio makes the base 3x worse or more in {hearing} of {len(checked)} cells"
        + ("" if len(checked) == len(rows) else f" ({len(rows) - len(checked)} not checked)"),
    ]
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generalisation.md").write_text(table + "\n")
    (out / "generalisation.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "generalisation.png")
    print(f"written: {out}/generalisation.{{md,json,png}}")


if __name__ == "__main__":
    main()
