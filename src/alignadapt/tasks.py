"""What every Hydra entry point shares: resolvers, building callback and logger groups, and
the task wrapper that closes loggers and says where the outputs went.

train.py, evaluate.py and pseudo_label.py are a few lines each: `@hydra.main` around
`run_task(body, cfg)`, where the body (`alignadapt.training.run.train`,
`alignadapt.evaluation.run.evaluate`, `alignadapt.inference.pseudo.pseudo_label`) returns a
`TaskResult`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _wandb_offline() -> bool:
    # WandbLogger(offline=True) overrides WANDB_MODE, so the default must come from it.
    return os.environ.get("WANDB_MODE", "offline").lower() not in ("online", "run")


PROJECT = Path(__file__).resolve().parents[2]  # the checkout: conf/, train.py, models/, ...


def project_root() -> str:
    """The folder holding conf/ (and train.py, models/, data/, logs/), so that a run finds the
    shipped demo base and writes its logs there from whatever folder it is started in; the
    current folder when alignadapt is installed without its project folder."""
    return str(PROJECT if (PROJECT / "conf").is_dir() else Path.cwd())


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", _wandb_offline)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", project_root)


register_resolvers()


class _DropTips(logging.Filter):
    """Lightning advertises its cloud logger ("💡 Tip: ... litlogger") on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party() -> None:
    """Silence the third-party lines a user cannot act on, each by its exact source and text:
    Lightning's litlogger advertisement (a filter on the one logger that emits it) and
    Lightning's use of torch's deprecated `LeafSpec` (a FutureWarning from Lightning's
    `_pytree` module only). Everything else from those libraries still shows."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in rank_zero.filters):
        rank_zero.addFilter(_DropTips())
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


quiet_third_party()


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Every `_target_` entry of a callbacks or logger group (None or {} gives none)."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


@dataclass
class TaskResult:
    """What a task hands back: its metrics (for sweeps) and the paths a person looks at next."""

    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)  # what -> where


def close_loggers() -> None:
    """Finish the W&B run, if one is open, so a failed task does not leave it "running"."""
    wandb = sys.modules.get("wandb")  # imported only if a task used it
    if wandb is not None and wandb.run is not None:
        wandb.finish()


# What an error from a missing accelerator says, and what to do instead.
NO_GPU = (
    "No supported gpu backend found",
    "can not run on your system",
    "Found no NVIDIA driver",
    "Torch not compiled with CUDA",
    "no CUDA GPUs are available",
)
NO_GPU_HINT = (
    "\nThis machine has no usable GPU: train.py and pseudo_label.py run on the CPU with "
    "trainer=cpu, evaluate.py and pseudo_label.py with aligner.device=cpu (and no bf16: "
    "aligner.dtype=float32, trainer.precision=32)."
)


def with_hint(err: BaseException) -> BaseException:
    """The same error with what to do appended, for the errors whose own text does not say."""
    text = str(err)
    if any(marker in text for marker in NO_GPU) and "trainer=cpu" not in text:
        return RuntimeError(f"{text}{NO_GPU_HINT}")
    return err


def run_task(body: Callable[[DictConfig], TaskResult | None], cfg: DictConfig) -> TaskResult:
    """Run a task body, close its loggers whatever happens, print where its outputs are.

    Relative paths in the config are from the folder the command runs in, except those built
    from `paths.root_dir` (the project: data/, logs/, .cache/, models/), which is the
    ALIGNADAPT_ROOT environment variable or else the folder holding conf/.
    """
    try:
        result = body(cfg) or TaskResult()
    except Exception as err:
        hinted = with_hint(err)
        if hinted is err:
            raise
        raise hinted from err
    finally:
        close_loggers()
    for what, path in result.outputs.items():  # absolute: the run may have been started anywhere
        print(f"{what}: {Path(path).resolve()}")
    return result


def run_main(main: Callable[[], Any], config_name: str, argv: list[str] | None = None) -> None:
    """Call an entry point's @hydra.main function; when Hydra rejects the command line because
    a key does not exist (`trainer.max_step=10`), also print the closest valid key."""
    try:
        main()
    except SystemExit as stop:
        if stop.code not in (0, None):
            hint = override_hint(config_name, sys.argv[1:] if argv is None else argv)
            if hint:
                print(hint, file=sys.stderr)
        raise


def override_hint(config_name: str, argv: list[str]) -> str | None:
    """'no config key X; did you mean Y?' for the first override naming a key the composed
    config (with the command line's group choices) does not have."""
    import difflib

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = PROJECT / "conf"
    pairs = [a.split("=", 1) for a in argv if "=" in a and not a.startswith(("-", "+", "~"))]
    groups = [f"{k}={v}" for k, v in pairs if "." not in k and (conf / k).is_dir()]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=groups)
    except Exception:  # the group choices themselves are wrong: Hydra's message says which
        return None
    finally:
        GlobalHydra.instance().clear()
    keys = sorted(_all_keys(cfg))
    for key, _ in pairs:
        if "." in key and not key.startswith("hydra.") and key not in keys:
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            guess = f"did you mean {close[0]}? " if close else ""
            return (
                f"{config_name}.py: no config key {key!r}; {guess}(a new key needs a leading "
                f"+, e.g. +{key}=...; `python {config_name}.py --cfg job` prints every key)"
            )
    return None


def _all_keys(cfg: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(cfg, DictConfig):
        for k in cfg:
            name = f"{prefix}{k}"
            keys.add(name)
            keys |= _all_keys(cfg._get_node(k), f"{name}.")
    return keys
