"""Every problem `alignadapt validate` knows, each from a real file: the message names the
file and line and says what to do. Training runs the same checks before its first step."""

import json
import logging

import numpy as np
import pytest
import soundfile as sf

from alignadapt.cli import main
from alignadapt.data.audio import load_audio
from alignadapt.data.datamodule import AlignDataModule, ManifestProblems
from alignadapt.data.validation import check_manifest

SR = 16000


def tone(seconds: float, rate: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


@pytest.fixture(scope="module")
def bad_manifest(tmp_path_factory):
    """A manifest with one case per line; returns (path, {case: line number})."""
    root = tmp_path_factory.mktemp("bad")
    sf.write(root / "ok.wav", tone(2.0), SR)
    sf.write(root / "stereo44.wav", tone(2.0, 44100, channels=2), 44100)
    sf.write(root / "eight_bit.wav", tone(2.0), SR, subtype="PCM_U8")
    sf.write(root / "short.wav", tone(0.1), SR)
    sf.write(root / "silence.wav", np.zeros(2 * SR, np.float32), SR)
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage, not audio" * 4)
    if "MP3" in sf.available_formats():
        sf.write(root / "clip.mp3", tone(2.0), SR, format="MP3")
    ab = {"text": "alpha beta", "timestamps": [[0.1, 0.5], [0.6, 1.0]]}
    cases = {
        "good": {"audio_path": "ok.wav", **ab, "language": "English"},
        "stereo44": {"audio_path": "stereo44.wav", **ab},
        "eight_bit": {"audio_path": "eight_bit.wav", **ab},
        "not_json": '{"audio_path": "ok.wav", "text": ',
        "missing_audio": {"audio_path": "nowhere.wav", **ab},
        "corrupt": {"audio_path": "corrupt.wav", **ab},
        "empty_text": {"audio_path": "ok.wav", "text": "   "},
        "no_unit": {"audio_path": "ok.wav", "text": "?! ..."},
        "count": {"audio_path": "ok.wav", "text": "alpha beta", "timestamps": [[0.1, 0.5]]},
        "negative": {
            "audio_path": "ok.wav",
            "text": "alpha beta",
            "timestamps": [[-0.1, 0.5], [0.6, 1.0]],
        },
        "order": {
            "audio_path": "ok.wav",
            "text": "alpha beta",
            "timestamps": [[0.6, 0.9], [0.1, 1.0]],
        },
        "after_end": {
            "audio_path": "ok.wav",
            "text": "alpha beta",
            "timestamps": [[0.1, 0.5], [0.6, 2.5]],
        },
        "language": {"audio_path": "ok.wav", "text": "alpha beta", "language": "Klingon"},
        "short": {"audio_path": "short.wav", "text": "alpha"},
        "silence": {"audio_path": "silence.wav", "text": "alpha"},
        "number": {"audio_path": "ok.wav", "text": "pi is 3.14 or 50%"},
        "mp3": {"audio_path": "clip.mp3", **ab},
    }
    lines = [c if isinstance(c, str) else json.dumps(c) for c in cases.values()]
    raw = ("\n".join(lines) + "\n").encode()
    raw += b'{"audio_path": "ok.wav", "text": "caf\xe9"}\n'  # latin-1 byte in a UTF-8 manifest
    path = root / "m.jsonl"
    path.write_bytes(raw)
    numbers = {name: i + 1 for i, name in enumerate(cases)}
    numbers["not_utf8"] = len(cases) + 1
    return path, numbers


@pytest.fixture(scope="module")
def checked(bad_manifest, processor):
    path, numbers = bad_manifest
    issues, summary = check_manifest(
        path, processor.split_words_for_alignment, scan_audio=True, progress=False
    )
    by_line = {}
    for issue in issues:
        by_line.setdefault(issue.line, []).append(issue)
    return by_line, summary, numbers


@pytest.mark.parametrize(
    ("case", "message", "hint", "warning"),
    [
        ("not_json", "not valid JSON", "one JSON object", False),
        ("not_utf8", "not UTF-8", "save the manifest as UTF-8", False),
        ("missing_audio", "nowhere.wav does not exist", "relative to the manifest's folder", False),
        ("corrupt", "corrupt.wav: cannot read audio", "ffmpeg", False),
        ("empty_text", "empty or missing 'text'", "exact transcript", False),
        ("no_unit", "has no alignable unit", "give the words that are spoken", False),
        (
            "count",
            "splits into 2 units but there are 1 timestamp pairs",
            "one [start, end] per unit",
            False,
        ),
        ("negative", "unit 0: negative time", "seconds from 0", False),
        ("order", "unit 1: starts at 0.1 before unit 0", "transcript's order", False),
        ("after_end", "unit 1 ends at 2.5 s, after the audio ends (2.000 s)", "re-import", False),
        ("language", "language 'Klingon' is not one the aligner supports", "English", False),
        ("short", "clip of 0.10 s is too short", "merge it", True),
        ("silence", "no speech in silence.wav", "muted channel", True),
        ("number", "'3.14' becomes '314', '50%' becomes '50'", "three point one four", True),
    ],
)
def test_each_problem_names_file_line_and_what_to_do(
    checked, bad_manifest, case, message, hint, warning
):
    by_line, _, numbers = checked
    found = by_line.get(numbers[case], [])
    assert len(found) == 1, [str(i) for i in found]
    text = str(found[0])
    assert text.startswith(f"{bad_manifest[0]}:{numbers[case]}: ")
    assert message in text and hint in text
    assert found[0].warning is warning


@pytest.mark.parametrize(
    ("case", "audio_name"),
    [
        ("good", "ok.wav"),
        ("stereo44", "stereo44.wav"),
        ("eight_bit", "eight_bit.wav"),
        ("mp3", "clip.mp3"),
    ],
)
def test_legal_odd_formats_pass_and_load_as_mono_16k(checked, bad_manifest, case, audio_name):
    if case == "mp3" and "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write mp3, so there is no mp3 to read")
    by_line, _, numbers = checked
    assert numbers[case] not in by_line, [str(i) for i in by_line[numbers[case]]]
    audio = load_audio(bad_manifest[0].parent / audio_name)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - 2 * SR) <= (1200 if case == "mp3" else 1)  # mp3 pads a frame
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.03)


