"""What makes a model trained from scratch listen? Each cause of the first deaf demo base alone.

    python bench/listening_levers.py                 # 5 runs, ~1 min each on 2 idle cores
    python bench/listening_levers.py --steps 300 --only wide_silences absolute_positions

A small, fast stand-in for the demo pretraining: the tiny aligner (every weight trained,
`lora=none`) on the synthetic tone corpus, one word per recording, the same seed and step
budget per run. Each run changes one thing against the recipe of the first demo base
(transformers' initialisation, narrow silences, 1 s encoder chunks): the audio front end's
initialisation (`model.tiny.front_end_ratio`), silences that text and length cannot predict
(`data.source.spec.lead_s`), absolute audio positions (`model.tiny.n_window`), then all of them.
It reports validation AAS with the audio and with another recording's in its place (the
listening check, evaluation/listening.py). Prints a Markdown table and writes it with the raw
numbers to logs/listening_levers/<stamp>/levers.{md,json}.

The demo pretraining's own levers (the curriculum, the auxiliary CTC loss) need speech, not
tones: they are measured in the pretraining runs (models/demo-base/README.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FIRST_BASE = ["+model.tiny.front_end_ratio=0.0", "data.source.spec.lead_s=[0.1,0.5]"]
LEVERS: dict[str, list[str]] = {
    "first base's recipe": FIRST_BASE,
    "front end init": ["data.source.spec.lead_s=[0.1,0.5]"],
    "wide silences": ["+model.tiny.front_end_ratio=0.0", "data.source.spec.lead_s=[0.0,3.0]"],
    "absolute positions": [*FIRST_BASE, "+model.tiny.n_window=800"],
    "all three": ["data.source.spec.lead_s=[0.0,3.0]", "+model.tiny.n_window=800"],
}


def train_one(name: str, overrides: list[str], steps: int, work: Path) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from alignadapt.tasks import register_resolvers
    from alignadapt.training.run import train

    register_resolvers()
    slug = "".join(c if c.isalnum() else "_" for c in name)
    base = [
        "model=tiny",
        "lora=none",
        "trainer=cpu",
        "data=synthetic",
        "data.num_workers=0",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"model.pretrained={work / slug / 'model'}",
        f"data.source.out_dir={work / 'data' / slug}",
        "data.source.spec.n_train=96",
        "data.source.spec.min_words=1",
        "data.source.spec.max_words=1",
        "data.batch_size=8",
        "model.scheduler.num_warmup_steps=10",
        "trainer.max_epochs=-1",
        "trainer.check_val_every_n_epoch=null",
        "trainer.log_every_n_steps=10",
        "test=false",
        "seed=42",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*base, *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(work / slug / "run")
        cfg.paths.log_dir = str(work / slug / "logs")
    started = time.perf_counter()
    run = train(cfg).outputs["run"]
    with open(run / "csv" / "metrics.csv") as f:
        (last,) = [r for r in csv.DictReader(f) if r.get("val/listening")]
    return {
        "lever": name,
        "overrides": overrides,
        "aas_ms": round(float(last["val/aas_ms"]), 1),
        "withheld_ms": round(float(last["val/aas_withheld_ms"]), 1),
        "listening": round(float(last["val/listening"]), 2),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="lever names (spaces as underscores)")
    parser.add_argument("--out", default=None, help="default: logs/listening_levers/<stamp>")
    args = parser.parse_args()
    wanted = {k: v for k, v in LEVERS.items() if not args.only or k.replace(" ", "_") in args.only}
    if not wanted:
        sys.exit(f"no lever among {args.only}: choose from {[k.replace(' ', '_') for k in LEVERS]}")
    out = Path(args.out or ROOT / "logs" / "listening_levers" / time.strftime("%Y%m%d-%H%M%S"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in wanted.items():
            rows.append(train_one(name, overrides, args.steps, Path(tmp)))
            print(rows[-1], flush=True)
    lines = [
        f"Tiny aligner, tone corpus, one word a recording, {args.steps} steps, seed 42: "
        "validation AAS (ms) with the audio / with another recording's, and their ratio",
        "",
        "| lever | AAS | AAS, audio withheld | listening | minutes |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['lever']} | {r['aas_ms']:.0f} | {r['withheld_ms']:.0f} | "
            f"{r['listening']:.2f}x | {r['minutes']} |"
        )
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "levers.md").write_text(table + "\n")
    (out / "levers.json").write_text(json.dumps(rows, indent=2))
    print(f"written: {out}/levers.{{md,json}}")


if __name__ == "__main__":
    main()
