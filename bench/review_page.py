"""Review page benchmark: time to first paint and the server's memory, in Debian's headless
Chromium. Needs no GPU and no download.

    .venv/bin/python bench/review_page.py        # or: make bench-review
    .venv/bin/python bench/review_page.py hour   # one case: lines or hour

1. A 1,000-line manifest (synthetic tone words, 2-6 s lines, pseudo-label style confidences):
   the page's first paint, i.e. the list rendered and the least confident line drawn
   (waveform, spectrogram, word boundaries, rows), in ms after navigation starts.
2. A 1-hour recording with 10,000 words on one line: the first paint with the waveform drawn
   from peaks the server computed (never decoded in the browser): cold (the server computes
   the peaks: it reads the hour in 60 s blocks) and warm (a second page; the peaks are cached).
3. The server's memory: resident set (VmRSS) and its peak (VmHWM) of `alignadapt review serve`
   after each case, read from /proc; most of it is the Python libraries alignadapt imports
   (torch for resampling).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alignadapt.data.audio import SAMPLE_RATE  # noqa: E402
from alignadapt.demo.synthetic import SyntheticSpec, render_utterance  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def thousand_lines(folder: Path) -> Path:
    """1,000 lines over 50 distinct recordings (the list's size is what is measured)."""
    rng = np.random.default_rng(0)
    recordings = []
    for i in range(50):
        audio, text, spans = render_utterance(rng, SyntheticSpec(min_words=4, max_words=12))
        sf.write(folder / f"r{i:02d}.flac", audio.astype(np.float32), SAMPLE_RATE)
        recordings.append((f"r{i:02d}.flac", text, spans, len(audio) / SAMPLE_RATE))
    lines = []
    for k in range(1000):
        path, text, spans, duration = recordings[k % 50]
        conf = round(float(rng.uniform(0.05, 1.0)), 4)
        words = [
            {"word": w, "start": s, "end": e, "confidence": conf}
            for w, (s, e) in zip(text.split(), spans, strict=True)
        ]
        alignment = {"model": "base", "confidence": conf, "low_confidence": conf < 0.1}
        lines.append({"audio_path": path, "text": text, "duration": duration, "words": words})
        lines[-1]["alignment"] = alignment
    manifest = folder / "thousand.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def one_hour(folder: Path) -> Path:
    """One line: an hour of 16 kHz FLAC (noise with a tone per word), 10,000 words."""
    seconds, n_words = 3600, 10_000
    rng = np.random.default_rng(1)
    starts = np.arange(n_words) * (seconds / n_words) + 0.02
    with sf.SoundFile(folder / "hour.flac", "w", SAMPLE_RATE, 1, format="FLAC") as f:
        for minute in range(60):
            t = np.arange(60 * SAMPLE_RATE) / SAMPLE_RATE + 60 * minute
            block = 0.01 * rng.standard_normal(len(t))
            for s in starts[(starts >= 60 * minute) & (starts < 60 * minute + 60)]:
                i = int((s - 60 * minute) * SAMPLE_RATE)
                on = slice(i, min(i + SAMPLE_RATE // 4, len(t)))
                block[on] += 0.3 * np.sin(2 * np.pi * 300 * t[on])
            f.write(block.astype(np.float32))
    words = [
        {"word": f"w{i}", "start": round(float(s), 3), "end": round(float(s) + 0.25, 3)}
        for i, s in enumerate(starts)
    ]
    line = {"audio_path": "hour.flac", "text": " ".join(w["word"] for w in words)}
    line |= {"duration": float(seconds), "words": words}
    manifest = folder / "hour.jsonl"
    manifest.write_text(json.dumps(line) + "\n")
    return manifest


def start_server(manifest: Path) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-c",
        "import sys; from alignadapt.cli import main; sys.exit(main())",
    ]
    command += ["review", "serve", str(manifest), "-o", str(manifest.with_suffix(".out.jsonl"))]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    return server, server.stdout.readline().split()[1]


def memory_mb(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def first_paint(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    page.goto(url)
    page.wait_for_function("window.review && window.review.lineReady !== null", timeout=300_000)
    problems = page.inner_text("#status") + page.inner_text("#problems")
    assert "error" not in problems.lower(), problems
    ms = page.evaluate("window.review.firstPaint")
    page.close()
    return ms


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        chosen = sys.argv[1:] or ["lines", "hour"]  # `bench/review_page.py hour`: that case
        cases = []
        if "lines" in chosen:
            cases.append(("1,000-line manifest", thousand_lines(folder)))
        if "hour" in chosen:
            cases.append(("1-hour recording, 10,000 words", one_hour(folder)))
        print(f"{'case':32} {'first paint':>22} {'server RSS':>11} {'peak RSS':>9}")
        for name, manifest in cases:
            server, url = start_server(manifest)
            try:
                idle = memory_mb(server.pid)[0]
                t0 = time.perf_counter()
                cold = first_paint(browser, url)
                cold_wall = (time.perf_counter() - t0) * 1000
                warm = first_paint(browser, url)
                with urllib.request.urlopen(url + "api/peaks/1") as answer:
                    peaks_kb = len(answer.read()) / 1024
                rss, peak = memory_mb(server.pid)
            finally:
                server.terminate()
                server.wait()
            print(
                f"{name:32} cold {cold:6.0f} ms, warm {warm:5.0f} ms {rss:8.0f} MB {peak:6.0f} MB"
            )
            print(
                f"{'':32} (cold wall clock {cold_wall:.0f} ms; server idle {idle:.0f} MB; "
                f"peaks of line 1: {peaks_kb:.0f} KB)"
            )
        browser.close()


if __name__ == "__main__":
    main()
