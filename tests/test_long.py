"""Long recordings: each piece aligned with exactly its own words, mismatch flagged.

A stand-in aligner that squeezes (as a real forced aligner does: every unit it is given is
placed in its audio, so text that is not there compresses the words that are) sees the old
failure: windows handed a surplus of text come out wrong, pieces with their own words do not.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from alignadapt.data.audio import SAMPLE_RATE, load_audio, read_blocks
from alignadapt.evaluation.metrics import slot_errors_ms
from alignadapt.inference import programme
from alignadapt.inference.aligner import Aligner, AlignerSettings
from alignadapt.inference.long import (
    AUDIO_WITHOUT_WORDS,
    WORDS_NOT_IN_AUDIO,
    ArrayAudio,
    FileAudio,
    align_long,
)
from alignadapt.inference.programme import UNLIKE_SPEECH
from alignadapt.inference.signal import (
    frame_features,
    speech_likeness,
    speech_segments,
    voice_threshold,
)
from alignadapt.model.decoding import Decoded
from alignadapt.model.prompt import split_units, unit_breaks
from alignadapt.model.reference import load_for_inference

CHAR_S = 0.05  # the stand-in world: a unit of k characters lasts k x 50 ms


def talk(minutes: float, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Noise bursts for words (short gaps inside sentences, 0.4-1.2 s between them)."""
    rng = np.random.default_rng(seed)
    t, spans, units = 0.5, [], []
    while t < minutes * 60 - 5:
        for _ in range(rng.integers(5, 15)):
            chars = int(rng.integers(2, 10))
            spans.append((t, t + chars * CHAR_S))
            units.append("a" * chars)
            t += chars * CHAR_S + rng.uniform(0.02, 0.12)
        t += rng.uniform(0.4, 1.2)
    audio = np.zeros(int((t + 1) * SAMPLE_RATE), np.float32)
    for s, e in spans:
        a, b = int(s * SAMPLE_RATE), int(e * SAMPLE_RATE)
        audio[a:b] = rng.standard_normal(b - a) * 0.2
    return audio, units, np.array(spans)


def squeezing(truth: np.ndarray):
    """An aligner exact when its text is in its audio; text beyond the audio's ends takes its
    share of the audio, compressing every word (an affine squeeze of the whole call)."""

    def place(start: float, end: float, idx: list[int]) -> np.ndarray:
        t = truth[idx]
        lo, hi = min(start, t.min()), max(end, t.max())
        return (t - lo) / (hi - lo) * (end - start)

    def run(batch):
        out = []
        for piece, audio, _ in batch:
            assert len(piece.stretches) == 1  # no splicing with overlap=0
            rel = place(piece.start, piece.start + len(audio) / SAMPLE_RATE, piece.units)
            n = len(piece.units)
            out.append({"argmax": Decoded(rel.ravel(), 0, np.ones(2 * n), np.zeros(2 * n, bool))})
        return out

    return place, run


def old_windowing(place, duration: float, n: int, window=240.0, margin=2.0, per_s=8.0):
    """What alignadapt did before: up to 8 units a second of window, keep what ends before
    the margin, start the next window at the last kept word (kept here to show it fails)."""
    start, first, times = 0.0, 0, []
    while first < n:
        end = min(duration, start + window)
        count = n - first if end >= duration else min(n - first, math.ceil(per_s * (end - start)))
        spans = place(start, end, list(range(first, first + count)))
        inside = spans[:, 1] <= (end - start) - margin
        kept = count if end >= duration or inside.all() else max(1, int(np.argmin(inside)))
        times.append(spans[:kept] + start)
        start, first = start + spans[kept - 1, 1], first + kept
    return np.concatenate(times)


