"""Every config composes; what a GPU needs is checked by its resolved values."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from alignadapt.model.architecture import meta_aligner, real_config
from alignadapt.model.lora import LoraSpec, apply_lora, count_parameters
from alignadapt.model.timing import longest_item

from .conftest import CONF, compose_train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GROUPS = {
    g: sorted(p.stem for p in (CONF / g).glob("*.yaml"))
    for g in ("trainer", "logger", "lora", "model", "data")
}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment, tmp_path, shared_dir):
    cfg = compose_train([f"experiment={experiment}"], tmp_path, shared_dir)
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert container["model"]["_target_"] in (
        "alignadapt.training.module.AlignerModule",
        "alignadapt.demo.tiny.TinyAlignerModule",
    )
    assert container["data"]["_target_"] == "alignadapt.data.datamodule.AlignDataModule"
    assert (container["data"].get("source") or {}).get("_target_") in (
        None,
        "alignadapt.data.shard_source.ShardSource",
        "alignadapt.demo.synthetic.SyntheticSource",
        "alignadapt.demo.stream.BroadSource",
    )
    LoraSpec(**container["lora"])


def test_an_experiments_rank_applies_to_the_preset_chosen_and_lora_none_trains_everything(
    tmp_path, shared_dir
):
    """demo_lora sets r=16 after its preset: another preset gets that rank too, and
    `lora=none` (r 0 in its file, 16 after the experiment) still means the whole model."""

    def spec(*overrides: str) -> LoraSpec:
        cfg = compose_train(["experiment=demo_lora", *overrides], tmp_path, shared_dir)
        return LoraSpec(**OmegaConf.to_container(cfg.lora, resolve=True))

    default, attn, none = spec(), spec("lora=decoder_attn"), spec("lora=none")
    assert (default.name, default.r, default.alpha, default.full) == (
        "decoder_audio",
        16,
        64,
        False,
    )
    assert (attn.name, attn.r, attn.full) == ("decoder_attn", 16, False)
    assert (none.name, none.r, none.full) == ("none", 16, True)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, opts in GROUPS.items() for o in opts])
def test_every_group_option_composes(group, option, tmp_path, shared_dir):
    cfg = compose_train([f"{group}={option}"], tmp_path, shared_dir)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def test_medical_lora_is_the_reference_recipe(tmp_path, shared_dir):
    cfg = compose_train(["experiment=medical_lora"], tmp_path, shared_dir)
    assert cfg.model.pretrained == "Qwen/Qwen3-ForcedAligner-0.6B-hf"
    assert (cfg.trainer.max_epochs, cfg.trainer.accumulate_grad_batches) == (5, 2)
    assert (cfg.trainer.val_check_interval, cfg.trainer.check_val_every_n_epoch) == (400, None)
    assert cfg.data.batch_size == 4 and cfg.data.max_duration is None  # derived at setup:
    config = real_config()  # the model's longest call, the official pipeline's 180 s
    assert longest_item(config.num_labels, config.timestamp_segment_time) == 180.0
    assert cfg.model.dtype == "bfloat16" and cfg.model.gradient_checkpointing is True
    assert cfg.model.head_dropout == 0.0  # the released head has no dropout
    assert cfg.model.optimizer.lr == 1e-4 and cfg.model.scheduler.num_warmup_steps == 100
    assert cfg.callbacks.model_checkpoint.save_top_k == 2
    assert cfg.callbacks.model_checkpoint.every_n_train_steps is None  # saved at each validation
    assert cfg.callbacks.model_checkpoint.monitor == "val/aas_ms"
    assert cfg.callbacks.model_checkpoint.auto_insert_metric_name is False
    assert "/" not in cfg.callbacks.model_checkpoint.filename.replace("{val/aas_ms", "")
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "gpu"
    assert OmegaConf.is_missing(cfg.data, "train_manifest")
    # Its LoRA preset on the real architecture (meta device): 112 modules, 2,293,760 parameters.
    spec = LoraSpec(**OmegaConf.to_container(cfg.lora))
    assert (spec.r, spec.alpha, spec.dropout, spec.train_head) == (8, 32, 0.1, False)
    model = apply_lora(meta_aligner().requires_grad_(False), spec)
    assert count_parameters(model)[0] == 2_293_760


@pytest.mark.parametrize("precision", ["32", "bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_cpu"])
def test_trainer_variants_resolve(trainer, precision, tmp_path, shared_dir):
    cfg = compose_train(
        [f"trainer={trainer}", f"trainer.precision={precision}"], tmp_path, shared_dir
    )
    expected = {
        "cpu": ("cpu", 1, None),
        "gpu": ("gpu", 1, None),
        "ddp": ("gpu", -1, "ddp"),
        "ddp_cpu": ("cpu", 2, "ddp_spawn"),
    }
    assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.get("strategy")) == expected[
        trainer
    ]
    assert str(cfg.trainer.precision) == precision
    if trainer == "ddp":
        assert cfg.trainer.num_nodes == 1
    if trainer in ("cpu", "ddp_cpu") and precision != "16-mixed":  # what this machine can run
        t = instantiate(
            cfg.trainer, logger=False, enable_checkpointing=False, enable_progress_bar=False
        )
        assert t.num_devices == (2 if trainer == "ddp_cpu" else 1)


def test_wandb_is_offline_unless_the_environment_says_online(tmp_path, shared_dir, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert compose_train(["logger=wandb"], tmp_path, shared_dir).logger.wandb.offline is True
    monkeypatch.setenv("WANDB_MODE", "online")
    assert compose_train(["logger=wandb"], tmp_path, shared_dir).logger.wandb.offline is False
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert (
        compose_train(
            ["logger=wandb", "logger.wandb.offline=false"], tmp_path, shared_dir
        ).logger.wandb.offline
        is False
    )


def test_no_config_holds_a_secret():
    for path in Path(CONF).rglob("*.yaml"):
        text = path.read_text().lower()
        assert "api_key:" not in text and "wandb_api_key=" not in text, path


@pytest.mark.parametrize("logger", GROUPS["logger"])
def test_every_logger_instantiates_offline(logger, tmp_path, shared_dir, monkeypatch):
    from alignadapt.tasks import instantiate_group

    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_train([f"logger={logger}"], tmp_path, shared_dir)
    loggers = instantiate_group(cfg.get("logger"))
    names = {"csv": ["CSVLogger"], "wandb": ["WandbLogger"], "none": []}[logger]
    assert [type(lg).__name__ for lg in loggers] == names
    for lg in loggers:
        assert str(tmp_path) in str(lg.save_dir)


def test_instantiate_model_config_alone_builds_a_working_module(tmp_path, shared_dir):
    """No injection by train.py: the LoRA preset comes through `lora: ${lora}`, the tiny
    aligner is built by the module's own target on first use."""
    from alignadapt.training.module import AlignerModule

    cfg = compose_train(["model=tiny", "lora=decoder_attn_mlp"], tmp_path, shared_dir)
    cfg.model.pretrained = str(tmp_path / "fresh-tiny")
    module = instantiate(cfg.model, _convert_="all")
    assert isinstance(module, AlignerModule) and (tmp_path / "fresh-tiny" / "config.json").exists()
    assert module.lora.name == "decoder_attn_mlp" and module.trainable < module.total


@pytest.mark.parametrize("name", ["tiny", "demo_base"])
def test_small_model_configs_inherit_the_real_one_and_state_only_what_differs(name):
    own = OmegaConf.to_container(OmegaConf.load(CONF / "model" / f"{name}.yaml"))
    real = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "qwen3_fa_0.6b.yaml"))
    assert own.pop("defaults") == ["qwen3_fa_0.6b", "_self_"]
    for key, value in own.items():
        if isinstance(value, dict):
            same = [k for k in value if value[k] == real.get(key, {}).get(k)]
            assert not same, f"{name}.yaml restates {key}.{same}"
        else:
            assert value != real.get(key), f"{name}.yaml restates {key}"
