"""Prove the gain: the base model against adapted models on a held-out manifest.

Usage (every key in conf/evaluate.yaml can be overridden on the command line):

    # the adapter a train.py run saved, against the base it was trained on
    python evaluate.py manifest=data/demo/domain_test.jsonl \
        models.adapted=logs/train/runs/<run>/adapter

    # several models (adapter dir, merged export, checkpoint), both decodings, domain terms
    python evaluate.py manifest=test.jsonl base=Qwen/Qwen3-ForcedAligner-0.6B-hf \
        models.adapted=runs/a/adapter +models.merged=exports/merged \
        +models.step200=runs/a/checkpoints/step000200-aas41.3.ckpt \
        'decodings=[argmax,subclass]' 'terms=[dyspnoea,tachycardia]' device=cuda dtype=bfloat16

    # W&B (offline unless WANDB_MODE=online)
    python evaluate.py manifest=test.jsonl models.adapted=... logger=wandb

Writes one folder (logs/evaluate/runs/<date>_<time>/ or out_dir=...): metrics.json,
table.txt (also printed), words.csv and plots/ (error distribution, error by position in
the utterance, timelines of the worst utterances).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from alignadapt.config import instantiate_group, register_resolvers
from alignadapt.evaluation import run_evaluation

log = logging.getLogger("alignadapt.evaluate")
register_resolvers()


def evaluate(cfg: DictConfig) -> dict:
    """Check the config, run every model, write the report; returns metrics.json's content."""
    out_dir = Path(cfg.out_dir)
    if (out_dir / "metrics.json").exists() and not cfg.force:
        raise FileExistsError(f"{out_dir} already holds a report; pass force=true to replace it")
    terms = list(cfg.terms or [])
    if cfg.terms_file:
        terms += [t.strip() for t in Path(cfg.terms_file).read_text().splitlines() if t.strip()]
    models = {k: v for k, v in (cfg.models or {}).items() if v}
    loggers = instantiate_group(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    settings = {
        key: cfg[key]
        for key in (
            "batch_size",
            "window",
            "window_margin",
            "max_units_per_second",
            "dtype",
            "device",
        )
    }
    return run_evaluation(
        cfg.manifest,
        models,
        cfg.base,
        out_dir,
        decodings=list(cfg.decodings),
        terms=terms,
        settings=settings,
        worst=cfg.worst,
        bootstrap=cfg.bootstrap,
        seed=cfg.seed,
        loggers=loggers,
        naive=cfg.get("naive", True),
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    finally:
        import wandb  # close the W&B run even when evaluation fails

        if wandb.run is not None:
            wandb.finish()


if __name__ == "__main__":
    main()