def test_a_squeezing_aligner_breaks_the_old_windows_but_not_the_pieces():
    audio, units, truth = talk(7)
    place, run = squeezing(truth)
    old = old_windowing(place, len(audio) / SAMPLE_RATE, len(units))
    assert np.abs(old - truth).mean() > 5.0  # seconds: the surplus text moved every word
    result = align_long(ArrayAudio(audio), units, run, 180.0, 0.0, 10.0)
    spans = result.decoded["argmax"].spans
    assert np.abs(spans - truth).max() < 0.02  # every word where it was said (10 ms frames)
    assert len(result.pieces) >= 3 and result.gaps == []
    assert all(p.end - p.start <= 180.0 for p in result.pieces)
    owned = sorted(i for p in result.pieces for i in p.own)
    assert owned == list(range(len(units)))  # each unit in exactly one piece


def test_audio_without_words_is_flagged_and_the_words_still_align():
    audio, units, truth = talk(4, seed=1)
    # 30 s of room noise after the last word (loud sound with no words: a known gap, see the
    # README; the speaking rate absorbs it as it absorbs an unspoken sentence)
    rng = np.random.default_rng(2)
    noise = (rng.standard_normal(30 * SAMPLE_RATE) * 0.002).astype(np.float32)
    audio = np.concatenate([audio, noise])
    _, run = squeezing(truth)
    result = align_long(ArrayAudio(audio), units, run, 60.0, 0.0, 10.0)
    assert np.abs(result.decoded["argmax"].spans - truth).max() < 0.02
    (gap,) = result.gaps
    assert (gap.kind, gap.first, gap.count) == (AUDIO_WITHOUT_WORDS, len(units), 0)
    assert gap.start == pytest.approx(truth[-1, 1])
    assert gap.end == pytest.approx(len(audio) / SAMPLE_RATE)


def sentence_ends(truth: np.ndarray) -> np.ndarray:
    """The talk's punctuation: a sentence ends where the next word is 0.4 s or more away."""
    return np.append(truth[1:, 0] - truth[:-1, 1] >= 0.4, True)


class GivenUnspoken(Exception):
    """A call was handed the sentence nobody says."""


def unspoken_sentence(seed: int, with_breaks: bool = True) -> str:
    """Four minutes of talk with 2.4 s of unspoken text put in at a sentence start; "ok" when
    no call is handed it, the rest aligns exactly and it is the one gap, else what went wrong."""
    audio, units, truth = talk(4, seed=seed)
    middle = len(units) // 2
    while truth[middle, 0] - truth[middle - 1, 1] < 0.4:  # the start of a sentence
        middle += 1
    extra = ["b" * 8] * 6  # 2.4 s of text nobody says
    with_extra = units[:middle] + extra + units[middle:]
    index = [*range(middle), *[-1] * len(extra), *range(middle, len(units))]
    ends = sentence_ends(truth)
    breaks = np.concatenate([ends[:middle], [False] * 5 + [True], ends[middle:]])
    place, _ = squeezing(truth)

    def run(batch):
        out = []
        for piece, clip, _ in batch:
            idx = [index[i] for i in piece.units]
            if -1 in idx:
                raise GivenUnspoken
            rel = place(piece.start, piece.start + len(clip) / SAMPLE_RATE, idx)
            n = len(idx)
            out.append({"argmax": Decoded(rel.ravel(), 0, np.ones(2 * n), np.zeros(2 * n, bool))})
        return out

    try:
        result = align_long(
            ArrayAudio(audio),
            with_extra,
            run,
            60.0,
            0.0,
            10.0,
            breaks=breaks if with_breaks else None,
        )
    except GivenUnspoken:
        return "a call was given the unspoken sentence"
    spoken = np.array(index) >= 0
    if np.abs(result.decoded["argmax"].spans[spoken] - truth).max() >= 0.02:
        return "spoken words moved"
    gaps = [(g.kind, g.first, g.count, round(g.start, 2), round(g.end, 2)) for g in result.gaps]
    want = (
        WORDS_NOT_IN_AUDIO,
        middle,
        6,
        round(truth[middle - 1, 1], 2),
        round(truth[middle, 0], 2),
    )
    return "ok" if gaps == [want] else f"gaps {gaps}, wanted {[want]}"


