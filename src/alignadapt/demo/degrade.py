"""Recording conditions for synthetic speech: level, noise, room, telephone line, lossy codec.

Each is drawn per utterance from a `Conditions` of ranges; none of them moves a word (the
reverberation's direct path is at delay 0, the band filters are zero-phase, the codec round
trip is trimmed back to the input's length), so the word times of the clean audio stay exact.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy import signal

from ..data.audio import resample


@dataclass
class Conditions:
    """Probabilities and ranges of each degradation (one draw per utterance)."""

    gain_db: tuple[float, float] = (-24.0, 0.0)  # level below full scale of the peak
    noise_prob: float = 0.7
    snr_db: tuple[float, float] = (5.0, 40.0)
    reverb_prob: float = 0.3
    rt60_s: tuple[float, float] = (0.15, 0.8)
    telephone_prob: float = 0.15
    codec_prob: float = 0.15


CLEAN = Conditions(
    gain_db=(-6.0, -6.0), noise_prob=0.0, reverb_prob=0.0, telephone_prob=0.0, codec_prob=0.0
)


def coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise of unit power (one of the three at random)."""
    white = rng.standard_normal(n)
    exponent = rng.choice([0.0, 1.0, 2.0])  # power spectrum ~ 1 / f**exponent
    if exponent:
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        white = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(audio**2)) + 1e-12
    return audio + coloured_noise(len(audio), rng) * np.float32(
        np.sqrt(power / 10 ** (snr_db / 10))
    )


def reverberate(
    audio: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """A simple room: exponentially decaying noise after a direct path at delay 0."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail[: int(0.003 * sample_rate)] = 0.0  # first reflections a few ms after the direct sound
    impulse = np.concatenate([[1.0], 0.3 * tail / (np.sqrt(np.sum(tail**2)) + 1e-12)])
    wet = signal.fftconvolve(audio, impulse)[: len(audio)]
    return wet.astype(np.float32)


def telephone(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Down to 8 kHz and back, band-limited to 300-3400 Hz (zero-phase: no delay)."""
    narrow = resample(audio, sample_rate, 8000)
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = signal.sosfiltfilt(sos, narrow).astype(np.float32)
    wide = resample(narrow, 8000, sample_rate)
    return _fit(wide, len(audio))


def codec_round_trip(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Encode to Ogg Vorbis or Opus in memory at a low quality and decode again (libsndfile)."""
    subtype, fmt = [("VORBIS", "OGG"), ("OPUS", "OGG")][int(rng.integers(2))]
    rate = 48000 if subtype == "OPUS" else sample_rate
    data = resample(audio, sample_rate, rate) if rate != sample_rate else audio
    buf = io.BytesIO()
    level = float(rng.uniform(0.6, 1.0))  # compression level: 1.0 = smallest, most lossy
    with sf.SoundFile(buf, "w", rate, 1, format=fmt, subtype=subtype, compression_level=level) as f:
        f.write(data)
    buf.seek(0)
    decoded, got = sf.read(buf, dtype="float32")
    if got != sample_rate:
        decoded = resample(decoded, got, sample_rate)
    return _fit(decoded, len(audio))


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    return audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))


def degrade(
    audio: np.ndarray, sample_rate: int, conditions: Conditions, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """One draw of `conditions` applied to `audio`; returns the audio and what was applied."""
    applied: dict = {}
    if rng.random() < conditions.reverb_prob:
        applied["rt60_s"] = round(float(rng.uniform(*conditions.rt60_s)), 3)
        audio = reverberate(audio, applied["rt60_s"], sample_rate, rng)
    if rng.random() < conditions.telephone_prob:
        applied["telephone"] = True
        audio = telephone(audio, sample_rate)
    if rng.random() < conditions.noise_prob:
        applied["snr_db"] = round(float(rng.uniform(*conditions.snr_db)), 1)
        audio = add_noise(audio, applied["snr_db"], rng)
    if rng.random() < conditions.codec_prob:
        applied["codec"] = True
        audio = codec_round_trip(np.clip(audio, -1, 1), sample_rate, rng)
    peak = float(np.max(np.abs(audio))) + 1e-9
    applied["gain_db"] = round(float(rng.uniform(*conditions.gain_db)), 1)
    audio = audio * np.float32(10 ** (applied["gain_db"] / 20) / peak)
    return np.clip(audio, -1, 1).astype(np.float32), applied
