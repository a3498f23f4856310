"""Speech with exact word times from libespeak-ng, driven through its synth callback.

espeak-ng reports a WORD event with the sample at which each word starts, and, with phoneme
events on, a PHONEME event for every sound including pauses. A word ends where the next word
starts, at the next pause phoneme, or at the end of the utterance, whichever comes first, and
is then pulled back onto its last sounding frame when silence follows.

espeak-ng joins some short words into the word before them ("at a" is spoken as one word and
gets one WORD event): the phoneme events of such a group are shared out among its words by
each word's own phoneme count (`espeak_TextToPhonemes`), so a joined word starts at its first
phoneme. Every word's span is then checked against the audio (it must hold sound). Chinese
text gets one unit per character (espeak-ng reports a WORD event per character). Nothing here
reads a model or a network: the Debian package `espeak-ng` is all it needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import pickle
import re
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 0, 1, 5, 6, 7
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE = 1, 2, 3, 4
PHONEME_SEPARATOR = ord("|") << 8  # espeak_TextToPhonemes: "|" between phonemes


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


class _Speaker:
    """`synthesize` on top of a `speak` that returns what libespeak-ng gave: PCM, events and
    the phoneme counts of the words."""

    sample_rate: int

    def speak(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, words: list[str]
    ) -> tuple[np.ndarray, list[tuple[int, int, int, str]], dict[str, int]]:
        raise NotImplementedError

    def synthesize(
        self,
        text: str,
        voice: str = "en-us",
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        per_character: bool = False,
    ) -> Synthesis:
        """Speak `text`; returns audio and (word, start, end) for every space-separated word
        (every non-space character with `per_character`, for Chinese).

        `rate` in words per minute (80-450), `pitch` and `pitch_range` 0-100. ValueError when
        a word's time cannot be found exactly (the caller draws another sentence)."""
        words = [
            (m.start() + 1, m.group())
            for m in re.finditer(r"\S" if per_character else r"\S+", text)
        ]
        counted = [] if per_character else list(dict.fromkeys(w for _, w in words))
        pcm, events, counts = self.speak(text, voice, rate, pitch, pitch_range, counted)
        audio = pcm.astype(np.float32) / 32768.0
        times = word_times(text, events, audio, self.sample_rate, words, counts)
        return Synthesis(audio, self.sample_rate, times)


