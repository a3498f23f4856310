"""pseudo_label.py: exact output after a kill and a resume, confidence thresholds, inputs kept."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, compose_train

sys.path.insert(0, str(ROOT))
from pseudo_label import pseudo_label  # noqa: E402

pytestmark = pytest.mark.slow


def small_manifest(corpus, tmp_path: Path, n: int) -> Path:
    lines = Path(corpus["train"]).read_text().splitlines()[:n]
    out = tmp_path / "unlabelled.jsonl"
    base = Path(corpus["train"]).parent
    rows = []
    for raw in lines:
        record = json.loads(raw)
        record["audio_path"] = str((base / record["audio_path"]).resolve())
        record.pop("timestamps", None)
        record.pop("words", None)
        rows.append(json.dumps(record))
    out.write_text("\n".join(rows) + "\n")
    return out


def overrides(manifest: Path, out: Path, tiny_dir: Path, extra: list[str] = ()) -> list[str]:
    return [
        f"manifest={manifest}",
        f"out={out}",
        f"aligner={tiny_dir}",
        "batch_size=2",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_and_resumed_run_writes_exactly_the_uninterrupted_output(
    tmp_path, shared_dir, tiny_dir, corpus
):
    manifest = small_manifest(corpus, tmp_path, 20)
    before = sha(manifest)
    clean = tmp_path / "clean.jsonl"
    pseudo_label(
        compose_train(
            overrides(manifest, clean, tiny_dir), tmp_path / "r1", shared_dir, "pseudo_label"
        )
    )

    resumed = tmp_path / "resumed.jsonl"
    shard = tmp_path / "resumed.jsonl.parts" / "rank0.jsonl"
    cmd = [
        sys.executable,
        str(ROOT / "pseudo_label.py"),
        *overrides(manifest, resumed, tiny_dir),
        f"hydra.run.dir={tmp_path / 'r2'}",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if shard.exists() and shard.read_text().count("\n") >= 4:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = shard.read_text().count("\n")
    assert 4 <= written < 20, written  # killed in the middle, not before or after
    assert not resumed.exists()
    with open(shard, "a") as f:  # as if killed in the middle of a line
        f.write('{"line": 20, "record": {"audio_pa')

    pseudo_label(
        compose_train(
            overrides(manifest, resumed, tiny_dir), tmp_path / "r3", shared_dir, "pseudo_label"
        )
    )
    assert resumed.read_bytes() == clean.read_bytes()
    records = [json.loads(x) for x in resumed.read_text().splitlines()]
    assert len(records) == 20
    assert all(0.0 < w["confidence"] <= 1.0 for r in records for w in r["words"])
    assert not shard.parent.exists()
    assert sha(manifest) == before  # the input is only read
    with pytest.raises(FileExistsError, match="force=true"):
        pseudo_label(
            compose_train(
                overrides(manifest, resumed, tiny_dir), tmp_path / "r4", shared_dir, "pseudo_label"
            )
        )


def test_low_confidence_lines_are_flagged_or_dropped(tmp_path, shared_dir, tiny_dir, corpus):
    manifest = small_manifest(corpus, tmp_path, 3)
    flagged, dropped = tmp_path / "flagged.jsonl", tmp_path / "dropped.jsonl"
    counts = pseudo_label(
        compose_train(
            overrides(manifest, flagged, tiny_dir, ["min_confidence=0.5"]),
            tmp_path / "a",
            shared_dir,
            "pseudo_label",
        )
    )
    assert counts == {"lines": 3, "written": 3, "flagged": 3, "rejected": 0}
    records = [json.loads(x) for x in flagged.read_text().splitlines()]
    assert all(r["alignment"]["low_confidence"] for r in records)  # a random tiny model is unsure
    counts = pseudo_label(
        compose_train(
            overrides(manifest, dropped, tiny_dir, ["min_confidence=0.5", "low_confidence=drop"]),
            tmp_path / "b",
            shared_dir,
            "pseudo_label",
        )
    )
    assert counts == {"lines": 3, "written": 0, "flagged": 0, "rejected": 3}
    rejected = [
        json.loads(x) for x in (tmp_path / "dropped.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert [r["line"] for r in rejected] == [1, 2, 3]
    assert all(r["reason"].startswith("low confidence") for r in rejected)
