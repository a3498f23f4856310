"""Training-time augmentation that moves the labels with the audio (torchaudio).

Each kind is off unless its probability is above 0 (conf/data/manifest.yaml, `augment:`):
  speed    resample by a factor: audio and timestamps stretch by exactly the same ratio
  silence  silence added before and/or after: timestamps shift by the leading part
  gain     a level change in dB: timestamps stay
  noise    white noise at a signal-to-noise ratio in dB: timestamps stay
Applied in that order, to training lines only, with a random generator per utterance that
the data module derives from the seed, the epoch and the line, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torchaudio.functional as AF

from .audio import SAMPLE_RATE, resample

Spans = list[tuple[float, float]]


@dataclass
class SpeedSpec:
    prob: float = 0.0  # 0 = off
    factors: list[float] = field(default_factory=lambda: [0.9, 1.1])  # >1 is faster


@dataclass
class SilenceSpec:
    prob: float = 0.0
    max_seconds: float = 0.5  # at each end, drawn uniformly from [0, max_seconds]


@dataclass
class GainSpec:
    prob: float = 0.0
    db: list[float] = field(default_factory=lambda: [-6.0, 6.0])  # drawn from [low, high]


@dataclass
class NoiseSpec:
    prob: float = 0.0
    snr_db: list[float] = field(default_factory=lambda: [10.0, 30.0])  # drawn from [low, high]


@dataclass
class AugmentSpec:
    speed: SpeedSpec = field(default_factory=SpeedSpec)
    silence: SilenceSpec = field(default_factory=SilenceSpec)
    gain: GainSpec = field(default_factory=GainSpec)
    noise: NoiseSpec = field(default_factory=NoiseSpec)

    @classmethod
    def from_dict(cls, config: dict | None) -> AugmentSpec:
        config = dict(config or {})
        parts = {"speed": SpeedSpec, "silence": SilenceSpec, "gain": GainSpec, "noise": NoiseSpec}
        unknown = set(config) - set(parts)
        if unknown:
            raise ValueError(
                f"data.augment: unknown kind(s) {sorted(unknown)}; choose from {sorted(parts)}"
            )
        return cls(**{k: parts[k](**(config.get(k) or {})) for k in parts})

    @property
    def active(self) -> bool:
        return any(p.prob > 0 for p in (self.speed, self.silence, self.gain, self.noise))


def change_speed(audio: np.ndarray, spans: Spans, factor: float) -> tuple[np.ndarray, Spans]:
    """Play `factor` times faster (pitch moves too, as in Kaldi's speed perturbation).

    The audio is resampled from round(16000 x factor) Hz to 16000 Hz, so a sample at time t
    lands at t x 16000 / round(16000 x factor): the timestamps use that exact ratio.
    """
    source_rate = int(round(SAMPLE_RATE * factor))
    if source_rate == SAMPLE_RATE:
        return audio, spans
    out = resample(audio, source_rate, SAMPLE_RATE)
    ratio = SAMPLE_RATE / source_rate
    return out, [(s * ratio, e * ratio) for s, e in spans]


def add_silence(audio: np.ndarray, spans: Spans, lead: int, trail: int) -> tuple[np.ndarray, Spans]:
    """`lead` and `trail` samples of silence; timestamps move by exactly lead / 16000 s."""
    out = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(trail, np.float32)])
    shift = lead / SAMPLE_RATE
    return out, [(s + shift, e + shift) for s, e in spans]


def apply_gain(audio: np.ndarray, db: float) -> np.ndarray:
    return AF.gain(torch.from_numpy(audio), db).numpy()


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    noise = torch.from_numpy(rng.standard_normal(len(audio)).astype(np.float32))
    signal = torch.from_numpy(audio)
    if float(signal.pow(2).sum()) == 0.0:  # silence has no level to measure noise against
        return audio
    return AF.add_noise(signal, noise, torch.tensor(float(snr_db))).numpy()


def augment(
    audio: np.ndarray, spans: Spans, spec: AugmentSpec, rng: np.random.Generator
) -> tuple[np.ndarray, Spans]:
    """One random draw of every active augmentation; returns new audio and matching spans."""
    if spec.speed.prob and rng.random() < spec.speed.prob:
        audio, spans = change_speed(audio, spans, float(rng.choice(spec.speed.factors)))
    if spec.silence.prob and rng.random() < spec.silence.prob:
        most = int(spec.silence.max_seconds * SAMPLE_RATE)
        lead, trail = (int(x) for x in rng.integers(0, most + 1, size=2))
        audio, spans = add_silence(audio, spans, lead, trail)
    if spec.gain.prob and rng.random() < spec.gain.prob:
        audio = apply_gain(audio, float(rng.uniform(*spec.gain.db)))
    if spec.noise.prob and rng.random() < spec.noise.prob:
        audio = add_noise(audio, float(rng.uniform(*spec.noise.snr_db)), rng)
    return np.ascontiguousarray(audio, dtype=np.float32), spans
