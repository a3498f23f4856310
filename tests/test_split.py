"""`alignadapt split`: shares by duration, and no recording or speaker in two splits."""

import json
import os

import pytest

from alignadapt.cli import main
from alignadapt.data.splits import assign_groups, split_manifest


@pytest.fixture
def manifest(tmp_path):
    """40 recordings of 3 segments each; speakers s0..s9 each speak in 4 recordings."""
    rows = []
    for rec in range(40):
        for seg in range(3):
            rows.append(
                {
                    "audio_path": f"audio/rec{rec:02d}.wav",
                    "text": f"segment {seg}",
                    "duration": 2.0 + (rec % 5),
                    "speaker": f"s{rec % 10}",
                }
            )
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_no_recording_or_speaker_crosses_splits_and_shares_hold(manifest, tmp_path):
    path, rows = manifest
    out = tmp_path / "splits"
    result = split_manifest(path, out, ["train", "val", "test"], [0.6, 0.2, 0.2], seed=1)
    splits = {name: read(out / f"{name}.jsonl") for name in result}
    assert sum(len(v) for v in splits.values()) == len(rows)
    for key in ("audio_path", "speaker"):
        owners = {}
        for name, lines in splits.items():
            for line in lines:
                owners.setdefault(line[key], set()).add(name)
        assert all(len(v) == 1 for v in owners.values()), key
    total = sum(r["duration"] for r in rows)
    assert [round(result[n][1] / total, 1) for n in ("train", "val", "test")] == [0.6, 0.2, 0.2]
    # paths still point at the same files from the new folder
    line = splits["train"][0]
    assert os.path.normpath(out / line["audio_path"]) == os.path.normpath(
        path.parent / "audio" / os.path.basename(line["audio_path"])
    )
    again = tmp_path / "again"
    split_manifest(path, again, ["train", "val", "test"], [0.6, 0.2, 0.2], seed=1)
    assert (again / "test.jsonl").read_text() == (out / "test.jsonl").read_text()


def test_without_speakers_recordings_alone_decide(manifest, tmp_path):
    path, rows = manifest
    for r in rows:
        del r["speaker"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = split_manifest(path, tmp_path / "o", ["a", "b"], [0.5, 0.5])
    assert result["a"][0] % 3 == 0 and result["b"][0] % 3 == 0  # whole recordings
    assert abs(result["a"][1] - result["b"][1]) <= 6.0  # within one recording's worth


def test_assign_groups_fills_the_split_furthest_below_its_share():
    sizes = {"a": 50.0, "b": 30.0, "c": 10.0, "d": 10.0}
    assert assign_groups(sizes, [0.5, 0.3, 0.2], seed=0) == {"a": 0, "b": 1, "c": 2, "d": 2}


def test_split_command_reports_and_refuses_to_overwrite(manifest, tmp_path, capsys):
    path, _ = manifest
    out = tmp_path / "cli"
    assert main(["split", str(path), str(out), "--shares", "0.8", "0.1", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("train: ") and "val: " in printed and "test: " in printed
    assert main(["split", str(path), str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    one_speaker = tmp_path / "one.jsonl"
    one_speaker.write_text(json.dumps({"audio_path": "a.wav", "text": "x", "duration": 1}) + "\n")
    assert main(["split", str(one_speaker), str(tmp_path / "o1")]) == 1
    assert "got no line" in capsys.readouterr().out
