"""Small data with a big-data recipe: every manifest checked before the first step, and a
schedule that would never validate or never finish warming up adapts, saying why."""

import json

import pytest

from alignadapt.data.manifest import ManifestError
from alignadapt.training.run import train

pytestmark = pytest.mark.slow


def test_recipe_that_would_never_validate_adapts_and_says_why(make_cfg, capsys):
    # medical_lora's schedule on 12 batches: validation every 400 batches, 100 warm-up steps
    cfg = make_cfg(
        [
            "trainer.max_epochs=1",
            "trainer.val_check_interval=400",
            "trainer.check_val_every_n_epoch=null",
            "model.scheduler.num_warmup_steps=100",
            "test=false",
        ]
    )
    result = train(cfg)
    out = capsys.readouterr().out
    assert (
        "note: validation every 400 batches would never run (12 batches an epoch, 12 optimizer "
        "steps in all): validating at the run's last batch (12) instead" in out
    )
    assert "note: warm-up of 100 steps is not shorter than the run (12 optimizer steps): " in out
    assert "warming up over 1 steps instead" in out
    assert "val/aas_ms" in result.metrics  # it did validate
    names = [p.name for p in (result.outputs["run"] / "checkpoints").iterdir()]
    assert any(n.startswith("step000012-aas") for n in names)


def test_bad_test_manifest_stops_before_the_first_step(make_cfg, corpus, tmp_path):
    lines = [json.loads(x) for x in corpus["test"].read_text().splitlines()[:3]]
    for line in lines:
        line["audio_path"] = str(corpus["test"].parent / line["audio_path"])
    del lines[2]["words"]  # unlabelled: cannot be scored
    bad = tmp_path / "test_bad.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = make_cfg(["trainer.max_steps=2", f"data.test_manifest={bad}"])
    with pytest.raises(ManifestError, match="test_bad.jsonl:3"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # no step was taken