def test_summary_counts_lines_hours_languages_and_labels(checked):
    _, summary, numbers = checked
    good = 4 if "MP3" in sf.available_formats() else 3  # warnings alone leave a line good
    assert summary.lines == len(numbers)
    assert summary.good == good + 3  # short, silence, number are warnings only
    assert summary.problems == 11 + ("MP3" not in sf.available_formats())
    assert summary.warnings == 3
    assert summary.labelled == good
    text = "\n".join(summary.lines_of_text())
    assert (
        f"lines: {len(numbers)} ({summary.good} good, {summary.problems} problems, 3 warnings)"
        in text
    )
    assert "English 1" in text and "unspecified" in text
    assert "0-1 s        1" in text  # the 0.1 s clip


def test_validate_command_exits_nonzero_and_prints_summary(bad_manifest, tiny_dir, corpus, capsys):
    assert main(["validate", str(bad_manifest[0]), "--model", str(tiny_dir)]) == 1
    out = capsys.readouterr().out
    assert f"m.jsonl:{bad_manifest[1]['count']}: the text splits into 2 units" in out
    assert "labelled:" in out and "durations:" in out and "result: FAILED" in out
    assert main(["validate", str(corpus["val"]), "--model", str(tiny_dir)]) == 0
    out = capsys.readouterr().out
    assert "lines: 12 (12 good, 0 problems, 0 warnings)" in out and "result: ok" in out


def test_training_stops_on_every_problem_or_skips_and_logs_them(tiny_dir, corpus, tmp_path, caplog):
    lines = [json.loads(x) for x in corpus["train"].read_text().splitlines()[:6]]
    for line in lines:
        line["audio_path"] = str(corpus["train"].parent / line["audio_path"])
    lines[1]["audio_path"] = str(tmp_path / "gone.wav")
    lines[4]["language"] = "Klingon"
    manifest = tmp_path / "t.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    dm = AlignDataModule(
        str(tiny_dir), train_manifest=str(manifest), val_manifest=str(corpus["val"])
    )
    with pytest.raises(ManifestProblems) as err:
        dm.setup("fit")
    message = str(err.value)
    assert "2 problem(s)" in message and "t.jsonl:2: audio file" in message
    assert "t.jsonl:5: language 'Klingon'" in message and "data.skip_bad_lines=true" in message
    dm = AlignDataModule(
        str(tiny_dir),
        train_manifest=str(manifest),
        val_manifest=str(corpus["val"]),
        skip_bad_lines=True,
    )
    with caplog.at_level(logging.WARNING, logger="alignadapt.data"):
        dm.setup("fit")
    assert len(dm.datasets["train"]) == 4
    assert dm.datasets["train"].lines.tolist() == [1, 3, 4, 6]
    assert "skipping 2 bad line(s)" in caplog.text and "line 2:" in caplog.text
    assert "line 5:" in caplog.text
