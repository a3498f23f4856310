"""Subtitles from word times: SRT and WebVTT cues a viewer can read.

Words are gathered into cues the way subtitlers cut lines: a cue ends after sentence
punctuation (. ! ? and their CJK forms), at a pause between words, after clause punctuation
(, ; :) once it holds half its characters, and before it would pass `max_chars` characters
or `max_seconds` seconds. `per_word` instead gives every word its own SRT cue, or, in
WebVTT, keeps the cues and marks each word's start with a cue timestamp (`<00:00:01.250>`),
which players show as karaoke-style highlighting.

No cue has zero length: a cue shorter than `min_seconds` is stretched up to the next cue's
start, and one that still has no length (the aligner put its words on the same instant as
the next) is merged into the next cue.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from transformers.models.qwen3_asr.processing_qwen3_asr import _is_cjk_char

SENTENCE_END = tuple(".!?…。！？")
CLAUSE_END = tuple(",;:，、；：")
CLOSERS = "\"'”’»)]）」』"


@dataclass
class SubtitleSettings:
    max_chars: int = 42  # characters per cue (one line)
    max_seconds: float = 7.0  # longest cue
    pause_seconds: float = 0.5  # a silence this long between words ends a cue
    min_seconds: float = 0.3  # shorter cues are stretched toward the next cue's start
    per_word: bool = False  # SRT: one cue per word; WebVTT: a cue timestamp before each word


@dataclass
class Cue:
    start: float
    end: float
    words: list  # Word objects (formats.Word): word, start, end

    @property
    def text(self) -> str:
        return join_display([w.word for w in self.words])


def _core(word: str) -> str:
    """The word without punctuation around it."""
    return "".join(c for c in word if not unicodedata.category(c).startswith(("P", "Z")))


def separator(before: str, after: str) -> str:
    """A space between two words, none between two CJK characters ("好，" then "世")."""
    a, b = _core(before), _core(after)
    return "" if a and b and _is_cjk_char(a[-1]) and _is_cjk_char(b[0]) else " "


def join_display(words: Sequence[str]) -> str:
    """Words -> one line, spaced as the transcript's language spaces them."""
    out = words[0] if words else ""
    for before, after in zip(words, words[1:], strict=False):
        out += separator(before, after) + after
    return out


def _ends_with(word: str, marks: tuple[str, ...]) -> bool:
    return word.rstrip(CLOSERS).endswith(marks)


def make_cues(words: Sequence, settings: SubtitleSettings | None = None) -> list[Cue]:
    """Cues in time order, none of zero length (see the module docstring)."""
    s = settings or SubtitleSettings()
    if s.per_word:
        cues = [Cue(w.start, w.end, [w]) for w in words]
    else:
        cues = []
        current: list = []
        for w in words:
            if current:
                last = current[-1]
                text = join_display([x.word for x in [*current, w]])
                shown = join_display([x.word for x in current])
                cut = (
                    _ends_with(last.word, SENTENCE_END)
                    or w.start - last.end >= s.pause_seconds
                    or (_ends_with(last.word, CLAUSE_END) and len(shown) >= s.max_chars // 2)
                    or len(text) > s.max_chars
                    or w.end - current[0].start > s.max_seconds
                )
                if cut:
                    cues.append(Cue(current[0].start, last.end, current))
                    current = []
            current.append(w)
        if current:
            cues.append(Cue(current[0].start, current[-1].end, current))
    return no_zero_length(cues, s.min_seconds)


def no_zero_length(cues: list[Cue], min_seconds: float) -> list[Cue]:
    """Stretch short cues toward the next cue's start; merge a cue that still has no length
    into the next one (the last cue is stretched freely)."""
    out: list[Cue] = []
    i = 0
    while i < len(cues):
        cue = cues[i]
        if i + 1 < len(cues):
            following = cues[i + 1]
            cue.end = max(cue.end, min(cue.start + min_seconds, following.start))
            if cue.end <= cue.start + 1e-3:  # nothing left between this cue and the next
                cues[i + 1] = Cue(cue.start, following.end, [*cue.words, *following.words])
                i += 1
                continue
        else:
            cue.end = max(cue.end, cue.start + min_seconds)
        out.append(cue)
        i += 1
    return out


def timestamp(seconds: float, separator: str = ",") -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT)."""
    ms = int(round(seconds * 1000))
    return (
        f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}"
        f"{separator}{ms % 1000:03d}"
    )


def to_srt(words: Sequence, settings: SubtitleSettings | None = None) -> str:
    cues = make_cues(words, settings)
    return "".join(
        f"{i}\n{timestamp(c.start)} --> {timestamp(c.end)}\n{c.text}\n\n"
        for i, c in enumerate(cues, 1)
    )


def to_webvtt(words: Sequence, settings: SubtitleSettings | None = None) -> str:
    s = settings or SubtitleSettings()
    cues = make_cues(words, SubtitleSettings(**{**s.__dict__, "per_word": False}))
    blocks = ["WEBVTT\n"]
    for c in cues:
        if s.per_word:  # a cue timestamp before every word but the first, inside the cue
            text = c.words[0].word
            for before, w in zip(c.words, c.words[1:], strict=False):
                at = min(max(w.start, c.start), c.end)
                text += separator(before.word, w.word) + f"<{timestamp(at, '.')}>{w.word}"
        else:
            text = c.text
        text = text.replace("-->", "->")  # the one sequence a cue's text may not hold
        blocks.append(f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n{text}\n")
    return "\n".join(blocks)
