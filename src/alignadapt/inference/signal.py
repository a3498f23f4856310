"""Long recordings, step 1: where the speech is. No model is called here.

**Speech and pauses** (`speech_segments`): 10 ms frame energy (`audio.frame_rms`), read in
blocks so an hour costs a few MB. Frames well below the recording's loud level are quiet;
quiet runs of at least `MIN_PAUSE_S` are pauses, the rest are speech segments. A segment
longer than a piece can hold is split at its quietest frame. Energy cannot tell music
(or a hum, a held tone) from speech, so the same pass measures spectral flux, how much the
40 log-mel bands change over 50 ms; a segment whose flux is well under the recording's
typical segment does not sound like speech (`speech_likeness`).

The programme (programme.py) and the plan of pieces (planning.py) read only these segments,
levels and likeness.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..data.audio import frame_rms
from ..model.prompt import SAMPLE_RATE

# Frames and pauses: set when long recordings were first cut at pauses (10fe737), on the demo
# corpus's espeak-ng speech and the bench's minutes of it (bench/long_recordings.py).
FRAME_S = 0.01  # energy frames
MIN_PAUSE_S = 0.2  # a quieter run at least this long is a pause (stop closures are shorter)
QUIET_DB = 35.0  # quiet: this far below the recording's loud level (95th percentile frame)

# Spectral flux: added to tell music from speech (38a9e85, `bench/long_recordings.py --music`).
FLUX_WINDOW_S = 0.025  # spectral flux: 25 ms windows, 40 log-mel bands from 100 Hz to 4 kHz,
FLUX_LAG_S = 0.05  # compared 50 ms apart


@dataclass
class Frames:
    """Per 10 ms frame of a recording: level (dB) and spectral flux (dB, `SpectralFlux`)."""

    levels_db: np.ndarray
    flux_db: np.ndarray


def frame_features(blocks: Iterable[np.ndarray]) -> Frames:
    """Level and spectral flux of every 10 ms frame of a recording given as consecutive 16 kHz
    blocks (an hour costs a few MB: only two floats a frame are kept)."""
    frame = int(FRAME_S * SAMPLE_RATE)
    win = int(FLUX_WINDOW_S * SAMPLE_RATE)
    mel = _mel()
    flux = SpectralFlux()
    levels = []
    carry = np.zeros(0, np.float32)  # samples after the last whole frame
    tail = np.zeros(0, np.float32)  # samples of the last frames' windows that reach past them
    for block in blocks:
        data = np.concatenate([carry, block]) if len(carry) else block
        n = len(data) // frame * frame
        if n:
            levels.append(20 * np.log10(np.maximum(frame_rms(data[:n], frame), 1e-5)))
            # a window per frame from the frame's start: the samples reach win - frame past
            # the block's last frame, so the next block finishes the last few windows
            whole = np.concatenate([tail, data[:n]])
            count = (len(whole) - win) // frame + 1
            if count > 0:
                flux.add(_log_mel(mel, whole[: (count - 1) * frame + win]))
                tail = whole[count * frame :]
            else:
                tail = whole
        carry = data[n:]
    if not levels:
        return Frames(np.zeros(0, np.float32), np.zeros(0, np.float32))
    levels_db = np.concatenate(levels).astype(np.float32)
    return Frames(levels_db, flux.result(len(levels_db)))


class SpectralFlux:
    """Mean absolute change of the 40 log-mel bands over FLUX_LAG_S, per frame, fed the
    log-mel frames in order a block at a time (only the last FLUX_LAG_S of them are kept).
    The first frames and the last few, whose windows run past the end, repeat their
    neighbours."""

    def __init__(self):
        self.lag = int(round(FLUX_LAG_S / FRAME_S))
        self.last = np.zeros((0, 40), np.float32)
        self.parts: list[np.ndarray] = []

    def add(self, logmel: np.ndarray) -> None:
        joined = np.concatenate([self.last, logmel])
        if len(joined) > self.lag:
            self.parts.append(np.abs(joined[self.lag :] - joined[: -self.lag]).mean(axis=1))
        self.last = joined[-self.lag :].copy()  # not a view holding the whole block

    def result(self, frames: int) -> np.ndarray:
        if not self.parts:
            return np.zeros(frames, np.float32)
        flux = np.concatenate(self.parts)
        flux = np.concatenate([np.full(self.lag, flux[0]), flux])[:frames]
        return np.pad(flux, (0, frames - len(flux)), mode="edge").astype(np.float32)


def _mel():
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE,
        n_fft=int(FLUX_WINDOW_S * SAMPLE_RATE),
        hop_length=int(FRAME_S * SAMPLE_RATE),
        n_mels=40,
        f_min=100.0,
        f_max=4000.0,
        center=False,
    )


def _log_mel(mel, audio: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        power = mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).T.numpy()


def speech_likeness(flux_db: np.ndarray, voiced: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Per segment, how much its spectrum keeps changing against the recording's typical
    segment (1: as much, 0: not at all): speech moves between sounds every few tens of ms,
    a held tone, a hum or sustained music hardly does, so its flux is lower. A segment's
    flux is the 75th percentile over its frames that are sound at both ends of the lag
    (`voiced`; a word's onset out of silence is a change of level, not of sound, and in noise
    a speech segment's quieter frames carry the noise's flux while its sounds still change);
    the reference is the duration-weighted median over segments, so a recording that is
    mostly speech (any transcript's recording) is its own scale: noise, reverberation and
    the microphone change every segment alike."""
    if len(segments) == 0:
        return np.zeros(0)
    lag = int(round(FLUX_LAG_S / FRAME_S))
    both = voiced.copy()
    both[lag:] &= voiced[:-lag]
    both[:lag] = False
    frames = (segments / FRAME_S).round().astype(int)
    flux = np.zeros(len(frames))
    for j, (a, b) in enumerate(frames):
        inside = flux_db[a:b][both[a:b]]
        flux[j] = np.percentile(inside, 75) if len(inside) else np.nan
    # a segment too short to measure (under the lag plus a frame) is taken for speech
    measured = np.isfinite(flux)
    if not measured.any():
        return np.ones(len(flux))
    lengths = np.maximum(frames[:, 1] - frames[:, 0], 1)[measured]
    order = np.argsort(flux[measured])
    half = np.searchsorted(np.cumsum(lengths[order]), lengths.sum() / 2)
    typical = float(flux[measured][order][min(half, len(order) - 1)])
    if typical <= 0:
        return np.ones(len(flux))
    return np.where(measured, flux / typical, 1.0)


