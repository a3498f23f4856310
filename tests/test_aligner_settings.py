"""One group of inference settings: conf/aligner/default.yaml, AlignerSettings and the flags of
`alignadapt align` say the same thing; evaluate.py and pseudo_label.py both compose it."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest
from omegaconf import OmegaConf

from alignadapt.cli import align
from alignadapt.inference.aligner import AlignerSettings

from .conftest import CONF, compose_train


def test_the_yaml_the_dataclass_and_the_align_flags_match_one_to_one():
    yaml = OmegaConf.to_container(OmegaConf.load(CONF / "aligner" / "default.yaml"))
    defaults = AlignerSettings()
    assert list(yaml) == [f.name for f in fields(AlignerSettings)]
    assert AlignerSettings.from_config(yaml) == defaults
    parser = argparse.ArgumentParser()
    align.add_arguments(parser)
    args = parser.parse_args(["--model", "m"])
    assert AlignerSettings.from_args(args) == defaults
    flags = {
        a.dest
        for g in parser._action_groups
        if g.title.startswith("aligner")
        for a in g._group_actions
    }
    assert flags == set(yaml)
    args = parser.parse_args(
        [
            "--model",
            "m",
            "--decodings",
            "argmax",
            "subclass",
            "--overlap",
            "1.5",
            "--dtype",
            "bfloat16",
        ]
    )
    settings = AlignerSettings.from_args(args)
    assert (settings.decodings, settings.overlap, settings.dtype) == (
        ["argmax", "subclass"],
        1.5,
        "bfloat16",
    )


@pytest.mark.parametrize("config", ["evaluate", "pseudo_label"])
def test_evaluate_and_pseudo_label_compose_the_same_group(config, tmp_path, shared_dir):
    cfg = compose_train(
        ["aligner.batch_size=3", "aligner.dtype=bfloat16"], tmp_path, shared_dir, config
    )
    settings = AlignerSettings.from_config(cfg.aligner)
    assert (settings.batch_size, settings.dtype, settings.decodings) == (3, "bfloat16", ["argmax"])


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="aligner.decodings must be among"):
        AlignerSettings(decodings=["beam"])
    with pytest.raises(ValueError, match="aligner.dtype must be one of"):
        AlignerSettings(dtype="int8")
    with pytest.raises(ValueError, match="unknown aligner setting.*windw"):
        AlignerSettings.from_config({"windw": 3.0})
