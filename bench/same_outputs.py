"""Outputs of every alignment caller, recorded and compared: a refactor must not change them.

    python bench/same_outputs.py record /tmp/before --code /tmp/base   # the old code's library
    python bench/same_outputs.py record /tmp/after                     # this checkout's
    python bench/same_outputs.py compare /tmp/before /tmp/after

`record` runs, with models/demo-base on small slices of the demo data (data/demo, made by
`make demo-data demo-tests`; `--data` names another copy): evaluate.py on general and long test
lines (metrics.json, table.txt, words.csv, plots), pseudo_label.py on both (the manifest),
`alignadapt align` in every format, ctm included (a manifest and one recording), and
bench/long_recordings.py (`--minutes`, default one, with an unspoken sentence and music: every
run's times and gaps in long_times.json, its printed figures but the wall-time line in
long_bench.txt). The demo base's calls hold at most 16 s, so the long lines go through the
long-recording path. `--code` names the checkout whose library and entry scripts (evaluate.py,
pseudo_label.py) run, by default this one; the data, the model and the bench scripts are always
this checkout's, so a record of an old commit differs from a new one only by the library. Keep
both folders at the same depth: pseudo-labels store audio paths relative to their manifest.

`compare` checks every file of the first folder against the second: JSON numbers within 1e-6,
every other file byte for byte (text files whose only differences are numbers: within 1e-6).
It prints one line per difference and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
MODEL = ROOT / "models" / "demo-base"
FORMATS = ("json", "textgrid", "srt", "vtt", "ctm")
TOLERANCE = 1e-6
# (name, manifest under data/demo, lines): short calls, and recordings longer than one call
SLICES = (("general", "general_test.jsonl", 10), ("long", "tests/en_20-30s.jsonl", 3))


def run(command: list[str], out: Path, log: str, code: Path = ROOT) -> str:
    """Run one caller with nice and `code`'s library, from `code`; its output goes to `log` in
    the folder, stdout is returned."""
    env = dict(os.environ, PYTHONPATH=str(code / "src"), WANDB_MODE="offline")
    done = subprocess.run(
        ["nice", "-n", "19", *command], cwd=code, env=env, capture_output=True, text=True
    )
    (out / "logs").mkdir(exist_ok=True)
    (out / "logs" / log).write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): see {out}/logs/{log}")
    return done.stdout


def slice_manifest(source: Path, lines: int, into: Path) -> Path:
    """The first `lines` lines of a manifest, audio paths made absolute."""
    rows = []
    for raw in source.read_text().splitlines()[:lines]:
        row = json.loads(raw)
        row["audio_path"] = str((source.parent / row["audio_path"]).resolve())
        rows.append(json.dumps(row, ensure_ascii=False))
    into.write_text("\n".join(rows) + "\n")
    return into


def record(out: Path, code: Path = ROOT, demo: Path = DEMO, minutes: float = 1.0) -> None:
    out.mkdir(parents=True, exist_ok=False)
    inputs = out / "inputs"
    inputs.mkdir()
    py = sys.executable
    manifests = {
        name: slice_manifest(demo / path, n, inputs / f"{name}.jsonl") for name, path, n in SLICES
    }
    both = inputs / "both.jsonl"
    both.write_text("".join(m.read_text() for m in manifests.values()))
    for name, manifest in manifests.items():
        run(
            [py, "evaluate.py", f"manifest={manifest}", f"base={MODEL}", "bootstrap=200"]
            + [f"out_dir={out / f'eval_{name}'}", f"hydra.run.dir={out / 'hydra' / name}"],
            out,
            f"eval_{name}.txt",
            code,
        )
    run(
        [py, "pseudo_label.py", f"manifest={both}", f"out={out / 'pseudo' / 'labels.jsonl'}"]
        + [f"labeller={MODEL}", f"hydra.run.dir={out / 'hydra' / 'pseudo'}"],
        out,
        "pseudo.txt",
        code,
    )
    cli = [py, "-c", "import sys; from alignadapt.cli import main; sys.exit(main())", "align"]
    cli += ["--model", str(MODEL)]
    for fmt in FORMATS:
        run(
            cli + ["--manifest", str(both), "--out", str(out / f"align_{fmt}"), "--format", fmt],
            out,
            f"align_{fmt}.txt",
            code,
        )
    first = json.loads(manifests["long"].read_text().splitlines()[0])
    run(
        cli + [first["audio_path"], first["text"], "--out", str(out / "align_one.json")],
        out,
        "align_one.txt",
        code,
    )
    bench = [py, str(ROOT / "bench" / "long_recordings.py"), "--minutes", f"{minutes:g}"]
    bench += ["--unspoken", "--music", "--save", str(out / "long_times.json")]
    printed = run(bench, out, "long.txt", code)
    kept = [line for line in printed.splitlines() if not line.startswith("from disk:")]
    (out / "long_bench.txt").write_text("\n".join(kept) + "\n")


def same_json(a, b, where: str, diffs: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            diffs.append(f"{where}: keys {sorted(a)} vs {sorted(b)}")
        for k in a.keys() & b.keys():
            same_json(a[k], b[k], f"{where}.{k}", diffs)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{where}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            same_json(x, y, f"{where}[{i}]", diffs)
    elif isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float):
        if a != b:
            diffs.append(f"{where}: {a!r} vs {b!r}")
    elif not isinstance(b, int | float) or not math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE):
        diffs.append(f"{where}: {a!r} vs {b!r}")


NUMBER = re.compile(r"-?\d+\.?\d*(?:e-?\d+)?")


def same_text(a: str, b: str, where: str, diffs: list[str]) -> None:
    if a == b:
        return
    if NUMBER.sub("#", a) == NUMBER.sub("#", b):
        pairs = zip(NUMBER.findall(a), NUMBER.findall(b), strict=True)
        if all(abs(float(x) - float(y)) <= TOLERANCE for x, y in pairs):
            return
    diffs.append(f"{where}: text differs")


def read(path: Path, folder: Path) -> str:
    """A file's text with the folders that differ between two records named alike: the record
    itself and the checkout's model (`.../models/demo-base`)."""
    text = path.read_text(encoding="utf-8").replace(str(folder), "OUT")
    return re.sub(r"/[^\s\"',]*/models/demo-base", "MODEL", text)


