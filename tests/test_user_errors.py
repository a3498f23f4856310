"""Errors that say what to do: a missing path names it, a missing GPU points to the CPU
trainer, a mistyped config key gets the closest valid one; one list of audio formats."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from alignadapt.cli import main as cli
from alignadapt.data.audio import AUDIO_SUFFIXES, audio_info, load_audio
from alignadapt.tasks import override_hint, with_hint

from .conftest import ROOT


def test_evaluate_with_a_missing_adapter_names_the_path(tmp_path, monkeypatch, shared_dir):
    from alignadapt.evaluation.run import evaluate

    from .conftest import compose_train

    missing = tmp_path / "does" / "not" / "exist" / "adapter"
    cfg = compose_train(
        [f"manifest={tmp_path / 'm.jsonl'}", f"models.adapted={missing}", f"out_dir={tmp_path}/r"],
        tmp_path,
        shared_dir,
        config_name="evaluate",
    )
    with pytest.raises(FileNotFoundError, match=f"model directory '{missing}' does not exist"):
        evaluate(cfg)


def test_missing_gpu_suggests_the_cpu_trainer():
    err = with_hint(RuntimeError("MisconfigurationException: No supported gpu backend found!"))
    assert "trainer=cpu" in str(err) and "aligner.device=cpu" in str(err)
    other = ValueError("something else")
    assert with_hint(other) is other


def test_mistyped_key_gets_the_closest_valid_one():
    hint = override_hint("train", ["model=tiny", "trainer.max_step=10"])
    assert "no config key 'trainer.max_step'; did you mean trainer.max_steps?" in hint
    assert override_hint("train", ["trainer.max_steps=10"]) is None
    # keys of the chosen groups count: an experiment's own keys are valid
    assert override_hint("evaluate", ["aligner.batchsize=4"]).count("aligner.batch_size") == 1


def test_train_py_prints_the_hint_after_hydras_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "trainer.max_step=10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "did you mean trainer.max_steps?" in result.stderr


@pytest.mark.parametrize("suffix", AUDIO_SUFFIXES)
def test_every_listed_format_is_read(suffix, tmp_path):
    path = tmp_path / f"a{suffix}"
    kind = {".opus": ("OGG", "OPUS"), ".oga": ("OGG", "VORBIS"), ".ogg": ("OGG", "VORBIS")}
    fmt, subtype = kind.get(suffix, (None, None))
    if suffix in (".aif", ".aiff"):
        fmt = "AIFF"
    if suffix == ".mp3":
        fmt, subtype = "MP3", "MPEG_LAYER_III"
    tone = 0.3 * np.sin(np.arange(48_000) / 48_000 * 2 * np.pi * 440).astype(np.float32)
    sf.write(path, tone, 48_000, format=fmt, subtype=subtype)
    assert audio_info(path).duration == pytest.approx(1.0, abs=0.05)
    assert len(load_audio(path)) == pytest.approx(16_000, abs=800)


def test_prepare_pairs_opus_and_names_m4a_as_unreadable(tmp_path, capsys):
    audio, text = tmp_path / "audio", tmp_path / "text"
    audio.mkdir(), text.mkdir()
    sf.write(audio / "a.opus", np.zeros(48_000, np.float32), 48_000, format="OGG", subtype="OPUS")
    (audio / "b.m4a").write_bytes(b"not decodable")
    (text / "a.txt").write_text("hello there\n")
    (text / "b.txt").write_text("general kenobi\n")
    code = cli(["prepare", "folders", str(audio), str(text), "-o", str(tmp_path / "all.jsonl")])
    out = capsys.readouterr().out
    assert code == 0 and "wrote 1 line(s)" in out
    assert "audio files in a format that cannot be read" in out and "b.m4a" in out
    with pytest.raises(ValueError, match=r"b\.m4a: \.m4a audio cannot be read .*ffmpeg"):
        load_audio(audio / "b.m4a")


def test_config_paths_resolve_to_the_project_from_any_folder(tmp_path, monkeypatch):
    """model=demo_base finds models/demo-base and logs go to the project's logs/, whatever the
    current folder; ALIGNADAPT_ROOT moves them."""
    from hydra import compose, initialize_config_dir

    from alignadapt.tasks import register_resolvers

    from .conftest import CONF

    register_resolvers()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALIGNADAPT_ROOT", raising=False)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=demo_base"])
    assert cfg.model.pretrained == str(ROOT / "models" / "demo-base")
    assert cfg.paths.log_dir == f"{ROOT}/logs"
    monkeypatch.setenv("ALIGNADAPT_ROOT", str(tmp_path))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=demo_base"])
    assert cfg.model.pretrained == f"{tmp_path}/models/demo-base"