def voice_threshold(levels_db: np.ndarray) -> float:
    """dB above which a frame is speech (or other sound): QUIET_DB under the loud level, or
    a third of the way up from the noise floor in a noisy recording."""
    if len(levels_db) == 0:
        return 0.0
    loud = float(np.percentile(levels_db, 95))
    floor = float(np.percentile(levels_db, 5))
    return max(loud - QUIET_DB, floor + 0.3 * (loud - floor))


def speech_segments(levels_db: np.ndarray, max_len: float) -> np.ndarray:
    """(start, end) seconds of every speech run between pauses, none longer than `max_len`."""
    if len(levels_db) == 0:
        return np.zeros((0, 2))
    voiced = levels_db > voice_threshold(levels_db)
    min_pause = int(round(MIN_PAUSE_S / FRAME_S))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2)  # [first voiced frame, first quiet frame after)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < min_pause:
            merged[-1][1] = b  # a short dip inside speech
        else:
            merged.append([int(a), int(b)])
    limit = max(1, int(max_len / FRAME_S))
    out: list[tuple[int, int]] = []
    stack = merged[::-1]
    while stack:
        a, b = stack.pop()
        if b - a <= limit:
            out.append((a, b))
            continue
        lo, hi = a + (b - a) // 4, b - (b - a) // 4  # split near the middle, at the quietest
        cut = lo + int(np.argmin(levels_db[lo:hi]))
        stack += [(cut, b), (a, cut)]
    return np.array(out, dtype=np.float64).reshape(-1, 2) * FRAME_S
