// The review page: a list of lines, one line's waveform, spectrogram and words, rows of other
// models' words to compare with, playback, keyboard shortcuts, and saving corrections.
// Served by `alignadapt review serve` (JSON API), or read-only from evaluate.py's report
// with everything embedded in window.REVIEW_DATA (no server: works from the file system).
(function () {
  "use strict";
  const DATA = window.REVIEW_DATA || null;
  const $ = (id) => document.getElementById(id);
  const state = {
    session: null, items: [], visible: [], current: null, detail: null,
    ws: null, regions: null, words: [], loaded: [], sel: [0, 0], unsaved: {}, lastPlay: null,
  };
  const review = (window.review = { state, ready: false, firstPaint: null, lineReady: null });

  // ---- where the data comes from ----------------------------------------------------------
  async function fetchJson(url, options) {
    const response = await fetch(url, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new Error((body && body.error) || `${url}: HTTP ${response.status}`);
    return body;
  }
  const api = DATA ? {
    session: async () => DATA.session,
    lines: async () => ({ items: DATA.items, warning: null }),
    line: async (id) => DATA.lines[id],
    peaks: async (id) => DATA.peaks[id],
    spectrogram: async (id) => DATA.spectrograms[id] || null,
    audioUrl: (id) => DATA.lines[id].audio_url,
    save: async () => { throw new Error("this page is read-only (a report)"); },
  } : {
    session: () => fetchJson("api/session"),
    lines: () => fetchJson("api/lines"),
    line: (id) => fetchJson(`api/line/${id}`),
    peaks: (id) => fetchJson(`api/peaks/${id}`),
    spectrogram: (id) => fetchJson(`api/spectrogram/${id}`),
    audioUrl: (id) => `audio/${id}`,
    save: (id, body) => fetchJson(`api/save/${id}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }),
  };

  // ---- messages --------------------------------------------------------------------------
  function status(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.className = kind || "";
  }
  function banner(text) {
    $("banner").hidden = !text;
    $("banner").textContent = text || "";
  }

  // ---- colours ---------------------------------------------------------------------------
  const hue = (h, a) => `hsla(${Math.round(h)}, 70%, 50%, ${a})`;
  function colour(word, alpha) {
    if (word.error_ms !== undefined) return hue(120 * (1 - Math.min(word.error_ms, 200) / 200), alpha);
    if (word.confidence !== undefined) return hue(120 * Math.max(0, Math.min(1, word.confidence)), alpha);
    return `rgba(60, 90, 160, ${alpha})`;
  }

  // ---- the list --------------------------------------------------------------------------
  const fmt = (x, unit) => (x === null || x === undefined ? "–" : `${x}${unit || ""}`);
  function sortOptions(items) {
    const rows = new Set();
    items.forEach((it) => Object.keys(it.aas_ms || {}).forEach((r) => rows.add(r)));
    const options = [["flagged", "most flagged, least confident"], ["disagreement", "largest disagreement"]];
    rows.forEach((r) => options.push([`aas:${r}`, `worst ${r} (AAS)`]));
    options.push(["line", "manifest order"]);
    const select = $("sort");
    select.innerHTML = "";
    options.forEach(([value, label]) => select.add(new Option(label, value)));
    if (DATA && DATA.default_sort) select.value = DATA.default_sort;
  }
  function applyFilters() {
    const query = $("search").value.trim().toLowerCase();
    const flagged = $("flagged").checked;
    const reviewed = $("reviewed").value;
    const disagree = parseFloat($("disagree").value) || 0;
    const sort = $("sort").value;
    let items = state.items.filter((it) =>
      (!query || it.name.toLowerCase().includes(query) || it.text.toLowerCase().includes(query)) &&
      (!flagged || it.flags.length > 0) &&
      (reviewed === "all" || (reviewed === "done") === it.reviewed) &&
      (disagree <= 0 || (it.disagreement_ms !== null && it.disagreement_ms >= disagree)));
    if (sort === "disagreement") items = items.slice().sort((a, b) => (b.disagreement_ms ?? -1) - (a.disagreement_ms ?? -1));
    else if (sort === "line") items = items.slice().sort((a, b) => a.id - b.id);
    else if (sort.startsWith("aas:")) {
      const row = sort.slice(4);
      const v = (it) => (it.aas_ms && it.aas_ms[row] !== undefined ? it.aas_ms[row] : -1);
      items = items.filter((it) => v(it) >= 0).sort((a, b) => v(b) - v(a));
    }
    state.visible = items;
    renderList();
  }
  function renderList() {
    const list = $("lines");
    list.innerHTML = "";
    for (const it of state.visible) {
      const li = document.createElement("li");
      li.dataset.id = it.id;
      li.className = [it.reviewed && "reviewed", it.flags.length && "flagged", it.problem && "problem",
        it.id === state.current && "current"].filter(Boolean).join(" ");
      const meta = it.problem ? "problem" : [
        it.confidence !== null ? `conf ${it.confidence.toFixed(2)}` : "",
        it.disagreement_ms !== null ? `Δ ${Math.round(it.disagreement_ms)} ms` : "",
        it.flags.length ? `⚑${it.flags.length}` : "",
      ].filter(Boolean).join(" · ");
      li.innerHTML = `<span class="meta"></span><span class="name"></span> <span class="line">:${it.line ?? it.id}</span><br><span class="snippet"></span>`;
      li.querySelector(".meta").textContent = meta;
      li.querySelector(".name").textContent = it.name + (state.unsaved[it.id] ? " *" : "");
      li.querySelector(".snippet").textContent = it.text.slice(0, 60);
      li.title = it.flags.join("\n");
      li.addEventListener("click", () => openLine(it.id));
      list.appendChild(li);
    }
    $("count").textContent = `${state.visible.length} of ${state.items.length} lines, ` +
      `${state.items.filter((x) => x.reviewed).length} reviewed`;
  }
  function step(delta) {
    const ids = state.visible.map((x) => x.id);
    const here = ids.indexOf(state.current);
    const next = ids[Math.max(0, Math.min(ids.length - 1, here + delta))];
    if (next !== undefined && next !== state.current) openLine(next);
  }

  // ---- one line --------------------------------------------------------------------------
  function renderHeader(d) {
    $("title").textContent = `${d.name} — line ${d.line ?? d.id}` + (d.reviewed ? " (reviewed)" : "");
    $("text").textContent = d.text;
    const problems = $("problems");
    problems.innerHTML = "";
    for (const p of d.problems || []) {
      const div = document.createElement("div");
      div.className = "problem";
      div.textContent = p;
      problems.appendChild(div);
    }
    const f = d.figures || {};
    const aas = Object.entries(f.aas_ms || {}).map(([k, v]) => `${k} ${v} ms`).join(", ");
    const cells = [["units", f.units], ["confidence", fmt(f.confidence)], ["zero-length", f.zero_length],
      ["AAS vs reference", aas || "no reference"], ["flags", (f.flags || []).join("; ") || "none"]];
    $("figures").innerHTML = "";
    const tr = $("figures").insertRow();
    for (const [k, v] of cells) {
      tr.insertCell().textContent = `${k}: ${v === undefined ? "–" : v}`;
    }
    banner(d.warning);
  }

  function destroyWave() {
    if (state.ws) state.ws.destroy();
    if (state.specUrl) URL.revokeObjectURL(state.specUrl);
    state.specUrl = null;
    state.ws = null;
    state.regions = null;
    $("waveform").innerHTML = "";
  }

  async function openLine(id) {
    if (state.current !== null && dirty()) state.unsaved[state.current] = state.words.map((w) => w.slice());
    state.current = id;
    review.lineReady = null;
    renderList();
    destroyWave();
    $("rows-inner").innerHTML = "";
    status("");
    let d;
    try {
      d = await api.line(id);
    } catch (err) {
      status(err.message, "error");
      return;
    }
    if (state.current !== id) return;
    state.detail = d;
    renderHeader(d);
    const edit = (d.rows || []).find((r) => r.editable);
    state.loaded = edit ? edit.words.map((w) => [w.start, w.end]) : [];
    state.words = state.unsaved[id] || state.loaded.map((w) => w.slice());
    state.sel = [0, 0];
    state.outlined = null;
    if (!edit) { done(id); return; }
    if (!d.audio) { renderRows(null); done(id); return; }
    let peaks, spec;
    try {
      [peaks, spec] = await Promise.all([api.peaks(id), api.spectrogram(id)]);
    } catch (err) {
      status(err.message, "error");
      renderRows(null);
      done(id);
      return;
    }
    if (state.current !== id) return;
    const Regions = WaveSurfer.Regions.create();
    const plugins = [Regions];
    if (spec) {
      // the plugin reads precomputed frames from a URL: a blob URL works from file:// too
      const url = URL.createObjectURL(new Blob([JSON.stringify(spec.frames)], { type: "application/json" }));
      state.specUrl = url;
      plugins.push(WaveSurfer.Spectrogram.create({
        labels: false, height: 96, frequenciesDataUrl: url, sampleRate: spec.sample_rate,
        frequencyMin: 0, frequencyMax: spec.sample_rate / 2, useWebWorker: false,
      }));
    }
    const ws = WaveSurfer.create({
      container: $("waveform"), height: 110, url: api.audioUrl(id), peaks: [peaks.data],
      duration: d.duration, minPxPerSec: 150, normalize: false, waveColor: "#5b7bb5",
      progressColor: "#2c4a80", cursorColor: "#c00", dragToSeek: false, autoScroll: true,
      plugins,
    });
    state.ws = ws;
    state.regions = Regions;
    ws.on("ready", () => {
      if (state.ws !== ws) return;
      drawRegions();
      renderRows(ws);
      select(0, 0);
      done(id);
    });
    ws.on("error", (err) => status(`audio: ${err && err.message ? err.message : err}`, "error"));
    Regions.on("region-update", (region, side) => {
      const i = +region.id.slice(1);
      if (side === "start") state.words[i][0] = snap(region.start);
      else if (side === "end") state.words[i][1] = snap(region.end);
      moveBox(i);
      markDirty();
    });
    Regions.on("region-clicked", (region, event) => {
      event.stopPropagation();
      const i = +region.id.slice(1);
      select(event.shiftKey ? Math.min(state.sel[0], i) : i, event.shiftKey ? Math.max(state.sel[1], i) : i);
    });
  }
  function done(id) {
    review.lineReady = id;
    if (!review.ready) {
      review.ready = true;
      review.firstPaint = performance.now();
    }
  }
  const snap = (t) => Math.round(t * 1000) / 1000;
  const dirty = () => state.words.some((w, i) => w[0] !== state.loaded[i][0] || w[1] !== state.loaded[i][1]);
  function markDirty() {
    status(dirty() ? "unsaved changes (a: accept, ctrl+s: save)" : "");
  }

  function drawRegions() {
    const edit = state.detail.rows.find((r) => r.editable);
    const readOnly = !!DATA || state.session.read_only;
    state.regions.clearRegions();
    state.words.forEach(([start, end], i) => {
      // a zero-length word is drawn 1 ms long so it keeps its handles; its times stay as given
      state.regions.addRegion({
        id: `w${i}`, start, end: Math.max(end, start + 0.001), content: edit.words[i].word,
        color: colour(edit.words[i], 0.22), drag: false, resize: !readOnly, minLength: 0.001,
      });
    });
  }

  function renderRows(ws) {
    const inner = document.createElement("div");
    inner.setAttribute("part", "rows");
    const duration = state.detail.duration || 1;
    for (const row of state.detail.rows) {
      const div = document.createElement("div");
      div.className = "row";
      div.dataset.row = row.name;
      Object.assign(div.style, { position: "relative", height: "22px", borderTop: "1px solid #eee" });
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = row.label + (row.reference && row.name !== "reference" ? " (reference)" : "");
      Object.assign(label.style, { position: "sticky", left: "0", zIndex: 2, fontSize: "11px",
        background: "rgba(255,255,255,0.85)", padding: "0 4px" });
      div.appendChild(label);
      row.words.forEach((w, i) => {
        const [start, end] = row.editable ? state.words[i] : [w.start, w.end];
        const box = document.createElement("div");
        box.className = "w";
        box.dataset.i = i;
        box.textContent = w.word;
        box.title = `${w.word} ${start.toFixed(3)}–${end.toFixed(3)} s` +
          (w.error_ms !== undefined ? `, ${w.error_ms} ms from the reference` : "") +
          (w.confidence !== undefined ? `, confidence ${w.confidence}` : "");
        Object.assign(box.style, { position: "absolute", top: "2px", height: "17px", fontSize: "11px",
          overflow: "hidden", whiteSpace: "nowrap", boxSizing: "border-box", paddingLeft: "2px",
          borderLeft: "1px solid #555", borderRight: "1px solid #555", background: colour(w, 0.35),
          left: `${(100 * start) / duration}%`, width: `${(100 * Math.max(end - start, 0.001)) / duration}%` });
        box.addEventListener("click", (e) => { e.stopPropagation(); select(i, i); });
        div.appendChild(box);
      });
      inner.appendChild(div);
    }
    if (ws) ws.getWrapper().appendChild(inner);  // scrolls and zooms with the waveform
    else $("rows-inner").appendChild(inner);
    state.rowsEl = inner;
  }
  function moveBox(i) {
    const duration = state.detail.duration || 1;
    const box = state.rowsEl && state.rowsEl.querySelector(`.row[data-row="manifest"] .w[data-i="${i}"]`);
    if (!box) return;
    const [start, end] = state.words[i];
    box.style.left = `${(100 * start) / duration}%`;
    box.style.width = `${(100 * Math.max(end - start, 0.001)) / duration}%`;
  }

  function select(a, b) {
    const n = state.words.length;
    if (!n) return;
    const [oldS, oldE] = state.outlined || [0, -1];
    state.sel = [Math.max(0, Math.min(a, n - 1)), Math.max(0, Math.min(b, n - 1))];
    const [s, e] = state.sel;
    // only the words whose outline changes are touched: a line can hold 10,000 words
    const regions = state.regions ? state.regions.getRegions() : [];
    const mark = (i, on) => {
      const style = on ? "2px solid #1b5fd1" : "";
      if (state.rowsEl) state.rowsEl.querySelectorAll(`.w[data-i="${i}"]`).forEach((box) => { box.style.outline = style; });
      if (regions[i] && regions[i].element) regions[i].element.style.outline = style;
    };
    for (let i = oldS; i <= oldE; i++) if (i < s || i > e) mark(i, false);
    for (let i = s; i <= e; i++) mark(i, true);
    state.outlined = [s, e];
    const edit = state.detail.rows.find((r) => r.editable);
    const words = edit.words.slice(s, e + 1).map((w) => w.word).join(" ");
    const [start, end] = [state.words[s][0], state.words[e][1]];
    $("selection").textContent = `word ${s + 1}${e > s ? `–${e + 1}` : ""} of ${n}: ${words} (${start.toFixed(3)}–${end.toFixed(3)} s)`;
    if (state.ws && state.ws.setScrollTime) {
      const view = state.ws.getWidth() / (state.ws.options.minPxPerSec || 1);
      const scrollTime = state.ws.getScroll() / (state.ws.options.minPxPerSec || 1);
      if (start < scrollTime || end > scrollTime + view) state.ws.setScrollTime(Math.max(0, start - 0.5));
    }
  }

  // ---- playback --------------------------------------------------------------------------
  function playSelection() {
    if (!state.ws || !state.words.length) return;
    const start = state.words[state.sel[0]][0];
    const end = Math.max(state.words[state.sel[1]][1], start + 0.05);
    state.lastPlay = { start, end };
    state.ws.play(start, end).catch((err) => status(`cannot play: ${err.message}`, "error"));
  }
  function playPause() {
    if (!state.ws) return;
    state.lastPlay = { start: state.ws.getCurrentTime(), end: null, toggle: true };
    state.ws.playPause().catch((err) => status(`cannot play: ${err.message}`, "error"));
  }

  // ---- saving ----------------------------------------------------------------------------
  async function save(advance) {
    const id = state.current;
    if (DATA || (state.session && state.session.read_only)) {
      status("this page is read-only: nothing is saved", "error");
      return;
    }
    if (!state.detail || !state.detail.rows || !state.detail.rows.some((r) => r.editable)) {
      status(`line ${id} cannot be saved: ${(state.detail && state.detail.problems || []).join("; ")}`, "error");
      return;
    }
    try {
      const res = await api.save(id, { revision: state.detail.revision, loaded: state.loaded, words: state.words });
      review.lastSave = res;
      state.detail.revision = res.revision;
      state.loaded = res.words.map((w) => [w.start, w.end]);
      const merged = res.words.some((w, i) => w.start !== state.words[i][0] || w.end !== state.words[i][1]);
      state.words = state.loaded.map((w) => w.slice());
      delete state.unsaved[id];
      const item = state.items.find((x) => x.id === id);
      if (item) { item.reviewed = true; item.changed = res.changed; }
      if (merged && state.regions) {
        drawRegions();
        state.words.forEach((_, i) => moveBox(i));
      }
      const msg = `saved line ${id}` + (res.changed ? " (corrected)" : " (accepted as it was)") +
        (res.message ? `: ${res.message}` : "");
      if (advance) {
        const ids = state.visible.map((x) => x.id);
        const next = state.visible.find((x, k) => k > ids.indexOf(id) && !x.reviewed);
        if (next) await openLine(next.id);
        else renderList();
      } else renderList();
      status(msg, "ok");
    } catch (err) {
      status(err.message, "error");
    }
  }

  // ---- keys ------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "SELECT", "TEXTAREA"].includes(tag)) return;
    if (tag === "BUTTON") e.target.blur();  // space must not also press the focused button
    const [a, b] = state.sel;
    const key = e.key;
    if ((e.ctrlKey || e.metaKey) && key.toLowerCase() === "s") { e.preventDefault(); save(false); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      " ": playPause,
      w: playSelection,
      ArrowRight: () => (e.shiftKey ? select(a, b + 1) : select(b + 1, b + 1)),
      ArrowLeft: () => (e.shiftKey ? select(a, Math.max(a, b - 1)) : select(a - 1, a - 1)),
      ArrowDown: () => step(1), j: () => step(1),
      ArrowUp: () => step(-1), k: () => step(-1),
      a: () => save(true), Enter: () => save(true),
    };
    const action = actions[key] || actions[key.toLowerCase()];
    if (action) { e.preventDefault(); action(); }
  });

  // ---- start -----------------------------------------------------------------------------
  async function start() {
    try {
      state.session = await api.session();
      document.body.classList.toggle("read-only", !!DATA || state.session.read_only);
      $("source").textContent = state.session.output
        ? `${state.session.manifest} → ${state.session.output}` : state.session.manifest;
      const lines = await api.lines();
      state.items = lines.items;
      banner(lines.warning);
      sortOptions(state.items);
      ["search", "flagged", "reviewed", "disagree", "sort"].forEach((id) =>
        $(id).addEventListener(id === "search" || id === "disagree" ? "input" : "change", applyFilters));
      $("prev-line").onclick = () => step(-1);
      $("next-line").onclick = () => step(1);
      $("play").onclick = playPause;
      $("play-word").onclick = playSelection;
      $("accept").onclick = () => save(true);
      applyFilters();
      // resume: the first line not yet reviewed, in review order
      const first = state.visible.find((x) => !x.reviewed && !x.problem) || state.visible[0];
      if (first) await openLine(first.id);
      else done(null);
    } catch (err) {
      status(err.message, "error");
      done(null);
    }
  }
  start();
})();
