"""The review page's local web server: the standard library's threading HTTP server.

It serves the page and its scripts from the installed package, a JSON API over one
ReviewSession, and audio by line number only (`/audio/<line>`): never a path from the
request, so nothing but the files the manifest names can be read through it. It listens
on 127.0.0.1 unless told otherwise. A request that fails gets a JSON `{"error": ...}` the
page shows; the server keeps running.

    GET  /                       the page
    GET  /static/<file>          its scripts and styles (package files)
    GET  /api/session            manifest, output, rows, read-only or not
    GET  /api/lines              every line's summary, review order
    GET  /api/line/<id>          one line: rows of words, figures, problems
    GET  /api/peaks/<id>         waveform peaks
    GET  /api/spectrogram/<id>   spectrogram frames (null for long recordings)
    GET  /audio/<id>             the line's audio file (byte ranges: the page seeks in it)
    POST /api/save/<id>          {"revision", "loaded", "words"}: the corrected times
"""

from __future__ import annotations

import functools
import json
import mimetypes
import os
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..data.audio import audio_info
from . import media
from .session import ReviewError, ReviewSession

STATIC = Path(__file__).parent / "static"
CHUNK = 1 << 16
MAX_BODY = 50 << 20


class LockError(RuntimeError):
    pass


def take_lock(out: Path) -> Path:
    """`OUT.lock` holds the server's pid: a second server writing the same output would
    silently undo the first one's saves, so it is refused (a stale lock is taken over)."""
    lock = out.with_name(out.name + ".lock")
    out.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # stale: its server is gone
                continue
            except PermissionError:
                pass
            raise LockError(
                f"another `alignadapt review serve` (pid {pid}) is writing {out}: use its page, "
                f"or stop it (or delete {lock} if that process is not a review server)"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return lock
    raise LockError(f"cannot take {lock}")


class Handler(BaseHTTPRequestHandler):
    session: ReviewSession  # set on the class made for each server

    def log_message(self, format, *args) -> None:  # quiet: no line per request
        pass

    # ---- answers ---------------------------------------------------------------------------
    def send_json(self, value, status: int = 200) -> None:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status: int, message: str) -> None:
        self.send_json({"error": message}, status)

    def send_file(self, path: Path, content_type: str | None = None) -> None:
        """A file, or the byte range asked for (the audio element seeks with ranges)."""
        size = path.stat().st_size
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start = max(0, size - int(match[2]))
            if start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(HTTPStatus.OK)
        kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_header("Content-Type", kind)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # ---- routes ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if method == "GET" and path in ("/", "/index.html"):
                return self.send_file(STATIC / "index.html", "text/html; charset=utf-8")
            if method == "GET" and path == "/favicon.ico":
                self.send_response(HTTPStatus.NO_CONTENT)
                return self.end_headers()
            if method == "GET" and path.startswith("/static/"):
                return self.static(path.removeprefix("/static/"))
            match = re.fullmatch(r"/(api/\w+|audio)(?:/(\d+))?", path)
            if not match:
                raise ReviewError(
                    f"{path} is not served: the page, its scripts, and the manifest's audio by "
                    "line number (/audio/<line>) only",
                    404,
                )
            what, line_id = match[1], int(match[2]) if match[2] else None
            if method == "POST":
                if what != "api/save" or line_id is None:
                    raise ReviewError(f"POST {path}: only /api/save/<line>", 405)
                return self.send_json(self.session.save(line_id, **self.read_body()))
            if what == "api/session":
                return self.send_json(self.describe())
            if what == "api/lines":
                return self.send_json(self.session.summaries())
            if line_id is None:
                raise ReviewError(f"{path}: which line? ({path}/<line>)", 404)
            if what == "api/line":
                return self.send_json(self.session.detail(line_id))
            if what in ("api/peaks", "api/spectrogram", "audio"):
                return self.media(what, line_id)
            raise ReviewError(f"{path} is not served", 404)
        except ReviewError as err:
            self.send_error_json(err.status, str(err))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away mid-answer (a seek, a closed tab)
        except Exception as err:  # the server keeps running; the page shows what happened
            self.send_error_json(500, f"{type(err).__name__}: {err}")

    def read_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ReviewError("request too large", 413)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            return {k: body[k] for k in ("revision", "loaded", "words")}
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ReviewError('a save is {"revision", "loaded", "words"}') from None

    def static(self, name: str) -> None:
        file = (STATIC / name).resolve()
        if STATIC.resolve() not in file.parents or not file.is_file():
            raise ReviewError(f"/static/{name} is not one of the page's files", 404)
        self.send_file(file)

    def media(self, what: str, line_id: int) -> None:
        line = self.session.line(line_id)
        if line.utt is None:
            raise ReviewError(line.problem or f"line {line_id} has no audio", 404)
        audio = line.utt.audio_path
        if not audio.is_file():
            raise ReviewError(
                f"{self.session.manifest}:{line_id}: audio file {audio} does not exist", 404
            )
        if what == "audio":
            return self.send_file(audio)
        duration = audio_info(audio).duration
        compute = cached_peaks if what == "api/peaks" else cached_spectrogram
        self.send_json(compute(str(audio), os.stat(audio).st_mtime_ns, duration, line.utt.channel))

    def describe(self) -> dict:
        s = self.session
        return {
            "manifest": str(s.manifest),
            "output": str(s.out) if s.out else None,
            "read_only": s.out is None,
            "rows": list(s.compare_sources),
            "reference": s.reference,
            "lines": len(s.lines),
            "reviewed": len(s.reviewed),
        }


@functools.lru_cache(maxsize=16)
def cached_peaks(path: str, mtime: int, duration: float, channel: int | None) -> dict:
    return media.peaks(path, duration, channel)


@functools.lru_cache(maxsize=8)
def cached_spectrogram(path: str, mtime: int, duration: float, channel: int | None):
    return media.spectrogram(path, duration, channel)


def make_server(session: ReviewSession, host: str = "127.0.0.1", port: int = 0):
    """A server bound to `host:port` (0: a free port); `server.server_address` says which."""
    handler = type("ReviewHandler", (Handler,), {"session": session})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def url_of(server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
