"""Audio in: anything libsndfile reads, any rate, any channel count -> mono float32 16 kHz."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
import torchaudio

from ..model.prompt import SAMPLE_RATE  # what the aligner's feature extractor expects

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # what `prepare` pairs (libsndfile reads all)
CONVERT_HINT = "re-encode it, e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.flac`"


@dataclass(frozen=True)
class AudioInfo:
    frames: int
    sample_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioInfo:
    """Header facts without decoding; ValueError naming the file when it cannot be read."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot read audio ({err}); {CONVERT_HINT}") from None
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels))


def load_audio(
    path: str | Path | BinaryIO,
    sample_rate: int = SAMPLE_RATE,
    channel: int | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> np.ndarray:
    """Decode with soundfile, keep one channel or average them, resample with torchaudio.

    `start`/`end` (seconds) read only that stretch of the file: a segment of a long recording
    costs what the segment costs, not the whole file. `path` may also be an open binary file
    (audio held in memory, e.g. read from a shard).
    """
    try:
        with sf.SoundFile(path if hasattr(path, "read") else str(path)) as f:
            rate = f.samplerate
            first = int(round(start * rate))
            if first:
                f.seek(min(first, f.frames))
            count = -1 if end is None else max(0, int(round(end * rate)) - first)
            data = f.read(count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot decode audio ({err}); {CONVERT_HINT}") from err
    if channel is not None:
        if channel >= data.shape[1]:
            raise ValueError(
                f"{path}: has {data.shape[1]} channel(s), channel {channel} was asked for; "
                "fix the manifest's 'channel' (0 is the first)"
            )
        mono = data[:, channel]
    else:
        mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        mono = resample(np.ascontiguousarray(mono), rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


@functools.lru_cache(maxsize=32)
def _resampler(source: int, target: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(source, target)  # the sinc kernel, computed once


def resample(audio: np.ndarray, source: int, target: int) -> np.ndarray:
    """torchaudio's band-limited resampling (same result as torchaudio.functional.resample),
    with the filter kernel kept per rate pair instead of rebuilt for every file."""
    with torch.no_grad():
        return _resampler(source, target)(torch.from_numpy(audio)).numpy()


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the header, without decoding."""
    return audio_info(path).duration


def frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS of each whole frame of `frame` samples (a trailing partial frame is left out)."""
    n = len(audio) // frame
    frames = np.asarray(audio[: n * frame], dtype=np.float64).reshape(n, frame)
    return np.sqrt(np.mean(frames**2, axis=1))


def loudest_frame_dbfs(audio: np.ndarray, frame: int = 400) -> float:
    """Level of the loudest 25 ms frame (dB full scale): a recording of silence stays far below
    -50 dBFS everywhere, while any speech rises well above it somewhere."""
    if len(audio) == 0:
        return -float("inf")
    rms = frame_rms(audio, min(frame, len(audio)))  # a clip shorter than a frame is one frame
    return float(20 * np.log10(max(rms.max(), 1e-10)))
