"""The checked index of an unchanged manifest comes from the cache; a changed one is checked again."""

import json
import shutil

import numpy as np
import pytest

from alignadapt.data import datamodule as dm_module
from alignadapt.data.datamodule import ManifestDataset, ManifestProblems
from alignadapt.data.index_cache import cache_root


@pytest.fixture
def counted_checks(monkeypatch):
    """How many lines the real line checker read (0 on a cache hit)."""
    calls = {"lines": 0}
    real = dm_module.inspect_manifest

    def counting(*args, **kwargs):
        for report in real(*args, **kwargs):
            calls["lines"] += 1
            yield report

    monkeypatch.setattr(dm_module, "inspect_manifest", counting)
    return calls


def index_of(dataset):
    return [
        dataset.offsets,
        dataset.lines,
        dataset.durations,
        dataset.segments,
        dataset.segment_units,
        dataset.segment_times,
    ]


def test_unchanged_manifest_is_not_checked_again_and_gives_the_same_index(
    tmp_path, corpus, processor, counted_checks
):
    folder = tmp_path / "data"
    shutil.copytree(corpus["train"].parent, folder)
    manifest = folder / "train.jsonl"
    first = ManifestDataset(manifest, processor)
    first.check(require_labels=True, max_duration=2.5, progress=False)
    assert counted_checks["lines"] == 48
    assert len(list(cache_root().glob("*.npz"))) >= 1
    second = ManifestDataset(manifest, processor)
    second.check(require_labels=True, max_duration=2.5, progress=False)
    assert counted_checks["lines"] == 48  # no line read again
    for a, b in zip(index_of(first), index_of(second), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert len(second) == len(first) > 48  # pieces of long lines come back too
    assert second[5].key == first[5].key and second[5].units == first[5].units

    # other settings are another check
    ManifestDataset(manifest, processor).check(
        require_labels=True, max_duration=30.0, progress=False
    )
    assert counted_checks["lines"] == 96
    # a changed manifest (one line dropped) is checked again
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[1:]))
    third = ManifestDataset(manifest, processor)
    third.check(require_labels=True, max_duration=2.5, progress=False)
    assert counted_checks["lines"] == 96 + 47
    # and the same content in another folder (other audio) is another manifest
    other = tmp_path / "copy"
    shutil.copytree(folder, other)
    ManifestDataset(other / "train.jsonl", processor).check(
        require_labels=True, max_duration=2.5, progress=False
    )
    assert counted_checks["lines"] == 96 + 47 * 2
    # index_cache=False always checks
    ManifestDataset(manifest, processor, index_cache=False).check(
        require_labels=True, max_duration=2.5, progress=False
    )
    assert counted_checks["lines"] == 96 + 47 * 3


def test_skipped_lines_and_warnings_come_back_from_the_cache(tmp_path, corpus, processor):
    folder = tmp_path / "data"
    shutil.copytree(corpus["train"].parent, folder)
    manifest = folder / "train.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    bad = json.loads(lines[2])
    bad["audio_path"] = "missing.wav"
    lines[2] = json.dumps(bad) + "\n"
    manifest.write_text("".join(lines))
    with pytest.raises(ManifestProblems, match="train.jsonl:3: audio file .*missing.wav"):
        ManifestDataset(manifest, processor).check(require_labels=True, progress=False)
    with pytest.raises(ManifestProblems, match="train.jsonl:3"):  # a failure is never cached
        ManifestDataset(manifest, processor).check(require_labels=True, progress=False)
    fresh = ManifestDataset(manifest, processor).check(
        require_labels=True, skip_bad=True, progress=False
    )
    cached_ds = ManifestDataset(manifest, processor)
    cached = cached_ds.check(require_labels=True, skip_bad=True, progress=False)
    assert [str(i) for i in cached] == [str(i) for i in fresh]
    assert any(i.line == 3 and not i.warning for i in cached)
    assert len(cached_ds) == 47 and 3 not in set(cached_ds.lines.tolist())
