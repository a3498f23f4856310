"""A real S3-compatible server on 127.0.0.1 for the tests (moto's server mode, real HTTP), behind
a small proxy that can fail requests on purpose: answer 500, or drop the connection.

    with S3Server() as s3:        # sets AWS_ENDPOINT_URL and test credentials in os.environ
        s3.make_bucket("corpus")
        s3.fail(after=5, count=2, kind="drop")   # requests 6 and 7 for audio get dropped
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Faults:
    """Which proxied GETs of audio shards (`recording.*.tar`) fail, and how."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = 0  # audio GETs so far
        self.after, self.count, self.kind = 0, 0, "error"
        self.down = False  # every request fails (the store is gone)
        self.failed = 0

    def should_fail(self, method: str, path: str) -> str | None:
        with self.lock:
            if self.down:
                self.failed += 1
                return "drop"
            if method != "GET" or "recording." not in path:
                return None
            self.seen += 1
            if self.after < self.seen <= self.after + self.count:
                self.failed += 1
                return self.kind
            return None


def _handler(upstream: tuple[str, int], faults: Faults):
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _forward(self):
            body = None
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                body = self.rfile.read(length)
            fault = faults.should_fail(self.command, self.path)
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "error":
                payload = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(*upstream, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = f"{upstream[0]}:{upstream[1]}"
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    return Proxy


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client hanging up is expected here
        pass


class S3Server:
    """moto's S3 on 127.0.0.1 behind a fault-injecting proxy; the environment points boto at it."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.faults = Faults()
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> S3Server:
        self.moto.start()
        upstream = self.moto.get_host_and_port()
        reset = http.client.HTTPConnection(*upstream, timeout=30)  # moto's state is per process:
        reset.request("POST", "/moto-api/reset")  # start every server empty
        reset.getresponse().read()
        reset.close()
        self.proxy = _QuietServer(("127.0.0.1", 0), _handler(upstream, self.faults))
        self.thread = threading.Thread(target=self.proxy.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.proxy.server_address[1]}"
        env = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1",  # no retries inside boto: the faults reach alignadapt
            "AWS_RETRY_MODE": "standard",
        }
        for key, value in env.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def make_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3").create_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        import boto3

        found = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(o["Key"] for o in found)

    def fail(self, after: int, count: int, kind: str = "error") -> None:
        with self.faults.lock:
            self.faults.seen, self.faults.after, self.faults.count = 0, after, count
            self.faults.kind = kind

    def __exit__(self, *exc) -> None:
        self.proxy.shutdown()
        self.proxy.server_close()
        self.moto.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
