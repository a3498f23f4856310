"""Unseen espeak-ng utterances for asking whether an aligner listens: the utterances of the
model card's listening rows, of `tests/test_listening.py::test_shipped_base_listens` and of
`bench/listening_card.py`, made in one place so the three always measure the same thing.

English, the test side of the corpus (voices and sentences no training call used), utterance i
drawn with seed [7, i] at 3 + i seconds. `WIDE` silences are pretraining's (0-3 s at the ends,
pauses to 2.5 s: where they fall, text and length cannot say); `NARROW` are the fixed test
sets' (0.05-0.5 s ends, 0.1-1 s pauses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..evaluation.listening import donor_audios
from ..model.prompt import split_units
from .broad import Timing, make_utterance

WIDE = Timing(lead_s=(0.0, 3.0), tail_s=(0.0, 3.0), pause_s=(0.1, 2.5), max_edge_share=0.34)
NARROW = Timing()


@dataclass
class ProbeSet:
    """Audio, the aligner's units and the reference times (starts and ends interleaved, s)."""

    audios: list[np.ndarray]
    units: list[list[str]]
    refs: list[np.ndarray]


def probe_set(engine, processor, count: int = 8, timing: Timing = WIDE) -> ProbeSet:
    """`count` utterances (fewer where the processor splits a text into other words than the
    synthesiser spoke: those are skipped, as their references would not line up)."""
    audios, units, refs = [], [], []
    for i in range(count):
        rng = np.random.default_rng([7, i])
        utt = make_utterance(engine, rng, "en", 3.0 + i, split="test", timing=timing)
        u = split_units(processor, utt.text, utt.language)
        if len(u) != len(utt.words):
            continue
        audios.append(utt.audio)
        units.append(u)
        refs.append(np.asarray([(s, e) for _, s, e in utt.words], dtype=float).ravel())
    return ProbeSet(audios, units, refs)


def boundary_errors(aligner, audios: list[np.ndarray], probe: ProbeSet) -> np.ndarray:
    """Absolute error (s) of every start and end when `probe`'s units are aligned on `audios`."""
    done = aligner.align(audios, probe.units)
    return np.concatenate(
        [np.abs(a.decoded["argmax"].times - r) for a, r in zip(done, probe.refs, strict=True)]
    )


def listening_errors(aligner, probe: ProbeSet, silence: bool = True) -> dict[str, np.ndarray]:
    """Boundary errors with each recording's own audio, with the next recording's in its place
    (`donor_audios`) and, if `silence`, with zeros."""
    out = {
        "own": boundary_errors(aligner, probe.audios, probe),
        "swapped": boundary_errors(aligner, donor_audios(probe.audios), probe),
    }
    if silence:
        out["silence"] = boundary_errors(aligner, [np.zeros_like(a) for a in probe.audios], probe)
    return out
