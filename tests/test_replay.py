import json

import pytest

from alignadapt.data.replay import mix_with_replay


def _manifest(path, n, prefix):
    path.write_text(
        "".join(
            json.dumps({"audio_path": f"{prefix}{i}.wav", "text": "a"}) + "\n" for i in range(n)
        )
    )
    return path


def test_replay_adds_the_share_of_general_lines_with_absolute_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "g").mkdir()
    domain = _manifest(tmp_path / "d" / "train.jsonl", 30, "dom")
    general = _manifest(tmp_path / "g" / "gen.jsonl", 100, "gen")
    out = mix_with_replay(domain, general, share=0.25, seed=0, out=tmp_path / "run" / "mixed.jsonl")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 40  # 30 domain + 10 general = a quarter general
    general_paths = [x["audio_path"] for x in lines if "/g/gen" in x["audio_path"]]
    assert len(general_paths) == 10 and len(set(general_paths)) == 10  # no repeats while enough
    assert lines[0]["audio_path"] == str((tmp_path / "d" / "dom0.wav").resolve())
    assert domain.read_text().count("\n") == 30  # the input is untouched


def test_replay_share_must_leave_room_for_the_domain(tmp_path):
    domain = _manifest(tmp_path / "a.jsonl", 3, "a")
    with pytest.raises(ValueError, match=r"share must be in \[0, 1\)"):
        mix_with_replay(domain, domain, share=1.0, seed=0, out=tmp_path / "m.jsonl")
