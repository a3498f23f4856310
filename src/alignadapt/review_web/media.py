"""What the page draws from audio, computed once on the server: waveform peaks and a
spectrogram, both small next to the audio (an hour of speech gives about 1.4 MB of peaks).

The browser only plays the file (an <audio> element streams it); it never decodes the whole
recording, which for an hour would take seconds and hundreds of MB in the tab.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.audio import SAMPLE_RATE, read_blocks

MAX_PEAKS = 400_000  # values per recording (two per bin: min, max)
PEAK_BINS_PER_SECOND = 100  # 10 ms bins for short audio; fewer for long
SPECTROGRAM_MAX_SECONDS = 600.0  # longer recordings get no spectrogram (one would be useless)
SPECTROGRAM_FRAMES = 3000  # at most this many columns
SPECTROGRAM_BINS = 128  # rows, 0-8 kHz
N_FFT = 512
RANGE_DB = 80.0


def peaks(path: str | Path, duration: float, channel: int | None = None) -> dict:
    """Min and max of each bin, interleaved, rounded to 3 decimals (what wavesurfer draws)."""
    bins_per_second = min(PEAK_BINS_PER_SECOND, MAX_PEAKS / 2 / max(duration, 1e-3))
    bin_size = max(1, int(round(SAMPLE_RATE / bins_per_second)))
    out: list[np.ndarray] = []
    rest = np.zeros(0, dtype=np.float32)
    for block in read_blocks(path, seconds=60.0, channel=channel):
        block = np.concatenate([rest, block])
        whole = len(block) // bin_size * bin_size
        frames = block[:whole].reshape(-1, bin_size)
        out.append(np.stack([frames.min(axis=1), frames.max(axis=1)], axis=1).ravel())
        rest = block[whole:]
    if len(rest):
        out.append(np.array([rest.min(), rest.max()], dtype=np.float32))
    data = np.concatenate(out) if out else np.zeros(2, dtype=np.float32)
    scale = max(float(np.abs(data).max()), 1e-6)  # normalised: quiet recordings stay visible
    return {
        # float64 before rounding: a float32 0.123 prints as 0.12300000339746475 in JSON
        "data": np.round(data.astype(np.float64) / scale, 3).tolist(),
        "bins_per_second": SAMPLE_RATE / bin_size,
    }


def spectrogram(
    path: str | Path,
    duration: float,
    channel: int | None = None,
    frames: int = SPECTROGRAM_FRAMES,
    bins: int = SPECTROGRAM_BINS,
) -> dict | None:
    """Magnitude in dB, 0-255 over the top `RANGE_DB`, at most `frames` x `bins` (wavesurfer's
    spectrogram plugin draws exactly this); None for recordings too long to show one.
    `bins` must divide 256."""
    if duration > SPECTROGRAM_MAX_SECONDS:
        return None
    audio = np.concatenate(list(read_blocks(path, seconds=60.0, channel=channel)))
    hop = max(160, int(np.ceil(len(audio) / frames)))
    if len(audio) < N_FFT:
        audio = np.pad(audio, (0, N_FFT - len(audio)))
    starts = np.arange(0, len(audio) - N_FFT + 1, hop)
    window = np.hanning(N_FFT).astype(np.float32)
    frames = np.stack([audio[s : s + N_FFT] for s in starts]) * window
    power = np.abs(np.fft.rfft(frames, axis=1))[:, : N_FFT // 2]
    power = power.reshape(len(starts), bins, -1).mean(axis=2)
    db = 20 * np.log10(np.maximum(power, 1e-10))
    top = db.max()
    scaled = np.clip((db - (top - RANGE_DB)) / RANGE_DB * 255, 0, 255).astype(np.uint8)
    return {"frames": scaled.tolist(), "sample_rate": SAMPLE_RATE}
