"""`alignadapt prepare`: folders paired by stem, TextGrid (MFA output as it is), CTM and NeMo
manifests in; words reconciled with the splitter's units; unpaired files and problems listed."""

import json

import numpy as np
import pytest
import soundfile as sf

from alignadapt.cli import main
from alignadapt.data.importers import ReconcileError, reconcile

SR = 16000


def write_tone(path, seconds=2.0, channels=1, rate=SR, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate, **kwargs)


def read_lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_folders_pair_recursively_list_unpaired_and_report_bad_text(tmp_path, tiny_dir, capsys):
    audio, text = tmp_path / "audio", tmp_path / "text"
    write_tone(audio / "a.wav")
    write_tone(audio / "day1" / "b.flac", seconds=1.5)
    write_tone(audio / "c.ogg", seconds=1.0)
    write_tone(audio / "lonely.wav")
    text.mkdir()
    (text / "a.txt").write_text("The patient, presents.\n", encoding="utf-8")
    (text / "b.txt").write_text("Objection sustained", encoding="utf-8")
    (text / "c.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (text / "orphan.txt").write_text("nobody reads me")
    out = tmp_path / "out" / "m.jsonl"
    code = main(["prepare", "folders", str(audio), str(text), "-o", str(out), "--language", "en"])
    captured = capsys.readouterr()
    assert code == 1  # one transcript could not be read
    lines = read_lines(out)
    assert [x["text"] for x in lines] == ["The patient, presents.", "Objection sustained"]
    assert lines[0] == {  # outside the output's folder: absolute
        "audio_path": str((audio / "a.wav").resolve()),
        "text": "The patient, presents.",
        "language": "en",
        "duration": 2.0,
    }
    assert lines[1]["audio_path"].endswith("audio/day1/b.flac") and lines[1]["duration"] == 1.5
    assert "audio files without a .txt file (1):" in captured.out and "lonely.wav" in captured.out
    assert ".txt files without an audio file (1):" in captured.out and "orphan.txt" in captured.out
    assert f"{text / 'c.txt'}: not UTF-8 text" in captured.err and "iconv" in captured.err
    # an existing output is kept unless --force
    assert main(["prepare", "folders", str(audio), str(text), "-o", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert len(read_lines(out)) == 2
    assert main(["prepare", "folders", str(audio), str(text), "-o", str(out), "--force"]) == 1


MFA_TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.0
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 2.0
        intervals: size = {n}
{intervals}
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 2.0
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 2.0
            text = ""
"""


def textgrid(words):
    body = "".join(
        f'        intervals [{i}]:\n            xmin = {s}\n            xmax = {e}\n            text = "{w}"\n'
        for i, (w, s, e) in enumerate(words, start=1)
    )
    return MFA_TEXTGRID.format(n=len(words), intervals=body)


def test_mfa_textgrid_imports_as_it_is_with_units_reconciled(tmp_path, tiny_dir, capsys):
    audio, grids = tmp_path / "wav", tmp_path / "aligned"
    write_tone(audio / "s1" / "u1.wav")
    write_tone(audio / "u2.wav")
    grids.mkdir()
    words = [
        ("", 0, 0.1),
        ("hello,", 0.1, 0.5),
        ("state-of-the-art", 0.5, 1.2),
        ("sp", 1.2, 1.3),
        ("spn", 1.3, 1.5),
        ("你好", 1.5, 1.9),
        ("", 1.9, 2.0),
    ]
    (grids / "u1.TextGrid").write_text(textgrid(words))
    (grids / "u2.TextGrid").write_text(textgrid([("new york", 0.2, 1.0)]))
    out = tmp_path / "ref.jsonl"
    args = ["prepare", "textgrid", str(audio), str(grids), "-o", str(out), "--model", str(tiny_dir)]
    assert main(args) == 1
    captured = capsys.readouterr()
    (line,) = read_lines(out)
    assert line["text"] == "hello, state-of-the-art 你好"
    assert line["words"] == [
        {"word": "hello", "start": 0.1, "end": 0.5},
        {"word": "stateoftheart", "start": 0.5, "end": 1.2},
        {"word": "你", "start": 1.5, "end": 1.7},
        {"word": "好", "start": 1.7, "end": 1.9},
    ]
    assert f"{grids / 'u2.TextGrid'}: word 'new york'" in captured.err
    assert "would be a guess" in captured.err and "give each unit its own interval" in captured.err
    # the written manifest passes validate as it is
    assert main(["validate", str(out), "--model", str(tiny_dir)]) == 0
    out.unlink()
    assert main([*args, "--tier", "word"]) == 1
    assert "no tier named 'word' (tiers: words, phones)" in capsys.readouterr().err


def test_reconcile_reports_order_and_silence_only(processor):
    split = processor.split_words_for_alignment
    with pytest.raises(ReconcileError, match="starts at 0.2, before the word before it"):
        reconcile([("a", 0.5, 0.6), ("b", 0.2, 0.3)], split, None)
    with pytest.raises(ReconcileError, match="no words, only silence"):
        reconcile([("sil", 0, 1), ("", 1, 2), ("SP", 2, 3)], split, None)
    text, units, spans = reconcile([("中文", 1.0, 1.6), ("!", 1.6, 1.7)], split, "Chinese")
    assert (text, units) == ("中文 !", ["中", "文"])
    assert spans == [pytest.approx((1.0, 1.3)), (1.3, 1.6)]


def test_ctm_honours_channels_and_file_relative_times(tmp_path, tiny_dir, capsys):
    audio = tmp_path / "audio"
    write_tone(audio / "call.wav", seconds=3.0, channels=2)
    write_tone(audio / "mono.flac", seconds=2.0)
    ctm = tmp_path / "words.ctm"
    ctm.write_text(
        ";; a comment\n"
        "call A 0.20 0.30 hello 0.99\n"
        "call A 0.60 0.40 there\n"
        "call B 1.00 0.50 yes\n"
        "mono 1 0.10 0.20 one\n"
        "mono 1 2.50 0.20 late\n"
        "ghost 1 0.0 0.5 boo\n"
    )
    out = tmp_path / "ctm.jsonl"
    code = main(["prepare", "ctm", str(audio), str(ctm), "-o", str(out), "--model", str(tiny_dir)])
    captured = capsys.readouterr()
    assert code == 1
    lines = read_lines(out)
    assert [(x["text"], x.get("channel")) for x in lines] == [("hello there", 0), ("yes", 1)]
    assert lines[0]["words"] == [
        {"word": "hello", "start": 0.2, "end": 0.5},
        {"word": "there", "start": 0.6, "end": 1.0},
    ]
    assert (
        "(mono, channel 1): the last word ends at 2.700 s, after the audio (2.000 s)"
        in captured.err
    )
    assert "segment offsets" in captured.err
    assert "CTM utterances with no audio file of that stem (1):\n  ghost" in captured.out


def test_nemo_manifest_comes_in_unlabelled_and_inputs_are_never_overwritten(tmp_path, capsys):
    write_tone(tmp_path / "clips" / "x.wav", seconds=1.25)
    nemo = tmp_path / "nemo.json"
    rows = [
        {"audio_filepath": "clips/x.wav", "duration": 1.25, "text": "hello world"},
        {"audio_filepath": "clips/missing.wav", "duration": 1.0, "text": "where"},
        {"audio_filepath": "clips/x.wav", "duration": 0.5, "offset": 0.5, "text": "piece"},
    ]
    nemo.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "m.jsonl"
    assert main(["prepare", "nemo", str(nemo), "-o", str(out), "--language", "English"]) == 1
    captured = capsys.readouterr()
    assert read_lines(out) == [
        {
            "audio_path": "clips/x.wav",
            "text": "hello world",
            "language": "English",
            "duration": 1.25,
        }
    ]
    assert f"{nemo}:2: audio file" in captured.err and "does not exist" in captured.err
    assert f"{nemo}:3: has an 'offset'" in captured.err
    before = nemo.read_text()
    assert main(["prepare", "nemo", str(nemo), "-o", str(nemo), "--force"]) == 2
    assert "is an input" in capsys.readouterr().err and nemo.read_text() == before
