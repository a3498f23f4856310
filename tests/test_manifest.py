import json

import pytest

from alignadapt.data.manifest import (
    ManifestError,
    check_units,
    index_manifest,
    iter_manifest,
    parse_line,
    read_at,
    write_jsonl,
)


def test_seed_and_richer_forms_read_the_same(tmp_path):
    seed = {"audio_path": "a.wav", "text": "Hello, world!", "timestamps": [[0.1, 0.4], [0.5, 0.9]]}
    rich = {
        "audio_path": "a.wav",
        "text": "Hello, world!",
        "language": "English",
        "duration": 1.2,
        "words": [
            {"word": "Hello", "start": 0.1, "end": 0.4},
            {"word": "world", "start": 0.5, "end": 0.9},
        ],
    }
    a = parse_line(json.dumps(seed), 1, tmp_path / "m.jsonl")
    b = parse_line(json.dumps(rich), 2, tmp_path / "m.jsonl")
    assert a.spans == b.spans == [(0.1, 0.4), (0.5, 0.9)]
    assert a.audio_path == b.audio_path == tmp_path / "a.wav"  # relative to the manifest's folder
    assert (b.language, b.duration, b.line) == ("English", 1.2, 2)


def test_unlabelled_line_has_no_spans(tmp_path):
    utt = parse_line(
        '{"audio_path": "/x/a.wav", "text": "hi there", "timestamps": []}', 3, tmp_path / "m.jsonl"
    )
    assert utt.spans is None and not utt.labelled
    assert str(utt.audio_path) == "/x/a.wav"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "m.jsonl:7: not valid JSON"),
        ('{"text": "hi"}', "m.jsonl:7: no 'audio_path'"),
        ('{"audio_path": "a.wav", "text": "  "}', "m.jsonl:7: empty or missing 'text'"),
        (
            '{"audio_path": "a.wav", "text": "a b", "timestamps": [[0.5, 0.2], [0.6, 0.7]]}',
            "unit 0: ends (0.2) before",
        ),
        (
            '{"audio_path": "a.wav", "text": "a b", "timestamps": [[0.5, 0.6], [0.1, 0.7]]}',
            "unit 1: starts at 0.1",
        ),
        (
            '{"audio_path": "a.wav", "text": "a b", "timestamps": [[-0.1, 0.6], [0.7, 0.8]]}',
            "unit 0: negative time",
        ),
        ('{"audio_path": "a.wav", "text": "a", "timestamps": [[0.1]]}', "malformed timestamps"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    with pytest.raises(ManifestError) as err:
        parse_line(line, 7, tmp_path / "m.jsonl")
    assert message in str(err.value)
    assert err.value.line == 7


def test_unit_count_mismatch_names_line_and_units(tmp_path):
    utt = parse_line(
        '{"audio_path": "a.wav", "text": "a b c", "timestamps": [[0, 1], [1, 2]]}',
        4,
        tmp_path / "m.jsonl",
    )
    with pytest.raises(
        ManifestError,
        match=r"m.jsonl:4: the text splits into 3 units but there are 2 timestamp pairs \(units: a b c\)",
    ):
        check_units(utt, ["a", "b", "c"])


def test_index_reads_lines_lazily_by_offset(tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [{"audio_path": f"{i}.wav", "text": f"word{i}"} for i in range(5)]
    path.write_text(
        "\n".join(json.dumps(x) for x in lines[:2])
        + "\n\n"
        + "\n".join(json.dumps(x) for x in lines[2:])
        + "\n"
    )
    offsets = index_manifest(path)
    assert len(offsets) == 5 and offsets.dtype.itemsize == 8
    assert read_at(path, int(offsets[3]), 5).text == "word3"
    assert [u.line for u in iter_manifest(path)] == [1, 2, 4, 5, 6]


def test_write_is_atomic_and_never_overwrites_without_force(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(FileExistsError, match="pass --force"):
        write_jsonl(path, [{"a": 2}])
    assert path.read_text() == '{"a": 1}\n'
    write_jsonl(path, [{"a": 2}], force=True)
    assert path.read_text() == '{"a": 2}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind
