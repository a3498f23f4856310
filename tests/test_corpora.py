"""Corpora in: Lhotse cut manifests / recipe manifests with word alignments, and Hugging Face
datasets with a words column, as manifests reconciled to the aligner's units."""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from alignadapt.cli import main as cli
from alignadapt.data.audio import load_audio


def corpus_lines(corpus, n=3):
    return [json.loads(x) for x in corpus["train"].read_text().splitlines()[:n]]


def test_lhotse_cuts_and_recipe_manifests_import(tmp_path, corpus, tiny_dir, capsys):
    from lhotse import CutSet, MonoCut, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.supervision import AlignmentItem

    lines = corpus_lines(corpus)
    recordings, supervisions, cuts = [], [], []
    for i, line in enumerate(lines):
        rec = Recording.from_file(corpus["train"].parent / line["audio_path"], recording_id=f"r{i}")
        words = line["words"]
        items = [AlignmentItem("", 0.0, words[0]["start"])]  # MFA's silence interval
        items += [AlignmentItem(w["word"], w["start"], w["end"] - w["start"]) for w in words]
        sup = SupervisionSegment(
            f"s{i}",
            f"r{i}",
            0.0,
            rec.duration,
            text=line["text"],
            language="English",
            speaker=f"spk{i}",
            alignment={"word": items},
        )
        recordings.append(rec)
        supervisions.append(sup)
        cuts.append(MonoCut(f"c{i}", 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    # cut 2: a recording whose supervision covers it from the second word on (times in the
    # recording's frame, as recipes write them): the line is that stretch of audio alone
    offset = lines[1]["words"][1]["start"] - 0.05
    kept = lines[1]["words"][1:]
    part_sup = SupervisionSegment(
        "s1-part",
        "r1",
        offset,
        recordings[1].duration - offset,
        text=" ".join(w["word"] for w in kept),
        language="English",
        alignment={
            "word": [AlignmentItem(w["word"], w["start"], w["end"] - w["start"]) for w in kept]
        },
    )
    segment = MonoCut(
        "c1", 0.0, recordings[1].duration, 0, recording=recordings[1], supervisions=[part_sup]
    )
    # cut 3: an alignment that is not its text
    bad = cuts[2].supervisions[0]
    bad.alignment = {"word": bad.alignment["word"][:-1]}
    CutSet.from_cuts([cuts[0], segment, cuts[2]]).to_file(tmp_path / "cuts.jsonl.gz")

    out = tmp_path / "out" / "ref.jsonl"
    args = ["prepare", "lhotse", "--cuts", str(tmp_path / "cuts.jsonl.gz"), "-o", str(out)]
    assert cli([*args, "--model", str(tiny_dir)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'cuts.jsonl.gz'}:3 (cut c2): the text splits into" in err
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 2
    first, second = got
    assert (out.parent / first["audio_path"]).resolve() == (
        corpus["train"].parent / lines[0]["audio_path"]
    ).resolve()  # a whole file is used where it is
    assert first["words"] == lines[0]["words"] and first["speaker"] == "spk0"
    assert first["text"] == lines[0]["text"] and first["language"] == "English"
    # the segment: its own audio file, times from the supervision's start
    assert second["audio_path"].startswith("audio/") and second["text"] == part_sup.text
    whole = load_audio(corpus["train"].parent / lines[1]["audio_path"])
    part = load_audio(out.parent / second["audio_path"])
    start = round(offset * 16000)
    assert abs(len(part) - (len(whole) - start)) <= 1
    assert np.abs(part[:1000] - whole[start : start + 1000]).max() < 1e-3
    assert second["words"] == [
        {
            "word": w["word"],
            "start": round(w["start"] - offset, 4),
            "end": round(w["end"] - offset, 4),
        }
        for w in kept
    ]

    # the recipe form: recordings + supervisions manifests
    RecordingSet.from_recordings(recordings[:2]).to_file(tmp_path / "recs.jsonl.gz")
    SupervisionSet.from_segments(supervisions[:2]).to_file(tmp_path / "sups.jsonl.gz")
    out2 = tmp_path / "out" / "recipe.jsonl"
    code = cli(
        [
            "prepare",
            "lhotse",
            "--recordings",
            str(tmp_path / "recs.jsonl.gz"),
            "--supervisions",
            str(tmp_path / "sups.jsonl.gz"),
            "-o",
            str(out2),
            "--model",
            str(tiny_dir),
        ]
    )
    assert code == 0
    recipe = [json.loads(x) for x in out2.read_text().splitlines()]
    assert [r["words"] for r in recipe] == [lines[0]["words"], lines[1]["words"]]


def hf_folder(tmp_path, rows):
    """A dataset folder as the hub lays it out: parquet with an Audio feature in its metadata."""
    features = {
        "audio": {"_type": "Audio"},
        "text": {"dtype": "string", "_type": "Value"},
        "words": {
            "_type": "List",
            "feature": {
                "word": {"dtype": "string", "_type": "Value"},
                "start": {"dtype": "float64", "_type": "Value"},
                "end": {"dtype": "float64", "_type": "Value"},
            },
        },
    }
    table = pa.table(
        {"audio": [r[0] for r in rows], "text": [r[1] for r in rows], "words": [r[2] for r in rows]}
    )
    table = table.replace_schema_metadata(
        {"huggingface": json.dumps({"info": {"features": features}})}
    )
    folder = tmp_path / "hf" / "data"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "train-00000-of-00001.parquet")
    return folder.parent


def test_hugging_face_dataset_with_words_imports(tmp_path, corpus, tiny_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # datasets' cache, not the user's
    lines = corpus_lines(corpus, 2)
    rows = []
    for line in lines:
        audio, rate = sf.read(corpus["train"].parent / line["audio_path"], dtype="int16")
        buffer = io.BytesIO()
        sf.write(buffer, audio, rate, format="FLAC", subtype="PCM_16")
        rows.append(({"bytes": buffer.getvalue(), "path": None}, line["text"], line["words"]))
    rows[1] = (rows[1][0], rows[1][1], [{"word": "x", "start": 0.1}])  # no end
    folder = hf_folder(tmp_path, rows)
    out = tmp_path / "out" / "hf.jsonl"
    code = cli(
        [
            "prepare",
            "hf",
            str(folder),
            "--split",
            "train",
            "-o",
            str(out),
            "--model",
            str(tiny_dir),
            "--language",
            "English",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{folder}[train] row 1: 'words' is not a list of {{word, start, end}}" in err
    (got,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert got["words"] == lines[0]["words"] and got["language"] == "English"
    assert np.array_equal(
        load_audio(out.parent / got["audio_path"]),
        load_audio(corpus["train"].parent / lines[0]["audio_path"]),
    )
