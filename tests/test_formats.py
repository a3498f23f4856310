"""alignadapt's output formats read by the programs people use them with (NIST's
ctmValidator.pl, Praat, ffmpeg), subtitle cues a viewer can read, and exact round trips
through the readers evaluate.py uses for other tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import srt

from alignadapt.data.external import map_to_units, read_predictions
from alignadapt.inference.formats import Word, write_alignment
from alignadapt.inference.subtitles import SubtitleSettings, make_cues

CTM_VALIDATOR = shutil.which("ctmValidator.pl") or "/usr/lib/sctk/bin/ctmValidator.pl"


def need(program: str) -> str:
    """The program's path; the test is skipped only when it is not installed (make install
    installs sctk, praat and ffmpeg, so CI runs these tests)."""
    path = program if Path(program).is_file() else shutil.which(program)
    if not path:
        pytest.skip(f"{program} is not installed (Debian packages sctk, praat, ffmpeg)")
    return path


TEXT = "«Objection», he said. The U.S.-made scanner isn't superior. 好，世界。"
WORDS = [  # (shown word, unit, start, end)
    ("«Objection»,", "objection", 0.12, 0.80),
    ("he", "he", 0.85, 0.95),
    ("said.", "said", 1.00, 1.30),
    ("The", "the", 2.00, 2.10),
    ("U.S.-made", "usmade", 2.15, 2.70),
    ("scanner", "scanner", 2.75, 3.20),
    ("isn't", "isnt", 3.25, 3.50),
    ("superior.", "superior", 3.55, 4.10),
    ("好，", "好", 4.50, 4.70),
    ("世", "世", 4.70, 4.90),
    ("界。", "界", 4.90, 5.20),
]


def words() -> list[Word]:
    return [Word(w, u, s, e, 0.9) for w, u, s, e in WORDS]


def test_ctm_passes_nists_validator_without_attached_punctuation(tmp_path):
    validator = need(CTM_VALIDATOR)
    english = [w for w in words() if w.word.isascii() or "«" in w.word]
    path = write_alignment(tmp_path / "talk.v2.ctm", "ctm", english, {"id": "talk.v2"}, 6.0)
    rows = [line.split() for line in path.read_text().splitlines()]
    assert [r[4] for r in rows] == [
        "Objection", "he", "said", "The", "U.S.-made", "scanner", "isn't", "superior",
    ]  # fmt: skip
    assert {r[0] for r in rows} == {"talk_v2"}
    done = subprocess.run([validator, "-i", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "Validated" in done.stdout, done.stdout
    # the validator is live: punctuation left attached is what it rejects
    attached = tmp_path / "attached.ctm"
    attached.write_text("talk 1 3.550 0.550 superior. 0.9\n")
    done = subprocess.run([validator, "-i", str(attached)], capture_output=True, text=True)
    assert done.returncode == 1 and "token 'superior.'" in done.stdout


READ_WORD_TIER = """form Read
    sentence path
endform
Read from file: path$
n = Get number of tiers
for t to n
    name$ = Get tier name: t
    if name$ = "words"
        m = Get number of intervals: t
        for i to m
            label$ = Get label of interval: t, i
            start = Get start time of interval: t, i
            end = Get end time of interval: t, i
            if label$ <> ""
                appendInfoLine: fixed$(start, 4), tab$, fixed$(end, 4), tab$, label$
            endif
        endfor
    endif
