"""Long recordings with exact word times, made of held-out general test sentences (espeak-ng):
each sentence is synthesised as the demo corpus makes an utterance (lead and tail silence),
and the clips are joined with extra pauses. Used by tests/test_long.py and
bench/long_recordings.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignadapt.demo.corpus import GENERAL, GENERAL_PATTERNS, GENERAL_VOICE, _utterance, sentences
from alignadapt.model.prompt import SAMPLE_RATE

TEST_SEED = 10  # the demo corpus's general_test seed (spec.seed + 3): sentences the base never saw


@dataclass
class Recording:
    audio: np.ndarray  # the whole recording, 16 kHz
    clips: list[np.ndarray]  # each sentence alone, with its own lead and tail silence
    texts: list[str]
    spans: list[np.ndarray]  # per sentence, (words, 2) seconds within its clip
    offsets: list[float]  # where each clip starts in the recording

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    @property
    def reference(self) -> np.ndarray:
        """(all words, 2) seconds within the recording."""
        return np.concatenate([s + o for s, o in zip(self.spans, self.offsets, strict=True)])


def spoken_recording(seconds: float, seed: int = TEST_SEED) -> Recording:
    """At least `seconds` of test sentences, 0-0.8 s of extra pause between clips."""
    from alignadapt.demo.espeak import Espeak

    rng = np.random.default_rng(seed)
    engine, texts_in = Espeak(), sentences(GENERAL, GENERAL_PATTERNS, rng)
    clips, texts, spans, offsets, parts, t = [], [], [], [], [], 0.0
    while t < seconds:
        text = next(texts_in)
        try:
            clip, words = _utterance(
                engine, text, GENERAL_VOICE, int(rng.integers(150, 191)), None, rng
            )
        except ValueError:  # espeak merged two words: no exact time, as the corpus does
            continue
        gap = np.zeros(int(rng.uniform(0.0, 0.8) * SAMPLE_RATE), np.float32)
        offsets.append(t)
        clips.append(clip)
        texts.append(text)
        spans.append(np.array([[w["start"], w["end"]] for w in words]))
        parts += [clip, gap]
        t += (len(clip) + len(gap)) / SAMPLE_RATE
    return Recording(np.concatenate(parts), clips, texts, spans, offsets)