def test_an_unspoken_sentence_is_flagged_and_left_out_of_every_call():
    """Ten recordings: with the transcript's punctuation (`unit_breaks`) the unspoken sentence
    is found, flagged with its place and left out of every call in 9 (measured; the tenth
    leaves out a short neighbour sentence instead, see the README); without it, durations
    alone find it in fewer (shifting later sentences' text costs them nothing)."""
    found = {seed: unspoken_sentence(seed) for seed in range(1, 11)}
    assert sum(v == "ok" for v in found.values()) >= 9, found
    blind = {seed: unspoken_sentence(seed, with_breaks=False) for seed in range(1, 11)}
    assert sum(v == "ok" for v in blind.values()) < sum(v == "ok" for v in found.values())


def words_and_ends(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The stand-in's units (a recording's words) and its breaks (each text's last word)."""
    units = [w for text in texts for w in text.split()]
    ends = [np.arange(len(t.split())) == len(t.split()) - 1 for t in texts]
    return units, np.concatenate(ends)


def test_music_without_words_is_flagged_and_the_words_still_align():
    """Three minutes of held-out espeak-ng sentences with 30 s of music in the middle, as
    loud as the speech: energy alone calls it speech (without the spectral flux the
    programme gave it the sentences next to it and left their speech without words, and the
    demo base's AAS went from 535 to 7,241 ms: README); it hardly changes, so it is given no
    text, the stand-in aligner places every word exactly and the music is the one gap."""
    from .longform import spoken_recording, with_music

    rec = spoken_recording(180.0)
    audio, truth, (start, end) = with_music(rec, 30.0)
    units, breaks = words_and_ends(rec.texts)
    _, run = squeezing(truth)
    result = align_long(ArrayAudio(audio), units, run, 60.0, 0.0, 10.0, breaks=breaks)
    assert np.abs(result.decoded["argmax"].spans - truth).max() < 0.02
    (gap,) = result.gaps
    assert gap.kind == AUDIO_WITHOUT_WORDS
    middle = len(rec.texts) // 2
    first = sum(len(t.split()) for t in rec.texts[:middle])
    assert (gap.first, gap.count) == (first, 0)
    assert (gap.start, gap.end) == pytest.approx((truth[first - 1, 1], truth[first, 0]))
    assert gap.start < start and gap.end > end


def another_speaker(seed: int, seconds: float) -> str:
    """Four minutes of talk with about `seconds` of another talk (whole sentences, not in the
    transcript) put in at a sentence start; "ok" when every word aligns exactly and the other
    talk is the one gap, else what went wrong."""
    audio, units, truth = talk(4, seed=seed)
    middle = len(units) // 2
    while truth[middle, 0] - truth[middle - 1, 1] < 0.4:  # the start of a sentence
        middle += 1
    other, _, spans = talk(seconds / 60 + 0.1, seed=seed + 100)
    ends = np.flatnonzero(sentence_ends(spans))
    last = ends[np.argmin(np.abs(spans[ends, 1] - seconds))]
    other = other[: int((spans[last, 1] + 0.5) * SAMPLE_RATE)]
    at = int((truth[middle - 1, 1] + truth[middle, 0]) / 2 * SAMPLE_RATE)
    audio = np.concatenate([audio[:at], other, audio[at:]])
    truth = truth.copy()
    truth[middle:] += len(other) / SAMPLE_RATE
    _, run = squeezing(truth)
    result = align_long(ArrayAudio(audio), units, run, 60.0, 0.0, 10.0, breaks=sentence_ends(truth))
    moved = np.abs(result.decoded["argmax"].spans - truth).max(axis=1) >= 0.02
    if moved.any():
        return f"{moved.sum()} units moved"
    gaps = [(g.kind, g.first, g.count) for g in result.gaps]
    return "ok" if gaps == [(AUDIO_WITHOUT_WORDS, middle, 0)] else f"gaps {gaps}"


def test_another_speaker_left_out_of_the_transcript_is_flagged(monkeypatch):
    """Ten recordings with 40 s of another talk in the middle: in 9 (measured) every word
    aligns exactly and the other talk is the one stretch flagged. Without the once-per-run
    cost of audio without text and the speaking-rate search, none: the other talk's speech
    makes the first guess of the speaking rate too slow, and at that rate the programme
    spreads the text over it and leaves short segments elsewhere without words (README)."""
    found = {seed: another_speaker(seed, 40.0) for seed in range(1, 11)}
    assert sum(v == "ok" for v in found.values()) >= 9, found
    monkeypatch.setattr(programme, "EMPTY_OPEN", 0.0)
    monkeypatch.setattr(programme, "RATE_SEARCH", (1.0, 1.0))
    blind = {seed: another_speaker(seed, 40.0) for seed in range(1, 11)}
    assert sum(v == "ok" for v in blind.values()) == 0, blind


def test_a_second_voice_is_flagged_and_the_words_still_align():
    """Three minutes of held-out espeak-ng sentences in one test voice with 30 s of another
    test voice (higher, faster) saying sentences in no transcript, put in the middle: the
    stand-in aligner places every word exactly and the second voice is the one gap."""
    from .longform import other_speaker, spoken_recording, with_sound

    rec = spoken_recording(180.0)
    audio, truth, (start, end) = with_sound(rec, other_speaker(30.0))
    units, breaks = words_and_ends(rec.texts)
    _, run = squeezing(truth)
    result = align_long(ArrayAudio(audio), units, run, 60.0, 0.0, 10.0, breaks=breaks)
    assert np.abs(result.decoded["argmax"].spans - truth).max() < 0.02
    (gap,) = result.gaps
    first = sum(len(t.split()) for t in rec.texts[: len(rec.texts) // 2])
    assert (gap.kind, gap.first, gap.count) == (AUDIO_WITHOUT_WORDS, first, 0)
    assert gap.start < start and gap.end > end - 0.5


def test_frame_features_do_not_depend_on_the_blocks():
    audio, _, _ = talk(1.0, seed=5)
    whole = frame_features([audio])
    assert len(whole.levels_db) == len(whole.flux_db) == len(audio) // 160
    for size in (16_000, 12_345, 399):  # blocks shorter than an analysis window too
        blocks = frame_features(audio[i : i + size] for i in range(0, len(audio), size))
        np.testing.assert_array_equal(blocks.levels_db, whole.levels_db)
        np.testing.assert_allclose(blocks.flux_db, whole.flux_db, atol=1e-4)


def test_music_sounds_unlike_speech_and_speech_like_itself():
    """Held-out espeak-ng sentences with 30 s of chords put in the middle: every segment of
    the music scores under the likeness at which giving it no text is cheap (0.45), every
    segment of speech over the one at which it costs full price (0.6)."""
    from .longform import spoken_recording, with_music

    audio, _, (start, end) = with_music(spoken_recording(60.0), 30.0)
    frames = frame_features([audio])
    segments = speech_segments(frames.levels_db, 5.4)
    voiced = frames.levels_db > voice_threshold(frames.levels_db)
    likeness = speech_likeness(frames.flux_db, voiced, segments)
    inside = (segments[:, 0] >= start - 0.05) & (segments[:, 1] <= end + 0.05)
    assert inside.sum() >= 5  # the music is split like speech would be, at 5.4 s at most
    assert likeness[inside].max() < UNLIKE_SPEECH[0], likeness[inside]
    assert likeness[~inside].min() > UNLIKE_SPEECH[1], likeness[~inside]


def test_blocks_read_the_file_as_a_whole_read_does(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((150 * 8000, 2)) * 0.1).astype(np.float32)
    path = tmp_path / "long.flac"
    sf.write(path, data, 8000)
    blocks = list(read_blocks(path, seconds=60.0, channel=1))
    assert [len(b) for b in blocks] == [960_000, 960_000, 480_000]
    whole = load_audio(path, channel=1)
    joined = np.concatenate(blocks)
    inner = np.ones(len(whole), bool)
    for edge in (960_000, 1_920_000):  # each block is resampled alone: its edges differ a little
        inner[edge - 64 : edge + 64] = False
    np.testing.assert_allclose(joined[inner], whole[inner], atol=2e-3)
    with pytest.raises(ValueError, match="long.flac: has 2 channel"):
        next(read_blocks(path, channel=2))


def test_a_long_file_is_aligned_from_disk_like_the_same_audio_in_memory(tiny_dir, tmp_path):
    model, proc = load_for_inference(tiny_dir)
    aligner = Aligner(model, proc, AlignerSettings(decodings=["argmax", "subclass"]))
    assert aligner.window_s == pytest.approx(199 * 0.08)  # capped: 200 classes of 80 ms
    audio, units, _ = talk(1.0, seed=3)
    units = ["the", "patient", "presents"] * (len(units) // 3)
    path = tmp_path / "talk.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    from_disk = aligner.align_file(path, units)
    (in_memory,) = aligner.align([audio], [units])
    assert len(from_disk.pieces) == len(in_memory.pieces) > 3
    for name in ("argmax", "subclass"):
        a, b = from_disk.decoded[name], in_memory.decoded[name]
        assert a.times.shape == (2 * len(units),)
        assert np.all(np.diff(a.times) >= 0)
        np.testing.assert_allclose(a.times, b.times)
    assert FileAudio(path).duration == pytest.approx(len(audio) / SAMPLE_RATE)


DEMO_BASE = Path(__file__).resolve().parents[1] / "models" / "demo-base"


@pytest.mark.slow
def test_the_demo_base_aligns_three_minutes_of_test_sentences(tmp_path_factory):
    """3 minutes of held-out espeak-ng sentences in a test voice at one pace with pauses and
    a punctuated transcript, aligned as one recording and sentence by sentence with the
    shipped demo base: long (in pieces of at most 6 s) within 15% of each sentence in a call of
    its own (v7: 103.4 vs 109.4 ms; v6: 123.1 vs 114.8 ms). Before v6 the sentences were cut at
    6 s too: v5 118.9 vs 116.9 ms, v4 225.9 vs 211.6, the first base 535.0 vs 502.4 (README);
    v6 123.1 vs 103.4 that way, its whole sentences being worse than their 6 s pieces."""
    from .longform import spoken_recording

    rec = spoken_recording(180.0)
    aligner = Aligner.load(DEMO_BASE, settings=AlignerSettings(window=6.0, overlap=0.0))
    units = split_units(aligner.processor, rec.text, "English")
    (long,) = aligner.align([rec.audio], [units], breaks=[unit_breaks(rec.text, units)])
    long_aas = slot_errors_ms(long.decoded["argmax"].times, rec.reference.ravel()).mean()
    whole_calls = Aligner(aligner.model, aligner.processor)  # each sentence in one call, not cut
    singles = whole_calls.align(
        rec.clips, [split_units(aligner.processor, t, None) for t in rec.texts]
    )
    one_aas = np.concatenate(
        [
            slot_errors_ms(r.decoded["argmax"].times, s.ravel())
            for r, s in zip(singles, rec.spans, strict=True)
        ]
    ).mean()
    assert long_aas < 1.15 * one_aas, (long_aas, one_aas)


def test_align_lists_the_gaps_of_a_long_file_in_its_json(tiny_dir, tmp_path):
    """`alignadapt align` on a recording longer than a call: read from disk piece by piece,
    and the 20 s of silence at its end comes back as a gap with its time range."""
    import json

    from alignadapt.cli import main

    audio, units, truth = talk(0.75, seed=4)
    audio = np.concatenate([audio, np.zeros(20 * SAMPLE_RATE, np.float32)])
    path = tmp_path / "talk.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    text = " ".join(["the", "patient", "presents"] * (len(units) // 3))
    out = tmp_path / "talk.json"
    args = ["align", "--model", str(tiny_dir), str(path), text, "--out", str(out)]
    assert main([*args, "--flag-gap", "15"]) == 0
    written = json.loads(out.read_text())
    assert len(written["words"]) == len(units) // 3 * 3
    (gap,) = written["gaps"]
    assert gap["kind"] == AUDIO_WITHOUT_WORDS
    assert gap["end"] == pytest.approx(len(audio) / SAMPLE_RATE, abs=1e-3)
    assert gap["end"] - gap["start"] > 15
    assert any(f.startswith(AUDIO_WITHOUT_WORDS) for f in written["flags"])