endfor
"""


def test_textgrid_opens_in_praat_with_the_words_and_times(tmp_path):
    praat = need("praat")
    path = write_alignment(tmp_path / "talk.TextGrid", "textgrid", words(), {}, 6.0)
    script = tmp_path / "read.praat"
    script.write_text(READ_WORD_TIER)
    done = subprocess.run(
        [praat, "--run", str(script), str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [r[2] for r in rows] == [w for w, _, _, _ in WORDS]
    np.testing.assert_allclose(
        [[float(r[0]), float(r[1])] for r in rows], [[s, e] for _, _, s, e in WORDS]
    )


@pytest.mark.parametrize(
    "fmt, per_word", [("srt", False), ("srt", True), ("vtt", False), ("vtt", True)]
)
def test_subtitles_convert_with_ffmpeg(tmp_path, fmt, per_word):
    ffmpeg = need("ffmpeg")
    path = tmp_path / f"talk.{fmt}"
    write_alignment(path, fmt, words(), {}, 6.0, subtitles=SubtitleSettings(per_word=per_word))
    out = tmp_path / "talk.ass"
    done = subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-i", str(path), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    dialogue = [line for line in out.read_text().splitlines() if line.startswith("Dialogue:")]
    expected = len(WORDS) if fmt == "srt" and per_word else 3
    assert len(dialogue) == expected
    assert "superior." in out.read_text()


def test_cues_cut_at_punctuation_and_pauses_within_limits():
    cues = make_cues(words())
    assert [c.text for c in cues] == [
        "«Objection», he said.",
        "The U.S.-made scanner isn't superior.",
        "好，世界。",
    ]
    assert [(c.start, c.end) for c in cues] == [(0.12, 1.30), (2.00, 4.10), (4.50, 5.20)]
    # a long run without punctuation or pause: cut by characters and seconds
    run = [Word(f"word{i:02d}", f"word{i:02d}", i * 0.6, i * 0.6 + 0.5, 0.9) for i in range(40)]
    cues = make_cues(run, SubtitleSettings(max_chars=42, max_seconds=7.0, pause_seconds=1.0))
    assert all(len(c.text) <= 42 and c.end - c.start <= 7.0 for c in cues)
    assert [w for c in cues for w in c.words] == run  # every word once, in order
    cues = make_cues(run, SubtitleSettings(max_chars=200, max_seconds=3.0, pause_seconds=1.0))
    assert max(c.end - c.start for c in cues) <= 3.0 and len(cues) == 8


def test_no_cue_has_zero_length_even_when_the_aligner_piles_words_up(tmp_path):
    piled = [Word(w, w, 0.32, 0.32, 0.1) for w in ("a", "b", "c")] + [
        Word("d.", "d", 1.0, 1.0, 0.1),
        Word("e", "e", 3.0, 3.0, 0.1),
    ]
    for per_word in (False, True):
        cues = make_cues(piled, SubtitleSettings(per_word=per_word))
        assert all(c.end > c.start for c in cues)
        assert [w.word for c in cues for w in c.words] == ["a", "b", "c", "d.", "e"]
        assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    per_word = make_cues(piled, SubtitleSettings(per_word=True))
    assert [c.text for c in per_word] == ["a b c", "d.", "e"]  # same instant: one cue
    path = write_alignment(tmp_path / "x.srt", "srt", piled, {}, 4.0)
    parsed = list(srt.parse(path.read_text()))
    assert all(c.end > c.start for c in parsed)


def test_webvtt_per_word_marks_each_word_with_a_cue_timestamp(tmp_path):
    path = write_alignment(
        tmp_path / "x.vtt", "vtt", words()[:3], {}, 6.0, subtitles=SubtitleSettings(per_word=True)
    )
    assert path.read_text() == (
        "WEBVTT\n\n00:00:00.120 --> 00:00:01.300\n"
        "«Objection», <00:00:00.850>he <00:00:01.000>said.\n"
    )


@pytest.mark.parametrize(
    "fmt, suffix", [("ctm", ".ctm"), ("textgrid", ".TextGrid"), ("json", ".json")]
)
def test_round_trip_through_the_readers_is_exact(tmp_path, fmt, suffix):
    folder = tmp_path / "out"
    write_alignment(folder / f"talk{suffix}", fmt, words(), {"id": "talk"}, 6.0)
    source = folder / "talk.ctm" if fmt == "ctm" else folder
    found = read_predictions("x", source)
    mapped = map_to_units([u for _, u, _, _ in WORDS], found.words["talk"])
    np.testing.assert_allclose(mapped.times, [t for _, _, s, e in WORDS for t in (s, e)], atol=1e-9)
    assert mapped.approximate == 0
