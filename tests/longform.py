"""Long recordings with exact word times, made of held-out English test sentences (espeak-ng):
each clip is one utterance of the demo's test sets (test voices, held-out sentences, lead and
tail silence, clean), and the clips are joined with extra pauses. Used by tests/test_long.py
and bench/long_recordings.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignadapt.demo.broad import make_utterance
from alignadapt.demo.degrade import CLEAN
from alignadapt.model.prompt import SAMPLE_RATE

TEST_SEED = 10


@dataclass
class Recording:
    audio: np.ndarray  # the whole recording, 16 kHz
    clips: list[np.ndarray]  # each sentence alone, with its own lead and tail silence
    texts: list[str]
    spans: list[np.ndarray]  # per sentence, (words, 2) seconds within its clip
    offsets: list[float]  # where each clip starts in the recording

    @property
    def text(self) -> str:
        """The transcript, punctuated as a person's would be: a full stop after each clip."""
        return ". ".join(self.texts) + "."

    @property
    def reference(self) -> np.ndarray:
        """(all words, 2) seconds within the recording."""
        return np.concatenate([s + o for s, o in zip(self.spans, self.offsets, strict=True)])


def spoken_recording(seconds: float, seed: int = TEST_SEED) -> Recording:
    """At least `seconds` of test sentences, 0-0.8 s of extra pause between clips."""
    from alignadapt.demo.espeak import Espeak

    rng = np.random.default_rng(seed)
    engine = Espeak()
    voice = "en-us+m6"  # a held-out test variant for the whole recording: one speaker,
    rate, pitch, pitch_range = 170, 40, 50  # at one pace (a talk: 170 words a minute)
    clips, texts, spans, offsets, parts, t = [], [], [], [], [], 0.0
    while t < seconds:
        utt = make_utterance(
            engine,
            rng,
            "en",
            float(rng.uniform(3.0, 8.0)),
            "test",
            conditions=CLEAN,
            voice=voice,
            # a person's pace drifts from sentence to sentence, not threefold
            speaker=(int(rate * rng.uniform(0.9, 1.1)), pitch, pitch_range),
        )
        clip, text, words = utt.audio, utt.text, utt.words
        gap = np.zeros(int(rng.uniform(0.0, 0.8) * SAMPLE_RATE), np.float32)
        offsets.append(t)
        clips.append(clip)
        texts.append(text)
        spans.append(np.array([[s, e] for _, s, e in words]))
        parts += [clip, gap]
        t += (len(clip) + len(gap)) / SAMPLE_RATE
    return Recording(np.concatenate(parts), clips, texts, spans, offsets)
