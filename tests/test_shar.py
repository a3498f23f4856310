"""Shar shards: a manifest out and back exactly (local folder and a real S3 server on
127.0.0.1), the streaming reader (own shards per rank, resume, retries on a failing store)."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from alignadapt.cli import main as cli
from alignadapt.data.audio import load_audio
from alignadapt.data.importers import ImportProblem
from alignadapt.data.manifest import iter_manifest, to_record, write_jsonl
from alignadapt.data.shar import INDEX, check_location, read_index, read_shards, write_shards
from alignadapt.data.shar_stream import ShardReadError, ShardStream
from alignadapt.model.prompt import split_units

from .s3_server import S3Server


@pytest.fixture
def split(processor):
    return lambda text, language: split_units(processor, text, language)


@pytest.fixture
def labelled(tmp_path, corpus):
    """The synthetic training manifest with a speaker per line, one stereo line using its
    second channel, one bad line (missing audio) and one seed-form line (timestamps only)."""
    folder = tmp_path / "src"
    shutil.copytree(corpus["train"].parent, folder)
    lines = [json.loads(x) for x in (folder / "train.jsonl").read_text().splitlines()]
    for i, line in enumerate(lines):
        line["speaker"] = f"spk{i % 3}"
    mono = load_audio(folder / lines[1]["audio_path"])
    stereo = np.stack([np.zeros_like(mono), mono], axis=1)
    sf.write(folder / "stereo.wav", (stereo * 0.5), 16000, subtype="PCM_16")
    lines[1]["audio_path"], lines[1]["channel"] = "stereo.wav", 1
    lines[2]["audio_path"] = "missing.wav"
    lines[3]["timestamps"] = [[w["start"], w["end"]] for w in lines[3].pop("words")]
    manifest = folder / "train.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def expected_records(manifest, split):
    """What reading the shards back must give: the checked lines in alignadapt's form."""
    out = []
    for number, utt in enumerate(iter_manifest(manifest), start=1):
        if number == 3:
            continue
        raw = json.loads(manifest.read_text().splitlines()[number - 1])
        record = to_record(utt, split(utt.text, utt.language))
        record.pop("audio_path")
        record.pop("channel", None)
        record["duration"] = round(sf.info(str(utt.audio_path)).duration, 4)
        record["speaker"] = raw["speaker"]
        out.append((record, load_audio(utt.audio_path, channel=utt.channel)))
    return out


def test_manifest_to_local_shards_and_back_exactly(tmp_path, labelled, split):
    index, issues = write_shards(labelled, tmp_path / "shards", split, shard_size=10)
    assert [str(i).split(": ")[0] for i in issues if not i.warning] == [f"{labelled}:3"]
    assert index.num_shards == 5 and index.counts == [10, 10, 10, 10, 7]
    names = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert names[0] == INDEX and "cuts.000004.jsonl.gz" in names and "recording.000004.tar" in names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shards-")]  # no leftovers
    with pytest.raises(FileExistsError, match="--force"):
        write_shards(labelled, tmp_path / "shards", split)

    problems: list[ImportProblem] = []
    back = tmp_path / "back"
    write_jsonl(
        back / "train.jsonl",
        read_shards(tmp_path / "shards", back, back / "audio", split, problems),
    )
    assert problems == []
    got = [json.loads(x) for x in (back / "train.jsonl").read_text().splitlines()]
    want = expected_records(labelled, split)
    assert len(got) == len(want) == 47
    for record, (expected, audio) in zip(got, want, strict=True):
        path = back / record.pop("audio_path")
        assert record == expected
        assert np.array_equal(load_audio(path), audio)  # lossless, the chosen channel only


def test_shards_on_a_real_s3_server_through_the_cli(tmp_path, labelled, tiny_dir, capsys):
    with S3Server() as s3:
        s3.make_bucket("corpus")
        url = "s3://corpus/train"
        code = cli(
            ["shards", "write", str(labelled), url, "--model", str(tiny_dir), "--shard-size", "16"]
        )
        assert code == 1  # one line left out
        out, err = capsys.readouterr()
        assert "wrote 47 cut(s)" in out and f"{labelled}:3" in err
        assert s3.keys("corpus") == [
            f"train/{name}"
            for name in [
                INDEX,
                "cuts.000000.jsonl.gz",
                "cuts.000001.jsonl.gz",
                "cuts.000002.jsonl.gz",
                "recording.000000.tar",
                "recording.000001.tar",
                "recording.000002.tar",
            ]
        ]
        assert cli(["shards", "write", str(labelled), url, "--model", str(tiny_dir)]) == 2
        assert "exists; pass --force" in capsys.readouterr().err
        out_manifest = tmp_path / "back" / "train.jsonl"
        code = cli(["shards", "read", url, "-o", str(out_manifest), "--model", str(tiny_dir)])
        assert code == 0
    lines = [json.loads(x) for x in out_manifest.read_text().splitlines()]
    source = [json.loads(x) for x in labelled.read_text().splitlines()]
    assert [x["text"] for x in lines] == [x["text"] for i, x in enumerate(source) if i != 2]
    assert all((tmp_path / "back" / x["audio_path"]).exists() for x in lines)


def test_credentials_in_a_url_are_refused_and_missing_shards_explained(tmp_path):
    with pytest.raises(ValueError, match="carries credentials") as err:
        check_location("s3://AKIAKEY:secret@bucket/corpus")
    assert "secret" not in str(err.value) and "AKIAKEY" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="alignadapt shards write"):
        read_index(tmp_path)


