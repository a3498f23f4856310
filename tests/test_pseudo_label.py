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

from alignadapt.inference import pseudo as entry
from alignadapt.inference.pseudo import cut_partial_line, parts_dir_for, read_shards

from .conftest import ROOT, compose_train


def pseudo_label(cfg) -> dict:
    """The task's counts (lines, written, flagged, rejected)."""
    return entry.pseudo_label(cfg).metrics


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
        f"labeller={tiny_dir}",
        "aligner.batch_size=2",
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
            overrides(manifest, flagged, tiny_dir, ["aligner.min_confidence=0.5"]),
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
            overrides(
                manifest, dropped, tiny_dir, ["aligner.min_confidence=0.5", "low_confidence=drop"]
            ),
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


def test_two_ddp_ranks_write_shards_merged_into_the_single_process_output(
    tmp_path, shared_dir, tiny_dir, corpus, monkeypatch
):
    """5 lines in groups of 2 over 2 ranks, each rank its own shard: the same output."""
    manifest = small_manifest(corpus, tmp_path, 5)
    single, ddp = tmp_path / "single.jsonl", tmp_path / "ddp.jsonl"
    pseudo_label(
        compose_train(
            overrides(manifest, single, tiny_dir), tmp_path / "a", shared_dir, "pseudo_label"
        )
    )
    shard_lines: dict[str, int] = {}
    real_merge = entry.merge

    def spying_merge(manifest_, out_, *args):
        for shard in sorted(parts_dir_for(out_).glob("rank*.jsonl")):
            shard_lines[shard.name] = shard.read_text().count("\n")
        return real_merge(manifest_, out_, *args)

    monkeypatch.setattr(entry, "merge", spying_merge)
    counts = pseudo_label(
        compose_train(
            overrides(manifest, ddp, tiny_dir, ["trainer=ddp_cpu"]),
            tmp_path / "b",
            shared_dir,
            "pseudo_label",
        )
    )
    assert set(shard_lines) == {"rank0.jsonl", "rank1.jsonl"}
    assert sum(shard_lines.values()) == 5  # Lightning's predict sampler does not pad
    assert counts == {"lines": 5, "written": 5, "flagged": 0, "rejected": 0}
    assert ddp.read_bytes() == single.read_bytes()


def test_shards_are_read_by_line_without_duplicates_or_a_cut_line(tmp_path):
    """What a padding sampler or a group re-run after a kill leaves: each line kept once."""
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    (parts / "rank0.jsonl").write_text('{"line": 1, "record": "a"}\n{"line": 3, "record": "c"}\n')
    (parts / "rank1.jsonl").write_text(
        '{"line": 1, "record": "a"}\n{"line": 2, "record": "b"}\n{"line": 4, "rec'
    )
    assert {k: v["record"] for k, v in read_shards(parts).items()} == {1: "a", 2: "b", 3: "c"}
    cut_partial_line(parts / "rank1.jsonl")
    assert (parts / "rank1.jsonl").read_text().endswith('"b"}\n')
