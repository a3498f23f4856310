"""The README's path for recordings without timestamps, run as written.

The commands between `<!-- user-path:start -->` and `<!-- user-path:end -->` in README.md are
read and run in a fresh folder holding 10 recordings and their transcripts (no timestamps):
`alignadapt ...` through the command-line entry, `python X.py ...` through the same Hydra
config and task as the script, with a few test-only overrides appended (2 training steps,
no progress bars). The person's work on the review page (`alignadapt review serve`) is played
through the page's own requests to the real server: the first line gets the recording's exact
word times, every line is accepted.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from alignadapt.cli import main as cli
from alignadapt.tasks import register_resolvers, run_task

from .conftest import CONF, ROOT

pytestmark = pytest.mark.slow

TEST_ONLY = {  # appended to the README's command lines: tiny budgets, quiet
    "pseudo_label": ["trainer.enable_progress_bar=false"],
    "train": [
        "trainer.max_epochs=-1",
        "trainer.max_steps=2",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "data.num_workers=0",
    ],
    "evaluate": ["bootstrap=50"],
}


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- user-path:start -->\n```bash\n(.*?)```", text, re.S).group(1)
    lines, current = [], ""
    for raw in block.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        current += line.rstrip("\\").strip() + " " if line else ""
        if line and not line.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def run_script(script: str, args: list[str]) -> None:
    """`python <script>.py args` in-process: the same config, composed the same way, the same task."""
    from alignadapt.evaluation.run import evaluate
    from alignadapt.inference.pseudo import pseudo_label
    from alignadapt.training.run import train

    body = {"train": train, "evaluate": evaluate, "pseudo_label": pseudo_label}[script]
    run_dir = next((a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")), None)
    overrides = [a for a in args if not a.startswith("hydra.")] + TEST_ONLY.get(script, [])
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=script, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(Path(run_dir or f"logs/{script}").resolve())
    run_task(body, cfg)


def run(command: str, variables: dict[str, str]) -> None:
    words = [variables.get(w[1:], w) if w.startswith("$") else w for w in shlex.split(command)]
    words = [re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], w) for w in words]
    if words[0] == "alignadapt":
        code = cli(words[1:])
        assert code == 0, f"{command} -> exit {code}"
    else:
        assert words[0] == "python" and words[1].endswith(".py"), command
        run_script(words[1].removesuffix(".py"), words[2:])


def review_on_the_page(command: str, truth: dict[str, list]) -> str:
    """What the person does on `alignadapt review serve`'s page, through the same requests the
    page makes: the first line (least confident) gets the exact times, every line is accepted.
    The server is the command's own (cli.review.start_server), serving in a thread."""
    import argparse
    import threading
    import urllib.request

    from alignadapt.cli import review as review_cli
    from alignadapt.review_web.server import url_of

    parser = argparse.ArgumentParser()
    review_cli.add_arguments(parser)
    server, session, lock = review_cli.start_server(parser.parse_args(shlex.split(command)[2:]))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(url_of(server) + path, data, timeout=60) as answer:
            return json.load(answer)

    corrected = None
    try:
        for item in call("api/lines")["items"]:
            line = call(f"api/line/{item['id']}")
            loaded = [[w["start"], w["end"]] for w in line["rows"][0]["words"]]
            words = loaded
            if corrected is None:
                corrected = item["name"]
                words = [list(span) for span in truth[corrected]]
            save = {"revision": line["revision"], "loaded": loaded, "words": words}
            call(f"api/save/{item['id']}", save)
    finally:
        server.shutdown()
        review_cli.stop_server(server, session, lock)
    return corrected


