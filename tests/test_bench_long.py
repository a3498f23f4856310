"""bench/long_recordings.py runs as its docstring says and prints its figures."""

import ast
import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def bench(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "long_recordings.py"), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_stand_in_run_prints_wall_time_and_memory():
    out = bench("--minutes", "1", "--stand-in")
    assert re.search(r"^1 min, \d+ units, \d+ pieces$", out, re.M), out
    assert re.search(r"from disk: wall [\d.]+ s \([\d.]+ min per hour of audio\), peak RSS", out)
    assert "AAS" not in out  # no model, no accuracy


def test_the_demo_base_run_aligns_3_minutes_and_flags_what_is_not_in_the_transcript():
    out = bench("--minutes", "3", "--unspoken", "--music", "--other-speaker")  # 1 min fails
    long_aas, one = map(
        float, re.search(r"AAS: long ([\d.]+) ms, sentence by sentence ([\d.]+)", out).groups()
    )
    assert long_aas < 1.15 * one, out
    naive_long, naive_one = map(
        float, re.search(r"naive: long ([\d.]+) ms, sentence by sentence ([\d.]+) ms", out).groups()
    )
    assert long_aas < naive_long, out  # better than what a user without a model has
    assert naive_one < naive_long, out  # sentence boundaries are worth a lot to naive
    found = re.search(r"unspoken sentence \(units (\d+)-(\d+), .*flagged .* \[\((\d+), (\d+),", out)
    assert found, out
    first, last, flagged_first, count = map(int, found.groups())
    assert (flagged_first, count) == (first, last - first + 1)
    rest = float(re.search(r"AAS of the other words ([\d.]+) ms", out).group(1))
    assert rest < 1.15 * long_aas, out  # the rest of the recording keeps its error
    music = re.search(r"music \(([\d.]+)-([\d.]+) s\): flagged audio without words (.*); AAS", out)
    assert music, out
    start, end = float(music.group(1)), float(music.group(2))
    heard = ast.literal_eval(music.group(3))  # the printed [(start, end), ...]
    assert [(s, e) for s, e in heard if s <= start and e >= end], out  # one gap holds it all
    played = float(re.search(r"AAS of the words ([\d.]+) ms \(without the music", out).group(1))
    assert played < 1.15 * long_aas, out  # the words keep their error
    other = re.search(
        r"other speaker \(([\d.]+)-([\d.]+) s\): flagged audio without words (.*); AAS", out
    )
    assert other, out
    start, end = float(other.group(1)), float(other.group(2))
    heard = ast.literal_eval(other.group(3))
    assert [(s, e) for s, e in heard if s <= start and e >= end - 0.5], out  # 0.5: its tail
    spoken = float(re.search(r"AAS of the words ([\d.]+) ms \(without them", out).group(1))
    assert spoken < 1.15 * long_aas, out
