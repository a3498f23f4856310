"""Does a model listen? Its error with the real audio against its error with the audio withheld.

An aligner can score well on speech whose word times follow from the text and the call's
length without hearing anything: the first demo base did (its timestamps were identical with
silence for audio). So every figure comes with this check. The audio is withheld by giving
each recording another recording's audio of the same length (the next one in its batch,
repeated or cut to length; a recording alone in its batch gets itself reversed in time): the
same kind of sound, speech where the words are not. A model that listens gets much worse; a
model that reads the text and the length does not change.

- `ratio`: AAS with the audio withheld over AAS with it (1.0: deaf);
- `changed_share`: the share of starts and ends whose time moved by at least one class.

Below `MIN_RATIO` the check fails: the run or the model is reported as not listening, loudly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..model.card import MIN_RATIO  # the pass mark, kept where the model card (lowest) reads it


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """`audio` repeated or cut to exactly `length` samples (or frames, along the last axis)."""
    if audio.shape[-1] == 0:
        return np.zeros((*audio.shape[:-1], length), audio.dtype)
    reps = -(-length // audio.shape[-1])
    return np.concatenate([audio] * reps, axis=-1)[..., :length]


def donor_audios(audios: Sequence[np.ndarray]) -> list[np.ndarray]:
    """For each recording, the next one's audio at its length (the last takes the first's);
    a batch of one gets its own audio reversed in time."""
    if len(audios) == 1:
        return [np.ascontiguousarray(audios[0][::-1])]
    return [fit_length(audios[(i + 1) % len(audios)], len(a)) for i, a in enumerate(audios)]


def withheld_features(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """The same swap on a batch's log-mel features (B, mel, F) with their frame mask (B, F):
    row i gets row i+1's frames, repeated or cut to row i's own frame count, zeros after."""
    out = torch.zeros_like(features)
    counts = frames.sum(dim=-1).tolist()
    batch = features.shape[0]
    for i, n in enumerate(counts):
        n = int(n)
        if batch == 1:
            donor = features[i, :, :n].flip(-1)
        else:
            j = (i + 1) % batch
            own = features[j, :, : int(counts[j])]
            reps = -(-n // max(own.shape[-1], 1))
            donor = own.repeat(1, reps)[:, :n] if own.shape[-1] else features[i, :, :n] * 0
        out[i, :, :n] = donor
    return out


def summarize_listening(
    errors: np.ndarray, withheld_errors: np.ndarray, changed: int, slots: int
) -> dict:
    """The check's figures from slot errors (ms) with and without the audio."""
    aas = float(np.mean(errors)) if len(errors) else float("nan")
    deaf = float(np.mean(withheld_errors)) if len(withheld_errors) else float("nan")
    ratio = deaf / aas if aas > 0 else float("inf")
    return {
        "aas_ms": aas,
        "aas_withheld_ms": deaf,
        "ratio": ratio,
        "changed_share": changed / max(slots, 1),
        "slots": int(slots),
        "listens": bool(ratio >= MIN_RATIO),
    }


def verdict(name: str, stats: dict) -> str:
    """One line for a report or a log; a model that does not listen is said to, in capitals."""
    line = (
        f"{name}: AAS {stats['aas_ms']:.1f} ms with its audio, {stats['aas_withheld_ms']:.1f} ms "
        f"with another recording's ({stats['ratio']:.2f}x); "
        f"{100 * stats['changed_share']:.0f}% of boundaries moved"
    )
    if stats["listens"]:
        return line
    return (
        f"{line}\nNOT LISTENING: {name}'s timestamps hardly depend on its audio (ratio under "
        f"{MIN_RATIO}); its figures measure a guess from the text and the call's length"
    )
