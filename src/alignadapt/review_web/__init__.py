"""The review page: see, hear and correct alignments in a browser.

`alignadapt review serve` (server.py) serves one manifest's lines, least confident first,
with other models' or tools' words as rows to compare (session.py), and writes each corrected
line to an output manifest; evaluate.py writes the same page read-only next to its report
(static_page.py). The waveform, the draggable word boundaries and the spectrogram are
wavesurfer.js (vendored under static/vendor, BSD-3-Clause); the waveform is drawn from peaks
computed here (media.py), so an hour of audio is never decoded in the browser.
"""