def test_readme_unlabelled_path_runs_as_written(corpus, tmp_path, monkeypatch, capsys):
    commands = readme_commands()
    assert commands[0] == "BASE=models/demo-base"
    assert [c.split()[1] for c in commands[1:4]] == ["prepare", "validate", "split"]
    monkeypatch.chdir(tmp_path)
    # 10 recordings with transcripts and no timestamps; the exact times kept aside as "truth"
    (tmp_path / "lectures" / "audio").mkdir(parents=True)
    (tmp_path / "lectures" / "text").mkdir()
    truth = {}
    records = [json.loads(x) for x in corpus["train"].read_text().splitlines()[:10]]
    for i, record in enumerate(records):
        stem = f"rec{i:02d}"
        shutil.copy(corpus["train"].parent / record["audio_path"], f"lectures/audio/{stem}.wav")
        Path(f"lectures/text/{stem}.txt").write_text(record["text"] + "\n")
        truth[stem] = [(w["start"], w["end"]) for w in record["words"]]

    variables = {"BASE": str(ROOT / "models" / "demo-base")}
    for command in commands[1:]:
        if command.startswith("alignadapt review serve"):
            corrected = review_on_the_page(command, truth)
            continue
        run(command, variables)

    out = capsys.readouterr().out
    # pseudo-labels name their model; references name the line a person checked on the page
    pseudo = [json.loads(x) for x in Path("med/train_pseudo.jsonl").read_text().splitlines()]
    assert {r["alignment"]["model"] for r in pseudo} == {variables["BASE"]}
    refs = [json.loads(x) for x in Path("med/test_ref.jsonl").read_text().splitlines()]
    assert all(r["alignment"]["reviewed"] for r in refs)
    fixed = next(r for r in refs if Path(r["audio_path"]).stem == corrected)
    assert fixed["alignment"]["changed"] is True
    got = [t for w in fixed["words"] for t in (w["start"], w["end"])]
    assert got == pytest.approx(
        [t for span in truth[corrected] for t in span], abs=2e-3
    )  # the page keeps 0.1 ms
    assert "1 corrected by hand" in out
    # train wrote its adapter with a real model card, checked the test set, and said where
    card = Path("runs/med/adapter/README.md").read_text()
    assert "demo-base" in card and "med/test_ref.jsonl" in card and "train.py" in card
    assert f"adapter: {Path('runs/med/adapter').resolve()}" in out
    # evaluate scored on the checked references: no self-label warning, report where it said
    metrics = json.loads(Path("reports/med/metrics.json").read_text())
    assert metrics["self_labelled"] == {} and metrics["utterances"] == len(refs)
    assert f"report: {Path('reports/med').resolve()}" in out
    assert "too few utterances to tell" in Path("reports/med/table.txt").read_text()
    assert "alignadapt adapter" in Path("exports/med-adapter/README.md").read_text()
    assert (Path("exports/med-merged") / "model.safetensors").exists()
    assert Path("aligned/rec00.TextGrid").exists()
    assert len(list(Path("aligned").glob("*.ctm"))) == len(
        Path("med/test.jsonl").read_text().splitlines()
    )


def test_evaluate_warns_when_a_model_is_scored_on_its_own_pseudo_labels(
    tiny_dir, corpus, tmp_path, caplog
):
    """The base labels a manifest, then is scored on it: a warning in the log and the table."""
    from alignadapt.evaluation.run import run_evaluation
    from alignadapt.inference.aligner import AlignerSettings

    lines = [json.loads(x) for x in corpus["test"].read_text().splitlines()[:3]]
    for line in lines:
        line["audio_path"] = str(corpus["test"].parent / line["audio_path"])
        line["alignment"] = {"model": str(tiny_dir), "confidence": 0.5}
    manifest = tmp_path / "own.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    metrics = run_evaluation(
        manifest, {}, str(tiny_dir), tmp_path / "report", AlignerSettings(), bootstrap=10
    )
    assert metrics["self_labelled"] == {"base": {"model": str(tiny_dir), "lines": 3}}
    assert "3 of 3 reference lines are pseudo-labels made by base itself" in caplog.text
    table = (tmp_path / "report" / "table.txt").read_text()
    assert "warning: 3 of 3 references are base's own pseudo-labels" in table
