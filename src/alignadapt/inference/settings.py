"""How a model is run for timestamps: one settings object for every caller.

`AlignerSettings` is the `aligner` group of evaluate.py and pseudo_label.py
(`conf/aligner/default.yaml`, `aligner.KEY=...`), the flags of `alignadapt align` (`--KEY`)
and what long validation and the benches build in code; the help text lives here once.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

from ..model.decoding import DECODINGS
from ..model.timing import OFFICIAL_CALL_SECONDS

DTYPES = ("float32", "bfloat16", "float16")


def _setting(default, help: str, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class AlignerSettings:
    """How a model is run to get timestamps, and when its answer is trusted."""

    decodings: list[str] = _setting(
        None, "argmax, subclass and/or monotonic; the first one is written out", lambda: ["argmax"]
    )
    batch_size: int = _setting(8, "utterances per forward pass")
    dtype: str = _setting("float32", "float32, bfloat16 or float16 (halves memory on a GPU)")
    device: str = _setting("cpu", "cpu, cuda, cuda:1, ...")
    window: float = _setting(
        OFFICIAL_CALL_SECONDS,
        "seconds of audio per call at most; longer recordings are cut at pauses",
    )
    overlap: float = _setting(1.0, "seconds a piece's call reaches into its neighbours")
    flag_gap: float = _setting(10.0, "seconds with no word that are flagged as a gap")
    min_confidence: float = _setting(
        0.1, "an alignment less sure than this on average is not trusted (flagged)"
    )

    def __post_init__(self) -> None:
        if isinstance(self.decodings, str):
            self.decodings = [self.decodings]
        self.decodings = list(self.decodings)
        bad = [d for d in self.decodings if d not in DECODINGS]
        if bad or not self.decodings:
            raise ValueError(f"aligner.decodings must be among {DECODINGS}, not {self.decodings}")
        if self.dtype not in DTYPES:
            raise ValueError(f"aligner.dtype must be one of {DTYPES}, not {self.dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"aligner.batch_size must be at least 1, not {self.batch_size}")
        if self.window <= 0 or self.overlap < 0 or self.flag_gap <= 0:
            raise ValueError(
                "aligner.window and aligner.flag_gap must be positive and aligner.overlap "
                f"not negative, not {self.window}, {self.flag_gap}, {self.overlap}"
            )

    @classmethod
    def from_config(cls, cfg) -> AlignerSettings:
        """From the `aligner` group of a Hydra config (or any mapping with these keys)."""
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        unknown = set(cfg) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(
                f"unknown aligner setting(s): {', '.join(sorted(unknown))} "
                f"(known: {', '.join(f.name for f in fields(cls))})"
            )
        return cls(**cfg)

    @classmethod
    def add_arguments(cls, parser) -> None:
        """One flag per setting, with the same name, default and help."""
        group = parser.add_argument_group("aligner settings (conf/aligner/default.yaml)")
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            help_text = f"{f.metadata['help']} (default: {default})"
            if f.name == "decodings":
                group.add_argument(
                    flag, nargs="+", choices=DECODINGS, default=default, help=help_text
                )
            else:
                group.add_argument(flag, type=type(default), default=default, help=help_text)

    @classmethod
    def from_args(cls, args) -> AlignerSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
