"""Audio in: anything libsndfile reads, any rate, any channel count -> mono float32 16 kHz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16_000  # what the aligner's feature extractor expects


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode with soundfile, average the channels, resample with torchaudio."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot decode audio ({err}); convert it to wav or flac") from err
    mono = data.mean(axis=1)
    if rate != sample_rate:
        mono = AF.resample(torch.from_numpy(mono), rate, sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the header, without decoding."""
    info = sf.info(str(path))
    return info.frames / info.samplerate