class Espeak(_Speaker):
    """One libespeak-ng instance in this process (one per process: the library is not
    thread-safe; a crash in it ends the process, see `IsolatedEspeak`)."""

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
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        self._voice = None
        self._phoneme_counts: dict[tuple[str, str], int] = {}

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

    def phoneme_count(self, word: str) -> int:
        """How many phonemes espeak-ng gives `word` on its own in the current voice."""
        key = (self._voice or "", word)
        if key not in self._phoneme_counts:
            buf = ctypes.create_string_buffer(word.encode("utf-8"))
            pointer = ctypes.c_void_p(ctypes.addressof(buf))
            out = self.lib.espeak_TextToPhonemes(
                ctypes.byref(pointer), CHARS_UTF8, PHONEME_SEPARATOR
            )
            phonemes = (out or b"").decode("utf-8", "replace").replace(" ", "|").split("|")
            self._phoneme_counts[key] = max(1, sum(1 for ph in phonemes if ph.strip("'_, ")))
        return self._phoneme_counts[key]

    def speak(self, text, voice, rate, pitch, pitch_range, words):
        """PCM (int16), events (type, text position, sample, phoneme name) and the phoneme
        count of each of `words`, as libespeak-ng gives them for `text`."""
        # set on every call, not only on a change: espeak-ng keeps state across calls (after a
        # Chinese voice the next utterance gets an extra event), and a fresh voice makes the
        # output depend on this call alone
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r} (espeak-ng --voices lists them)")
        self._voice = voice
        self.lib.espeak_SetParameter(PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(PARAM_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(PARAM_RANGE, pitch_range, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        self.lib.espeak_Synth(buf, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return pcm, self._events, {w: self.phoneme_count(w) for w in words}


class EspeakCrashed(ValueError):
    """libespeak-ng crashed or hung on this input twice: the caller draws another sentence."""


class _Died(Exception):
    pass


class IsolatedEspeak(_Speaker):
    """libespeak-ng in a child process of its own (`python -m alignadapt.demo.espeak`): the
    same audio and times as `Espeak` (the child sees the same calls in the same order), and a
    crash or a call that takes longer than `timeout` seconds restarts the child and tries
    once more; a second failure raises `EspeakCrashed` (a ValueError: the sentence is drawn
    again). `crashes` counts the restarts.

    The library's output depends a little on what it spoke before (a word start moves by
    0.5 ms after an English sentence), so after a restart the child speaks like a fresh one,
    not like the one that crashed. Crashes depend on the input, so a stream of calls still
    gives the same speech every time it is replayed."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.crashes = 0
        self._proc: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # the child imports this copy
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._pid = os.getpid()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            kind, value = self._receive()
        except _Died as err:
            raise RuntimeError(f"the espeak-ng child process did not start: {err}") from None
        if kind != "ok":
            raise RuntimeError(value)
        self.sample_rate = value

    def _receive(self):
        if not select.select([self._proc.stdout], [], [], self.timeout)[0]:
            raise _Died(f"gave no answer in {self.timeout:g} s")
        try:
            return pickle.load(self._proc.stdout)
        except (EOFError, pickle.UnpicklingError):
            raise self._ended() from None

    def _ended(self) -> _Died:
        try:
            code = self._proc.wait(5)
        except subprocess.TimeoutExpired:
            return _Died("stopped answering")
        if code < 0:
            return _Died(f"crashed ({signal.Signals(-code).name})")
        return _Died(f"exited with status {code}")

    def speak(self, text, voice, rate, pitch, pitch_range, words):
        if self._pid != os.getpid():  # forked with the object: the pipes are the parent's
            self._start()
        request = (text, voice, rate, pitch, pitch_range, words)
        for attempt in (1, 2):
            try:
                pickle.dump(request, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._proc.stdin.flush()
                kind, value = self._receive()
            except (BrokenPipeError, _Died) as err:
                if isinstance(err, BrokenPipeError):  # it had ended before this request
                    err = self._ended()
                self.crashes += 1
                what = (
                    f"espeak-ng {err} speaking {text!r} in voice {voice!r}"
                    f" (rate {rate}, pitch {pitch}, range {pitch_range})"
                )
                self._stop()
                self._start()
                if attempt == 2:
                    raise EspeakCrashed(f"{what}, twice: draw another sentence") from None
                log.warning("%s; restarted, trying once more", what)
                continue
            if kind == "value":
                raise ValueError(value)
            return value
        raise AssertionError("unreachable")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()

    def close(self) -> None:
        """End the child (it also ends by itself when this process goes)."""
        if self._proc is not None and self._pid == os.getpid():
            self._proc.stdin.close()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
        self._proc = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the modules may be gone
            self.close()


def _serve() -> None:
    """The child of `IsolatedEspeak`: answers `Espeak.speak` requests read from stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; EOF ends the child
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the library prints goes to stderr, not into the answers
    requests = sys.stdin.buffer
    try:
        engine = Espeak()
        answer = ("ok", engine.sample_rate)
    except RuntimeError as err:
        engine, answer = None, ("error", str(err))
    while True:
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()
        if engine is None:
            return
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = ("ok", engine.speak(*request))
        except ValueError as err:
            answer = ("value", str(err))


def _joined_word_starts(
    words: list[tuple[int, str]],
    events: list[tuple[int, int, int, str]],
    phoneme_counts: dict[str, int],
) -> list[int]:
    """The start sample of every word, sharing a joined group's phonemes among its words."""
    # position 0 is no word of the text (espeak-ng adds one at the end after a Chinese voice)
    starts = {pos: sample for kind, pos, sample, _ in events if kind == EVENT_WORD and pos > 0}
    positions = [pos for pos, _ in words]
    if not set(starts) <= set(positions) or positions[0] not in starts:
        raise ValueError("espeak-ng word events do not fall on the words of the text")
    out: list[int] = []
    i = 0
    while i < len(words):
        j = i + 1
        while j < len(words) and positions[j] not in starts:
            j += 1
        out.append(starts[positions[i]])
        if j > i + 1:  # words i+1..j-1 were spoken joined to word i: split by phoneme counts
            phonemes = [
                sample
                for kind, pos, sample, name in events
                if kind == EVENT_PHONEME and pos == positions[i] and not name.startswith(("_", "("))
            ]
            want = [phoneme_counts.get(w, 1) for _, w in words[i:j]]
            if len(phonemes) < j - i:
                raise ValueError(f"too few phonemes to split the joined words {words[i:j]}")
            # cumulative shares of the group's phonemes, each word at least one phoneme
            edges = np.floor(np.cumsum(want)[:-1] * len(phonemes) / sum(want) + 0.5).astype(int)
            edges = np.clip(edges, np.arange(1, j - i), len(phonemes) - np.arange(j - i - 1, 0, -1))
            edges = np.maximum.accumulate(np.maximum(edges, np.arange(1, j - i)))
            out.extend(phonemes[k] for k in edges)
        i = j
    return out


def word_times(
    text: str,
    events: list[tuple[int, int, int, str]],
    audio: np.ndarray,
    sample_rate: int,
    words: list[tuple[int, str]] | None = None,
    phoneme_counts: dict[str, int] | None = None,
) -> list[tuple[str, float, float]]:
    """(word, start s, end s) for `words` ((1-based character position, word); default every
    space-separated word of `text`) from espeak-ng's events (see the module docstring).

    ValueError when the events cannot be matched to the words or a word's span holds no sound.
    """
    if words is None:
        words = [(m.start() + 1, m.group()) for m in re.finditer(r"\S+", text)]
    if not words:
        raise ValueError(f"no words in {text!r}")
    try:
        word_starts = _joined_word_starts(words, events, phoneme_counts or {})
    except ValueError as err:
        raise ValueError(f"{err}: {text!r}") from None
    pauses = sorted(
        sample for kind, _, sample, name in events if kind == EVENT_PHONEME and name.startswith("_")
    )
    total = len(audio)
    frame = max(1, sample_rate // 100)  # 10 ms
    n_frames = total // frame
    from ..data.audio import frame_rms  # here: the child process needs no torch

    energy = frame_rms(audio, frame)
    sounding = energy > max(energy.max(), 1e-6) * 10 ** (-35 / 20)  # within 35 dB of the peak
    out = []
    for i, (_, word) in enumerate(words):
        start = word_starts[i]
        limit = word_starts[i + 1] if i + 1 < len(words) else total
        limit = min([limit] + [p for p in pauses if p > start])
        # pull the end back onto the last sounding frame before `limit`
        first, last = start // frame, min(limit // frame, n_frames)
        voiced = np.nonzero(sounding[first:last])[0]
        if not len(voiced):  # the check against the audio: a word must hold sound
            raise ValueError(f"word {i} ({word!r}) holds no sound in {text!r}")
        end = (first + voiced[-1] + 1) * frame
        # and the start forward onto the first sounding frame (espeak may mark a word in a pause)
        start = max(start, (first + voiced[0]) * frame)
        out.append((word, start / sample_rate, min(end, limit) / sample_rate))
    return out


if __name__ == "__main__":
    _serve()