def stream_of(location, processor, rank=0, world=1, skip=0, **kw):
    stream = ShardStream(
        read_index(location),
        processor,
        max_seconds=8.0,
        num_buckets=4,
        buffer_size=16,
        seed=5,
        retry_backoff=0.0,
        **kw,
    )
    stream.rank, stream.world_size, stream.skip_batches = rank, world, skip
    return stream


def take(stream, n):
    out = []
    for batch in stream:
        out.append(batch)
        if len(out) == n:
            return out
    return out


def keys(batches):
    return [[e.key for e in b] for b in batches]


def test_each_rank_reads_its_own_shards_and_a_resume_continues_exactly(
    tmp_path, labelled, split, processor
):
    from alignadapt.data.shar import iter_cuts

    write_shards(labelled, tmp_path / "shards", split, shard_size=6)  # 8 shards
    index = read_index(tmp_path / "shards")
    sources = [{c.custom["source"] for c in iter_cuts(index, [s], audio=False)} for s in range(8)]
    for rank in range(2):
        stream = stream_of(tmp_path / "shards", processor, rank, 2)
        own = [stream.shards_of_pass(p, rank, 2) for p in (0, 1)]
        other = stream.shards_of_pass(0, 1 - rank, 2)
        assert len(own[0]) == 4 and set(own[0]).isdisjoint(other)  # its own half in a pass
        allowed = set().union(*(sources[s] for s in own[0] + own[1]))
        batches = take(stream, 8)
        got = {k.split("@")[0] for b in keys(batches) for k in b}
        assert len(got) > 8 and got <= allowed
        assert all(e.audio.size and len(e.units) == len(e.spans) for b in batches for e in b)
    full = take(stream_of(tmp_path / "shards", processor), 10)
    resumed = take(stream_of(tmp_path / "shards", processor, skip=4), 6)
    assert keys(resumed) == keys(full)[4:]
    for a, b in zip(full[4:], resumed, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.audio, y.audio) and x.spans == y.spans


def test_a_failing_store_is_retried_and_the_stream_is_unchanged(
    tmp_path, labelled, split, processor
):
    with S3Server() as s3:
        s3.make_bucket("corpus")
        write_shards(labelled, "s3://corpus/train", split, shard_size=6, progress=False)
        clean = keys(take(stream_of("s3://corpus/train", processor), 6))
        s3.fail(after=2, count=1, kind="error")  # a 500 from the server
        assert keys(take(stream_of("s3://corpus/train", processor), 6)) == clean
        s3.fail(after=3, count=2, kind="drop")  # two dropped connections in a row
        assert keys(take(stream_of("s3://corpus/train", processor, read_retries=2), 6)) == clean
        assert s3.faults.failed == 3
        s3.fail(after=1, count=100, kind="drop")  # the store stays unreachable
        with pytest.raises(
            ShardReadError, match=r"recording\.0000\d\d\.tar failed 2 times.*ckpt_path"
        ):
            take(stream_of("s3://corpus/train", processor, read_retries=1), 6)


def test_resume_with_two_loader_workers_continues_exactly(tmp_path, labelled, split, processor):
    """Workers take turns (batch k comes from worker k % 2): each skips its own share."""
    from torch.utils.data import DataLoader

    write_shards(labelled, tmp_path / "shards", split, shard_size=6, progress=False)

    def loader(skip):
        stream = stream_of(tmp_path / "shards", processor, skip=skip)
        return DataLoader(stream, batch_size=None, num_workers=2, collate_fn=lambda b: b)

    full = take(loader(0), 9)
    resumed = take(loader(3), 6)
    assert keys(resumed) == keys(full)[3:]


def test_shar_datamodule_states_what_it_needs(tmp_path, labelled, split, tiny_dir, corpus):
    from types import SimpleNamespace

    from alignadapt.data.datamodule import AlignDataModule
    from alignadapt.data.shard_source import ShardSource

    def shards(**kw):
        source = ShardSource(str(tmp_path / "shards"), summed_seconds=8.0)
        return AlignDataModule(str(tiny_dir), source=source, **kw)

    write_shards(labelled, tmp_path / "shards", split, shard_size=20, progress=False)  # 3 shards
    dm = shards(val_manifest=str(corpus["val"]), max_duration=6.0, num_workers=2)
    dm.trainer = SimpleNamespace(max_steps=-1, world_size=1, global_rank=0)
    with pytest.raises(ValueError, match="set trainer.max_steps"):
        dm.setup("fit")
    dm.trainer = SimpleNamespace(max_steps=10, world_size=2, global_rank=0)
    dm.setup("fit")
    with pytest.raises(ValueError, match="3 shard\\(s\\) for 4 readers"):
        dm.train_dataloader()  # 2 ranks x 2 workers
    with pytest.raises(ValueError, match="2 rank\\(s\\) x 2 worker\\(s\\), this run on 1 x 3"):
        shards(num_workers=3).load_state_dict(
            {"batches": 5, "world_size": 2, "num_workers": 2, "train_shards": "x"}
        )
    dm.num_workers = 1
    dm.load_state_dict({"batches": 5, "world_size": 2, "num_workers": 1, "train_shards": "x"})
    assert dm.train_dataloader().dataset.skip_batches == 5


def test_a_budget_larger_than_the_buffer_still_makes_batches(tmp_path, labelled, split, processor):
    """Partial buckets are batched rather than the stream ending (Lhotse's sampler with
    sync_buckets=False ended at once here)."""
    write_shards(labelled, tmp_path / "shards", split, shard_size=6, progress=False)
    stream = ShardStream(
        read_index(tmp_path / "shards"), processor, max_seconds=60.0, buffer_size=8
    )
    batches = take(stream, 4)
    assert len(batches) == 4 and all(1 <= len(b) <= 8 for b in batches)
