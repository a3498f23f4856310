"""Audio in: anything libsndfile reads, any rate, any channel count -> mono float32 16 kHz."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
import torchaudio

from ..model.prompt import SAMPLE_RATE  # what the aligner's feature extractor expects

# The one list of audio formats: `prepare` pairs these, `validate`, training and `align` read
# them (libsndfile decodes all of them: Ogg holds Vorbis or Opus).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
# Common audio files libsndfile cannot decode: named so that they are reported, not ignored.
UNREADABLE_SUFFIXES = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".mka", ".3gp")
CONVERT_HINT = "re-encode it, e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.flac`"


def check_audio_suffix(path) -> None:
    """ValueError naming the file for a format alignadapt cannot decode (an .m4a), before any
    attempt: libsndfile's own message for those says only that the format is unknown. A
    file object (audio from a shard) has no name to judge by and is left to libsndfile."""
    if not isinstance(path, str | Path):
        return
    suffix = Path(path).suffix.lower()
    if suffix in UNREADABLE_SUFFIXES:
        raise ValueError(
            f"{path}: {suffix} audio cannot be read (alignadapt reads "
            f"{', '.join(AUDIO_SUFFIXES)}); {CONVERT_HINT}"
        )


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
    check_audio_suffix(path)
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
    check_audio_suffix(path)
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
    return _mono(data, rate, channel, sample_rate, path)


def _mono(data: np.ndarray, rate: int, channel: int | None, sample_rate: int, path) -> np.ndarray:
    """Decoded (frames, channels) samples -> the chosen channel (or their average), resampled."""
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


def read_blocks(
    path: str | Path, seconds: float = 60.0, channel: int | None = None
) -> Iterator[np.ndarray]:
    """The file as consecutive mono 16 kHz blocks of about `seconds` each, decoded one at a
    time: an hour of audio is read in the memory of one block. Each block is resampled on its
    own (a few samples at block edges differ from resampling the whole file: fine for energy,
    not for aligning; pieces are read with `load_audio(start=, end=)`)."""
    info = audio_info(path)
    step = max(1, int(seconds * info.sample_rate))
    try:
        for data in sf.blocks(str(path), blocksize=step, dtype="float32", always_2d=True):
            yield _mono(data, info.sample_rate, channel, SAMPLE_RATE, path)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot decode audio ({err}); {CONVERT_HINT}") from err


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
