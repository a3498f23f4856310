"""Speech with exact word times from libespeak-ng, driven through its synth callback.

espeak-ng reports a WORD event with the sample at which each word starts, and, with phoneme
events on, a PHONEME event for every sound including pauses. A word ends where the next word
starts, at the next pause phoneme, or at the end of the utterance, whichever comes first, and
is then pulled back onto its last sounding frame when silence follows. Nothing here reads a
model or a network: the Debian package `espeak-ng` is all it needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from dataclasses import dataclass

import numpy as np

from ..data.audio import frame_rms

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 0, 1, 5, 6, 7
PARAM_RATE, PARAM_PITCH = 1, 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class Synthesis:
    audio: np.ndarray  # float32 mono at `sample_rate`
    sample_rate: int
    words: list[tuple[str, float, float]]  # (word, start s, end s), in text order


class Espeak:
    """One libespeak-ng instance (one per process: the library is not thread-safe)."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as err:
            raise RuntimeError(
                "libespeak-ng not found: install the Debian package espeak-ng (make install)"
            ) from err
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed: is espeak-ng-data installed?")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, str]] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self._voice = None

    def _on_audio(self, wav, count, events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            name = e.id.string.decode("ascii", "replace") if e.type == EVENT_PHONEME else ""
            self._events.append((e.type, e.text_position, e.sample, name))
            i += 1
        return 0

    def synthesize(
        self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50
    ) -> Synthesis:
        """Speak `text`; returns audio and (word, start, end) for every space-separated word."""
        if voice != self._voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(
                    f"espeak-ng has no voice {voice!r} (espeak-ng --voices=en lists them)"
                )
            self._voice = voice
        self.lib.espeak_SetParameter(PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(PARAM_PITCH, pitch, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        self.lib.espeak_Synth(buf, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        audio = pcm.astype(np.float32) / 32768.0
        return Synthesis(
            audio, self.sample_rate, word_times(text, self._events, audio, self.sample_rate)
        )


def word_times(
    text: str, events: list[tuple[int, int, int, str]], audio: np.ndarray, sample_rate: int
) -> list[tuple[str, float, float]]:
    """Map WORD events to the text's words and find each word's end (see module docstring)."""
    words = [(m.start() + 1, m.group()) for m in re.finditer(r"\S+", text)]  # 1-based like espeak
    starts = {pos: sample for kind, pos, sample, _ in events if kind == EVENT_WORD}
    if sorted(starts) != [pos for pos, _ in words]:
        raise ValueError(f"espeak-ng word events do not match the words of {text!r}")
    pauses = sorted(
        sample for kind, _, sample, name in events if kind == EVENT_PHONEME and name.startswith("_")
    )
    total = len(audio)
    frame = max(1, sample_rate // 100)  # 10 ms
    n_frames = total // frame
    energy = frame_rms(audio, frame)
    sounding = energy > max(energy.max(), 1e-6) * 10 ** (-35 / 20)  # within 35 dB of the peak
    out = []
    word_starts = [starts[pos] for pos, _ in words]
    for i, (_, word) in enumerate(words):
        start = word_starts[i]
        limit = word_starts[i + 1] if i + 1 < len(words) else total
        limit = min([limit] + [p for p in pauses if p > start])
        # pull the end back onto the last sounding frame before `limit`
        first, last = start // frame, min(limit // frame, n_frames)
        voiced = np.nonzero(sounding[first:last])[0]
        end = (first + voiced[-1] + 1) * frame if len(voiced) else limit
        # and the start forward onto the first sounding frame (espeak may mark a word in a pause)
        start = max(start, (first + voiced[0]) * frame) if len(voiced) else start
        out.append((word, start / sample_rate, min(end, limit) / sample_rate))
    return out
