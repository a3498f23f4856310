"""Replay: mix a share of general-domain utterances into the training manifest, against forgetting.

Fine-tuning on domain speech alone can make the aligner worse on everything else. Mixing
general utterances back in (a share of every epoch, so of every batch on average) keeps the
old skill exercised. The mixed manifest is written into the run folder, so what was trained
on can always be inspected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .manifest import write_jsonl


def _absolute(line: str, manifest: Path) -> dict:
    record = json.loads(line)
    key = "audio_path" if "audio_path" in record else "audio_filepath"
    path = Path(record[key])
    if not path.is_absolute():
        record[key] = str((manifest.parent / path).resolve())
    return record


def mix_with_replay(
    train: str | Path, general: str | Path, share: float, seed: int, out: str | Path
) -> Path:
    """All of `train`, plus general lines making up `share` of the result (drawn without
    replacement while there are enough). Audio paths are made absolute."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"data.replay.share must be in [0, 1), not {share}")
    train, general = Path(train), Path(general)
    domain = [
        _absolute(x, train) for x in train.read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    pool = [x for x in general.read_text(encoding="utf-8").splitlines() if x.strip()]
    if not pool:
        raise ValueError(f"{general}: no lines to replay")
    wanted = round(len(domain) * share / (1.0 - share))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=wanted, replace=wanted > len(pool))
    replayed = [_absolute(pool[i], general) for i in picks]
    return write_jsonl(out, [*domain, *replayed], force=True)
