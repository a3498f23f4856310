"""The espeak-ng demo corpus: word times checked against the audio itself, not espeak's events."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from alignadapt.demo.broad import TEST_VARIANTS

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs the espeak-ng Debian package"
)


def frame_db(audio: np.ndarray, rate: int) -> np.ndarray:
    frame = rate // 100  # 10 ms
    n = len(audio) // frame
    rms = (
        np.sqrt(np.mean(audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
        + 1e-9
    )
    return 20 * np.log10(rms / rms.max())


@pytest.mark.parametrize(
    ("language", "grammar"), [("en", None), ("en", "en_domain"), ("fr", None), ("zh", None)]
)
def test_demo_times_agree_with_the_audio(tmp_path, language, grammar):
    from alignadapt.demo.degrade import CLEAN
    from alignadapt.demo.testsets import Split, write_split

    split = Split("probe", 4, language, grammar, "test", (2.0, 6.0), CLEAN)
    manifest = write_split(tmp_path, split, seed=3, progress=False)
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert len(lines) == 4
    for line in lines:
        audio, rate = sf.read(tmp_path / line["audio_path"], dtype="float32")
        assert rate == 16000 and abs(len(audio) / rate - line["duration"]) < 1e-3
        assert line["duration"] <= 6.0
        db = frame_db(audio, rate)
        words = line["words"]
        units = list(line["text"]) if language == "zh" else line["text"].split()
        assert [w["word"] for w in words] == units
        first, last = words[0]["start"], words[-1]["end"]
        before = db[: int(first * 100) - 1]
        after = db[int(np.ceil(last * 100)) + 1 :]
        # silent before the first start and after the last end: 20 dB under the loudest frame
        assert before.max() < -20, (line["audio_path"], before.max())
        assert after.size == 0 or after.max() < -20, (line["audio_path"], after.max())
        # sounding within 30 ms of the first start: clearly (6 dB) above everything before it
        onset = db[int(first * 100) : int(first * 100) + 3].max()
        assert onset > before.max() + 6 and onset > -35, (line["audio_path"], onset, before.max())
        for a, b in zip(words, words[1:], strict=False):  # ordered, non-overlapping, non-empty
            assert a["start"] < a["end"] <= b["start"] + 1e-6
            assert db[int(a["start"] * 100) : int(np.ceil(a["end"] * 100))].max() > -30


def test_demo_base_loads_through_the_normal_model_path():
    from pathlib import Path

    from alignadapt.model.loading import load_aligner

    path = Path(__file__).resolve().parents[1] / "models" / "demo-base"
    model, processor = load_aligner(str(path))
    assert model.config.num_labels == 400  # 32 s per call
    assert sum(p.numel() for p in model.parameters()) == 3_452_736
    assert (
        processor.tokenizer.convert_tokens_to_ids("<timestamp>") == model.config.timestamp_token_id
    )


def test_demo_data_command_makes_every_split(tmp_path):
    from alignadapt.cli import main

    args = [str(tmp_path), "--domain-train", "2", "--domain-val", "1", "--domain-test", "1"]
    args += ["--general-test", "1", "--general-replay", "1", "--general-val", "1", "--quiet"]
    assert main(["demo-data", *args]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert made == [
        "domain_test.jsonl",
        "domain_train.jsonl",
        "domain_val.jsonl",
        "general_replay.jsonl",
        "general_test.jsonl",
        "general_val.jsonl",
    ]
    train = [json.loads(x) for x in (tmp_path / "domain_train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (tmp_path / "domain_test.jsonl").read_text().splitlines()]
    assert "+" not in train[0]["voice"] or train[0]["voice"].split("+")[1] not in TEST_VARIANTS
    assert test[0]["voice"].split("+")[1] in TEST_VARIANTS  # tested on voices never trained on
    before = (tmp_path / "domain_train.jsonl").read_bytes()
    assert main(["demo-data", *args]) == 0  # made once and kept
    assert (tmp_path / "domain_train.jsonl").read_bytes() == before


def test_generalisation_tests_cover_every_language_and_bucket():
    from alignadapt.demo.testsets import test_splits

    splits = test_splits(per_cell=3, long_count=1)
    names = {s.name for s in splits}
    assert len(names) == 21 and "tests/zh_20-30s" in names and "tests/long_en" in names
    assert all(s.side == "test" for s in splits)
    long = next(s for s in splits if s.name == "tests/long_en")
    assert long.seconds == (180.0, 600.0)


def test_generalisation_bench_prints_base_against_naive(tmp_path, tiny_dir):
    import subprocess
    import sys
    from pathlib import Path

    from alignadapt.demo.testsets import Split, write_split

    tests = tmp_path / "tests"
    write_split(tests, Split("en_1-5s", 2, "en", seconds=(1.0, 3.0)), seed=1, progress=False)
    out = tmp_path / "bench"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "demo_generalisation.py"), "--model", str(tiny_dir),
         "--tests", str(tests), "--languages", "en", "--buckets", "1-5s", "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "| en | " in done.stdout and "base beats naive in" in done.stdout
    rows = json.loads((out / "generalisation.json").read_text())
    assert [(r["language"], r["bucket"], r["utterances"]) for r in rows] == [("en", "1-5s", 2)]
    report = json.loads((out / "en_1-5s" / "metrics.json").read_text())
    check = report["listening"]["base"]
    assert rows[0]["listening"] == round(check["ratio"], 2)
    assert rows[0]["withheld_ms"] == round(check["aas_withheld_ms"], 1)
    assert "withholding the audio makes the base 3x worse or more in" in done.stdout
    assert (out / "generalisation.png").stat().st_size > 0
    assert report["decodings"] == ["argmax"] and f"{tiny_dir}, argmax" in done.stdout
    assert report["vs_naive"] == {}  # bootstrap=0: no differences, naive is there
    viterbi = subprocess.run(
        [sys.executable, str(root / "bench" / "demo_generalisation.py"), "--model", str(tiny_dir),
         "--tests", str(tests), "--languages", "en", "--buckets", "1-5s", "--out",
         str(tmp_path / "mono"), "--decoding", "monotonic", "--window", "0.9"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"{tiny_dir}, monotonic, window 0.9 s" in viterbi.stdout
    # every recording (1-3 s) is longer than a 0.9 s call: aligned in pieces, no listening check
    assert "| en | n/a (longer than a call) |" in viterbi.stdout
    assert "3x worse or more in 0 of 0 cells (1 not checked)" in viterbi.stdout
    report = json.loads((tmp_path / "mono" / "en_1-5s" / "metrics.json").read_text())
    assert report["decodings"] == ["monotonic"]
    missing = subprocess.run(
        [sys.executable, str(root / "bench" / "demo_generalisation.py"), "--tests", str(tests),
         "--languages", "fr", "--buckets", "1-5s", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0 and "no test manifest fr_1-5s.jsonl" in missing.stderr
