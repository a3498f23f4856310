"""A small synthetic corpus with exact word times, made in a second with no download.

Each word is a run of harmonic tones, one per letter (pitch from the letter, length from the
speaking rate), between silences of random length. The times are exact by construction and
the output is bit-identical for a seed, so training, resume and the pinned-loss regression
test can rely on it. It is the default data of `python train.py` until you point it at real
manifests; it is not speech, so numbers on it say nothing about speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..data.manifest import Utterance, to_record, write_jsonl
from ..data.source import Source
from ..model.prompt import SAMPLE_RATE

WORDS = [
    "the",
    "patient",
    "presents",
    "with",
    "acute",
    "chest",
    "pain",
    "and",
    "shortness",
    "of",
    "breath",
    "court",
    "will",
    "now",
    "hear",
    "motion",
    "to",
    "dismiss",
    "defendant",
    "counsel",
    "objection",
    "sustained",
    "cardiac",
    "renal",
    "diagnosis",
    "treatment",
    "evidence",
    "witness",
    "dose",
]


@dataclass
class SyntheticSpec:
    n_train: int = 48
    n_val: int = 12
    n_test: int = 12
    min_words: int = 3
    max_words: int = 7
    seed: int = 1234
    # seconds of silence before the first word, between words and after the last. The
    # defaults are narrow: text and length alone predict the times, and a model trained on
    # them need not listen. Wide ones (a few seconds) make listening the only way.
    lead_s: tuple[float, float] = (0.1, 0.5)
    gap_s: tuple[float, float] = (0.05, 0.3)
    tail_s: tuple[float, float] = (0.1, 0.4)


def render_word(word: str, letter_s: float, rng: np.random.Generator) -> np.ndarray:
    pieces = []
    for ch in word:
        n = int(letter_s * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        f0 = 180.0 + 22.0 * (ord(ch.lower()) - ord("a"))
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
        pieces.append(tone * np.hanning(n) ** 0.25)
    return 0.3 * np.concatenate(pieces) * rng.uniform(0.6, 1.0)


def render_utterance(
    rng: np.random.Generator, spec: SyntheticSpec
) -> tuple[np.ndarray, str, list[list[float]]]:
    n_words = int(rng.integers(spec.min_words, spec.max_words + 1))
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), n_words)]
    letter_s = float(rng.uniform(0.035, 0.06))  # the speaking rate
    chunks = [np.zeros(int(rng.uniform(*spec.lead_s) * SAMPLE_RATE))]
    cursor = len(chunks[0])
    spans = []
    for i, word in enumerate(words):
        if i:
            gap = np.zeros(int(rng.uniform(*spec.gap_s) * SAMPLE_RATE))
            chunks.append(gap)
            cursor += len(gap)
        sound = render_word(word, letter_s, rng)
        spans.append(
            [round(cursor / SAMPLE_RATE, 4), round((cursor + len(sound)) / SAMPLE_RATE, 4)]
        )
        chunks.append(sound)
        cursor += len(sound)
    chunks.append(np.zeros(int(rng.uniform(*spec.tail_s) * SAMPLE_RATE)))
    audio = np.concatenate(chunks)
    audio += rng.normal(0, 0.003, len(audio))  # a noise floor, as in any recording
    return audio.astype(np.float32), " ".join(words), spans


def make_synthetic_corpus(
    out_dir: str | Path, spec: SyntheticSpec | None = None
) -> dict[str, Path]:
    """Write train/val/test manifests and their wav files under `out_dir` (skipped if present)."""
    spec = spec or SyntheticSpec()
    out_dir = Path(out_dir)
    splits = {"train": spec.n_train, "val": spec.n_val, "test": spec.n_test}
    paths = {name: out_dir / f"{name}.jsonl" for name in splits}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(spec.seed)
    for name, count in splits.items():
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        records = []
        for i in tqdm(range(count), desc=f"synthesising {name}", leave=False):
            audio, text, spans = render_utterance(rng, spec)
            rel = f"{name}/{name}_{i:05d}.wav"
            sf.write(out_dir / rel, audio, SAMPLE_RATE, subtype="PCM_16")
            utt = Utterance(Path(rel), text, spans, "English", len(audio) / SAMPLE_RATE)
            records.append(to_record(utt, text.split()))
        write_jsonl(paths[name], records, force=True)
    return paths


class SyntheticSource(Source):
    """The default data of `python train.py`, for `AlignDataModule(source=...)`: the synthetic
    corpus (`spec`, a `SyntheticSpec` as a dict), written at `out_dir` on first use, where
    the data module's manifests point; then read like any manifest."""

    def __init__(self, out_dir: str, spec: dict | None = None):
        values = dict(spec or {})
        for key in ("lead_s", "gap_s", "tail_s"):
            if key in values:
                values[key] = tuple(float(x) for x in values[key])
        self.spec = SyntheticSpec(**values)
        self.out_dir = out_dir

    def prepare(self) -> None:
        make_synthetic_corpus(self.out_dir, self.spec)
