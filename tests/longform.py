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


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Sustained music with no beat: three-note chords of harmonic tones with vibrato, a new
    chord every 0.3-0.9 s, each decaying (a piano-like pad), about as loud as the speech."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    t0 = 0.0
    while t0 < seconds:
        length = float(rng.uniform(0.3, 0.9))
        t = np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE
        chord = np.zeros(len(t))
        for f0 in 110.0 * 2 ** (rng.integers(0, 24, 3) / 12):
            for h in range(1, 6):
                chord += (
                    np.sin(2 * np.pi * f0 * h * t * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) / h
                )
        a = int(t0 * SAMPLE_RATE)
        note = (0.05 * chord * np.exp(-1.5 * t) * np.minimum(1.0, t / 0.02))[: len(out) - a]
        out[a : a + len(note)] += note
        t0 += length
    return out


def other_speaker(seconds: float, seed: int = 1) -> np.ndarray:
    """About `seconds` of a second test voice (en-us+f4, higher and faster than the
    recording's speaker) saying held-out sentences that are in no transcript: someone in the
    audience, a speaker the transcript leaves out."""
    from alignadapt.demo.espeak import Espeak

    rng = np.random.default_rng(seed)
    engine = Espeak()
    parts, t = [], 0.0
    while t < seconds - 1.0:
        utt = make_utterance(
            engine,
            rng,
            "en",
            min(8.0, seconds - t),
            "test",
            conditions=CLEAN,
            voice="en-us+f4",
            speaker=(200, 70, 60),
        )
        parts.append(utt.audio)
        t += len(utt.audio) / SAMPLE_RATE
    return np.concatenate(parts)


def with_sound(
    rec: Recording, sound: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The recording with `sound` (no words of the transcript) put in the pause before its
    middle sentence: (audio, every word's reference times, the sound's place)."""
    middle = len(rec.clips) // 2
    at = rec.offsets[middle]
    seconds = len(sound) / SAMPLE_RATE
    cut = int(round(at * SAMPLE_RATE))
    audio = np.concatenate([rec.audio[:cut], sound, rec.audio[cut:]])
    offsets = [o + (seconds if i >= middle else 0.0) for i, o in enumerate(rec.offsets)]
    reference = np.concatenate([s + o for s, o in zip(rec.spans, offsets, strict=True)])
    return audio, reference, (at, at + seconds)


def with_music(
    rec: Recording, seconds: float
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The recording with `seconds` of `music` put in the pause before its middle sentence."""
    return with_sound(rec, music(seconds))
