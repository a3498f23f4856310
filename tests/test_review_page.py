"""The review page in a real browser: Debian's Chromium, headless, driven by Playwright.

A manifest of four pseudo-labelled synthetic lines (exact word times known; one word moved
80 ms in each), one line whose audio is gone and one with no words, reviewed against the
exact times as the reference row. The tests drag a boundary, save, and read the exact new
time from the output manifest; press the shortcuts; open two tabs on one line; restart the
server; change the manifest on disk; ask for files the manifest does not name.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from alignadapt.model.decoding import Decoded
from alignadapt.review_web.server import make_server, url_of
from alignadapt.review_web.session import ReviewError, ReviewSession, three_way
from alignadapt.review_web.static_page import write_review_page

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SHIFT_S = 0.08  # the pseudo-labels' error on one word per line


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make system-deps installs it"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def review_dir(corpus, tmp_path) -> Path:
    """pseudo.jsonl (lines 1-4 labelled, 5: audio gone, 6: no words) and ref.jsonl (exact)."""
    truth = [json.loads(x) for x in corpus["test"].read_text().splitlines()[:4]]
    for line in truth:
        line["audio_path"] = str(corpus["test"].parent / line["audio_path"])
    confidences = (0.3, 0.05, 0.6, 0.9)  # line 2 is flagged (under 0.1): it comes first
    pseudo = []
    for k, (line, conf) in enumerate(zip(truth, confidences, strict=True)):
        words = [dict(w, confidence=conf) for w in line["words"]]
        moved = k % len(words)
        words[moved]["start"] = round(words[moved]["start"] + SHIFT_S, 4)
        words[moved]["end"] = round(words[moved]["end"] + SHIFT_S, 4)
        alignment = {"model": "/models/base", "confidence": conf, "low_confidence": conf < 0.1}
        pseudo.append(dict(line, words=words, alignment=alignment, speaker=f"s{k}"))
    gone = dict(truth[0], audio_path=str(tmp_path / "gone.wav"))
    pseudo += [gone, {"audio_path": truth[1]["audio_path"], "text": truth[1]["text"]}]
    (tmp_path / "pseudo.jsonl").write_text("".join(json.dumps(x) + "\n" for x in pseudo))
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(x) + "\n" for x in truth))
    return tmp_path


def new_session(d: Path, out: str = "out.jsonl") -> ReviewSession:
    return ReviewSession(d / "pseudo.jsonl", d / out, {"ref": str(d / "ref.jsonl")}, "ref")


@contextmanager
def serving(session: ReviewSession):
    server = make_server(session)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server)
    finally:
        server.shutdown()
        server.server_close()


def new_page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    page.set_default_timeout(120_000)  # a loaded CI machine, not a hang
    return page


def open_page(browser, url: str):
    page = new_page(browser)
    page.goto(url)
    page.wait_for_function("window.review && window.review.lineReady !== null", timeout=120_000)
    return page


def wait_line(page, line_id: int) -> None:
    page.wait_for_function(f"window.review.lineReady === {line_id}", timeout=120_000)


def status(page) -> str:
    page.wait_for_function("document.getElementById('status').textContent !== ''")
    return page.inner_text("#status")


def saved_status(page) -> str:
    """The status once a save asked for with Ctrl+S has answered: until then it still reads
    "unsaved changes" (reading it straight away races the server)."""
    page.wait_for_function(
        "!document.getElementById('status').textContent.startsWith('unsaved changes')"
    )
    return page.inner_text("#status")


def drag(page, word: int, side: str, dx: int) -> float:
    """Drag word `word`'s `side` handle by dx pixels; returns the time the page must now hold,
    computed from the geometry (whole ms, as the page snaps)."""
    old = page.evaluate(f"window.review.state.words[{word}][{0 if side == 'left' else 1}]")
    width = page.evaluate("window.review.state.ws.getWrapper().getBoundingClientRect().width")
    duration = page.evaluate("window.review.state.ws.getDuration()")
    box = page.locator(f'[part~="w{word}"] [part~="region-handle-{side}"]').bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=6)
    page.mouse.up()
    return round(old + dx * duration / width, 3)


def output_lines(path: Path) -> dict[int, dict]:
    records = [json.loads(x) for x in path.read_text().splitlines()]
    return {int(r["alignment"]["source"].rpartition(":")[2]): r for r in records}


# ---- the session, without a browser ---------------------------------------------------------
def test_three_way_merge_keeps_both_tabs_changes_and_names_the_clashes():
    base = [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    theirs = [[0.0, 1.1], [1.0, 2.0], [2.0, 3.0]]  # the other tab moved word 0's end
    mine = [[0.0, 1.0], [1.0, 2.0], [2.2, 3.0]]  # this tab moved word 2's start
    assert three_way(base, theirs, mine) == ([[0.0, 1.1], [1.0, 2.0], [2.2, 3.0]], [])
    clash = [[0.0, 1.3], [1.0, 2.0], [2.0, 3.0]]
    assert three_way(base, theirs, clash)[1] == [0]


def test_session_order_rows_and_refusals(review_dir):
    session = new_session(review_dir)
    items = session.summaries()["items"]
    assert [x["id"] for x in items] == [2, 1, 3, 4, 5, 6]  # flagged, least confident, problems
    assert items[0]["flags"] == ["low confidence: 0.050 on average (below 0.1)"]
    assert items[1]["aas_ms"]["manifest"] == round(SHIFT_S * 1000 / len_words(session, 1), 1)
    assert "no words with times" in items[-1]["problem"]
    assert f"{review_dir / 'pseudo.jsonl'}:6" in items[-1]["problem"]
    detail = session.detail(5)
    assert detail["problems"] == [
        f"ref: no words for recording 'gone' in {review_dir / 'ref.jsonl'}",
        f"{review_dir / 'pseudo.jsonl'}:5: audio file {review_dir / 'gone.wav'} does not exist",
    ]
    with pytest.raises(ValueError, match="is the input manifest"):
        ReviewSession(review_dir / "pseudo.jsonl", review_dir / "pseudo.jsonl")
    with pytest.raises(ReviewError, match="3 times for 4 words|times for"):
        session.save(1, 0, [], [[0, 1]] * (len_words(session, 1) - 1))


def len_words(session: ReviewSession, line: int) -> int:
    return len(session.lines[line].units)


# ---- the page ------------------------------------------------------------------------------
def test_page_draws_the_waveform_spectrogram_boundaries_and_rows(review_dir, browser):
    import matplotlib.image

    session = new_session(review_dir)
    with serving(session) as url:
        page = open_page(browser, url)
        wait_line(page, 2)  # the flagged line opens first
        assert page.locator("#lines li").count() == 6
        units = session.lines[2].units
        regions = page.locator('[part~="region"]')
        assert regions.count() == len(units)
        # every region sits where its word's times say, on the waveform's own scale
        wrapper = page.evaluate(
            "(() => { const r = window.review.state.ws.getWrapper().getBoundingClientRect();"
            " return [r.x, r.width]; })()"
        )
        duration = page.evaluate("window.review.state.ws.getDuration()")
        for i, (start, end) in enumerate(session.lines[2].utt.spans):
            box = page.locator(f'[part~="w{i}"]').bounding_box()
            assert box["x"] == pytest.approx(wrapper[0] + start / duration * wrapper[1], abs=1.5)
            assert box["width"] == pytest.approx((end - start) / duration * wrapper[1], abs=1.5)
        # rows: this manifest and the reference
        assert page.locator(".row").count() == 2
        # the screenshot's structure: a drawn waveform band, a spectrogram band with texture,
        # and a dark boundary line at every word start in the rows band
        shot = page.locator("#waveform").screenshot()
        image = matplotlib.image.imread(io.BytesIO(shot))[..., :3].mean(axis=2)
        wave, spec = image[5:105], image[115:200]
        assert (wave < 0.85).mean() > 0.1  # waveform drawn (white is 1.0)
        assert spec.std() > 0.05  # a spectrogram, not a flat fill
        rows_band = image[-40:]
        left = wrapper[0] - page.locator("#waveform").bounding_box()["x"]
        for start, _ in session.lines[2].utt.spans:
            x = int(round(left + start / duration * wrapper[1]))
            assert rows_band[:, max(0, x - 1) : x + 3].min() < 0.45, f"no boundary at {start}"
        page.close()


def test_drag_a_boundary_and_save_writes_the_exact_new_time(review_dir, browser):
    before = (review_dir / "pseudo.jsonl").read_bytes()
    session = new_session(review_dir)
    with serving(session) as url:
        page = open_page(browser, url)
        wait_line(page, 2)
        expected = drag(page, 1, "right", 30)
        assert page.evaluate("window.review.state.words[1][1]") == expected
        page.keyboard.press("Control+s")
        assert saved_status(page).startswith("saved line 2 (corrected)")
        page.close()
    out = output_lines(review_dir / "out.jsonl")
    assert list(out) == [2]
    record = out[2]
    original = json.loads(before.decode().splitlines()[1])
    assert record["words"][1]["end"] == expected
    assert [w["start"] for w in record["words"]] == [w["start"] for w in original["words"]]
    assert record["alignment"]["reviewed"] is True
    assert record["alignment"]["changed"] is True
    assert record["alignment"]["source"] == f"{review_dir / 'pseudo.jsonl'}:2"
    assert record["alignment"]["pseudo_labelled_by"] == "/models/base"
    assert record["alignment"]["changes"] == [
        {
            "unit": 1,
            "word": original["words"][1]["word"],
            "from": [original["words"][1]["start"], original["words"][1]["end"]],
            "to": [original["words"][1]["start"], expected],
        }
    ]
    assert record["speaker"] == "s1"  # what the line carried travels with it
    assert (review_dir / "pseudo.jsonl").read_bytes() == before  # the input is never written
    assert not list(review_dir.glob(".out.jsonl-*"))  # no temporary file left
    # the output is a manifest like review import's: a reviewed reference, not a model's labels
    from alignadapt.data.manifest import iter_manifest

    (utt,) = list(iter_manifest(review_dir / "out.jsonl"))
    assert utt.labelled_by is None and utt.spans[1][1] == expected


def test_keyboard_shortcuts_move_play_accept_and_change_lines(review_dir, browser):
    session = new_session(review_dir)
    spans = session.lines[2].utt.spans
    with serving(session) as url:
        page = open_page(browser, url)
        wait_line(page, 2)
        page.keyboard.press("ArrowRight")
        assert page.evaluate("window.review.state.sel") == [1, 1]
        page.keyboard.press("Shift+ArrowRight")
        assert page.evaluate("window.review.state.sel") == [1, 2]
        page.keyboard.press("w")  # play the selection: word 2's start to word 3's end
        assert page.evaluate("window.review.state.lastPlay") == {
            "start": spans[1][0],
            "end": spans[2][1],
        }
        page.wait_for_function("window.review.state.ws.isPlaying()", timeout=60_000)
        page.keyboard.press("Space")  # pause
        page.wait_for_function("!window.review.state.ws.isPlaying()", timeout=60_000)
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("window.review.state.sel") == [0, 0]
        page.keyboard.press("j")  # next line in the list: line 1
        wait_line(page, 1)
        page.keyboard.press("k")
        wait_line(page, 2)
        page.keyboard.press("a")  # accept as it is, then the next line not yet reviewed
        wait_line(page, 1)
        assert "saved line 2 (accepted as it was)" in status(page)
        assert page.locator("#lines li.reviewed").count() == 1
        page.close()
    record = output_lines(review_dir / "out.jsonl")[2]
    assert record["alignment"]["changed"] is False and record["alignment"]["changes"] == []
    assert [(w["start"], w["end"]) for w in record["words"]] == [tuple(s) for s in spans]


def test_two_tabs_merge_different_words_and_refuse_the_same_one(review_dir, browser):
    session = new_session(review_dir)
    with serving(session) as url:
        one, two = open_page(browser, url), open_page(browser, url)
        wait_line(one, 2)
        wait_line(two, 2)
        first = drag(one, 0, "right", 20)
        one.keyboard.press("Control+s")
        assert saved_status(one).startswith("saved line 2")
        last = len(session.lines[2].units) - 1
        second = drag(two, last, "left", -20)  # another word: merged
        two.keyboard.press("Control+s")
        assert "saved from another tab meanwhile; both changes are kept" in saved_status(two)
        record = output_lines(review_dir / "out.jsonl")[2]
        assert record["words"][0]["end"] == first and record["words"][last]["start"] == second
        assert two.evaluate("window.review.state.words[0][1]") == first  # the page took it in
        # the first tab is now behind; it moves the word the second tab moved, differently
        drag(one, last, "left", -40)
        one.keyboard.press("Control+s")
        one.wait_for_function("document.getElementById('status').className === 'error'")
        assert "saved from another tab meanwhile, with other times for word" in status(one)
        assert output_lines(review_dir / "out.jsonl")[2]["words"][last]["start"] == second
        one.close()
        two.close()


def test_restart_resumes_with_the_saved_times_at_the_next_line(review_dir, browser):
    session = new_session(review_dir)
    loaded = [list(s) for s in session.lines[2].utt.spans]
    words = [list(s) for s in loaded]
    words[0][1] = round(words[0][1] + 0.05, 3)
    session.save(2, 0, loaded, words)
    again = new_session(review_dir)  # a new server on the same output
    assert list(again.reviewed) == [2] and again.revision[2] == 1
    assert again.spans(again.lines[2])[0][1] == words[0][1]
    with serving(again) as url:
        page = open_page(browser, url)
        wait_line(page, 1)  # line 2 is done: the page opens the next one in review order
        assert page.locator("#lines li.reviewed").count() == 1
        page.close()
    # an output that is the review of another manifest is refused, naming its line
    (review_dir / "other.jsonl").write_text(
        json.dumps(dict(json.loads((review_dir / "out.jsonl").read_text()), text="x")) + "\n"
    )
    with pytest.raises(ValueError, match=r"other\.jsonl:1: line 2 of .* is no longer the line"):
        new_session(review_dir, "other.jsonl")


def test_bad_inputs_get_a_message_in_the_page_and_the_server_keeps_running(review_dir, browser):
    session = new_session(review_dir)
    manifest = review_dir / "pseudo.jsonl"
    with serving(session) as url:
        page = open_page(browser, url)
        wait_line(page, 2)
        page.locator("#lines li[data-id='5']").click()
        wait_line(page, 5)
        assert f"audio file {review_dir / 'gone.wav'} does not exist" in page.inner_text(
            "#problems"
        )
        assert page.locator(".row").count() == 1  # the words are still shown (no ref for it)
        page.locator("#lines li[data-id='6']").click()
        wait_line(page, 6)
        assert f"{manifest}:6: the line has no words" in page.inner_text("#problems")
        page.keyboard.press("a")
        assert "cannot be saved" in status(page)
        # paths outside what the manifest names: refused with a message
        for path in ("audio/..%2F..%2Fetc%2Fpasswd", "static/..%2Fsession.py", "etc/passwd"):
            answer = page.evaluate(
                f"fetch('{url}{path}').then(r => r.json().then(j => [r.status, j.error]))"
            )
            assert answer[0] == 404 and "not" in answer[1], path
        # the manifest changes on disk: saving pauses, with a message, until a restart
        page.locator("#lines li[data-id='1']").click()
        wait_line(page, 1)
        manifest.write_text(manifest.read_text() + "\n")
        drag(page, 0, "right", 10)
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('status').className === 'error'")
        assert f"{manifest} changed on disk after the server read it" in status(page)
        assert not (review_dir / "out.jsonl").exists()
        # still running
        assert page.evaluate(f"fetch('{url}api/session').then(r => r.status)") == 200
        page.close()


def test_cli_serves_on_loopback_prints_its_url_and_refuses_a_second_server(review_dir):
    out = review_dir / "cli_out.jsonl"
    command = [
        sys.executable,
        "-c",
        "import sys; from alignadapt.cli import main; sys.exit(main())",
        "review",
        "serve",
        str(review_dir / "pseudo.jsonl"),
        "-o",
        str(out),
        "--compare",
        f"ref={review_dir / 'ref.jsonl'}",
        "--reference",
        "ref",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = first.stdout.readline()
        assert line.startswith("review: http://127.0.0.1:"), line
        url = line.split()[1]
        with urllib.request.urlopen(url + "api/session", timeout=300) as answer:
            described = json.load(answer)
        assert described["output"] == str(out) and described["reference"] == "ref"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "audio/..%2F..%2Fetc%2Fpasswd", timeout=300)
        assert err.value.code == 404
        # generous timeouts: each process imports torch, which takes minutes on a loaded machine
        second = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert second.returncode == 2
        assert f"another `alignadapt review serve` (pid {first.pid}) is writing {out}" in (
            second.stderr
        )
    finally:
        first.send_signal(signal.SIGTERM)  # `kill` stops it as Ctrl-C does
        rest, _ = first.communicate(timeout=900)
    assert first.returncode == 0
    assert not Path(str(out) + ".lock").exists()
    assert (
        rest.strip() == f"wrote 0 reviewed line(s) to {out} (0 corrected by hand, 6 not reviewed)"
    )


# ---- the report's page -----------------------------------------------------------------------
def report_results(corpus):
    from alignadapt.evaluation.report import UttResult

    results = []
    for k, raw in enumerate(corpus["test"].read_text().splitlines()[:4]):
        line = json.loads(raw)
        ref = np.array([[w["start"], w["end"]] for w in line["words"]])
        base, adapted = ref.copy(), ref.copy()
        base += 0.1 * (k + 1)  # base: AAS 100, 200, 300, 400 ms
        adapted += 0.02 * (4 - k)  # adapted: AAS 80, 60, 40, 20 ms
        results.append(
            UttResult(
                key=f"test.jsonl:{k + 1}",
                units=[w["word"] for w in line["words"]],
                reference=ref,
                language="English",
                audio_path=str(corpus["test"].parent / line["audio_path"]),
                predictions={
                    "base": Decoded(times=base.ravel(), repaired=0),
                    "adapted": Decoded(times=adapted.ravel(), repaired=0),
                },
            )
        )
    return results


def test_report_page_opens_from_the_file_system_read_only_worst_first(corpus, tmp_path, browser):
    results = report_results(corpus)
    index = write_review_page(tmp_path / "report", results, ["base", "adapted"], worst=1)
    assert index == tmp_path / "report" / "review" / "index.html"
    assert (index.parent / "static" / "vendor" / "wavesurfer.min.js").exists()
    page = new_page(browser)
    page.goto(index.as_uri())
    page.wait_for_function("window.review && window.review.lineReady !== null", timeout=120_000)
    # each column's worst line (base: the 4th, adapted: the 1st), worst adapted first
    assert page.input_value("#sort") == "aas:adapted"
    names = page.locator("#lines li .name").all_inner_texts()
    stems = [Path(r.audio_path).stem for r in results]
    assert names == [stems[0], stems[3]]
    assert page.evaluate("window.review.lineReady") == 2  # the base's worst is line 1 here
    page.select_option("#sort", "aas:base")
    assert page.locator("#lines li .name").all_inner_texts() == [stems[3], stems[0]]
    page.locator("#lines li").first.click()
    page.wait_for_function("window.review.lineReady === 1", timeout=120_000)
    assert page.locator(".row").count() == 3  # reference, base, adapted
    assert page.locator('[part~="region"]').count() == len(results[3].units)
    assert page.evaluate("window.review.state.ws.getDuration()") > 0  # audio from the disk
    assert not page.locator("#accept").is_visible()
    page.keyboard.press("a")
    assert "read-only" in status(page)
    page.close()


def test_evaluate_writes_the_review_page_next_to_its_report(tiny_dir, corpus, tmp_path):
    from alignadapt.evaluation.run import run_evaluation
    from alignadapt.inference.aligner import AlignerSettings

    lines = [json.loads(x) for x in corpus["test"].read_text().splitlines()[:2]]
    for line in lines:
        line["audio_path"] = str(corpus["test"].parent / line["audio_path"])
    manifest = tmp_path / "ref.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run_evaluation(manifest, {}, str(tiny_dir), tmp_path / "report", AlignerSettings(), bootstrap=5)
    data = (tmp_path / "report" / "review" / "data.js").read_text()
    document = json.loads(data.removeprefix("window.REVIEW_DATA = ").rstrip().rstrip(";"))
    assert len(document["items"]) == 2
    assert [r["name"] for r in document["lines"]["1"]["rows"]] == ["reference", "base", "naive"]
    assert document["session"]["read_only"] is True
    assert os.path.exists(tmp_path / "report" / "review" / "index.html")


def test_compare_rows_from_another_aligners_textgrids_and_ctm(review_dir):
    """Other tools' output, read as evaluate.py reads it, becomes rows matched to the units."""
    from alignadapt.inference.formats import Word, textgrid_text

    truth = [json.loads(x) for x in (review_dir / "ref.jsonl").read_text().splitlines()]
    (review_dir / "mfa").mkdir()
    ctm = []
    for line in truth:
        stem = Path(line["audio_path"]).stem
        words = [Word(w["word"], w["word"], w["start"], w["end"], 1.0) for w in line["words"]]
        (review_dir / "mfa" / f"{stem}.TextGrid").write_text(textgrid_text(words, 10.0))
        ctm += [f"{stem} 1 {w.start:.3f} {w.end - w.start:.3f} {w.word}\n" for w in words]
    (review_dir / "nfa.ctm").write_text("".join(ctm))
    session = ReviewSession(
        review_dir / "pseudo.jsonl",
        review_dir / "out.jsonl",
        {"mfa": str(review_dir / "mfa"), "nfa": str(review_dir / "nfa.ctm")},
    )
    rows = {r["name"]: r for r in session.detail(1)["rows"]}
    assert list(rows) == ["manifest", "mfa", "nfa"]
    exact = [(w["start"], w["end"]) for w in truth[0]["words"]]
    for name in ("mfa", "nfa"):
        got = [(w["start"], w["end"]) for w in rows[name]["words"]]
        assert np.allclose(got, exact, atol=1e-3), name
    # the manifest's line 1 has one word 80 ms off: that is the rows' disagreement
    item = next(x for x in session.summaries()["items"] if x["id"] == 1)
    assert item["disagreement_ms"] == pytest.approx(SHIFT_S * 1000 / len(exact), abs=0.6)