def compare(before: Path, after: Path) -> int:
    diffs: list[str] = []
    files = sorted(
        p
        for p in before.rglob("*")
        if p.is_file() and not {"logs", "hydra", "inputs"} & set(p.relative_to(before).parts)
    )
    for path in files:
        rel = path.relative_to(before)
        other = after / rel
        if not other.exists():
            diffs.append(f"{rel}: missing")
            continue
        if path.suffix == ".json":
            a, b = json.loads(read(path, before)), json.loads(read(other, after))
            same_json(a, b, str(rel), diffs)
        elif path.suffix == ".jsonl":
            a, b = read(path, before).splitlines(), read(other, after).splitlines()
            if len(a) != len(b):
                diffs.append(f"{rel}: {len(a)} vs {len(b)} lines")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                same_json(json.loads(x), json.loads(y), f"{rel}:{i + 1}", diffs)
        elif path.suffix == ".png":
            if path.read_bytes() != other.read_bytes():
                diffs.append(f"{rel}: bytes differ")
        else:
            same_text(read(path, before), read(other, after), str(rel), diffs)
    extra = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    extra -= {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    diffs += [f"{rel}: only in {after}" for rel in sorted(extra) if rel.parts[0] == "pseudo"]
    for line in diffs:
        print(line)
    print(f"{len(files)} files compared, {len(diffs)} difference(s)")
    return 1 if diffs else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("record")
    one.add_argument("out", type=Path)
    one.add_argument("--code", type=Path, default=ROOT, help="checkout whose library runs")
    one.add_argument("--data", type=Path, default=DEMO, help="the demo data (data/demo)")
    one.add_argument("--minutes", type=float, default=1.0, help="the long-recording bench's")
    pair = sub.add_parser("compare")
    pair.add_argument("before", type=Path)
    pair.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.code.resolve(), args.data.resolve(), args.minutes)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
