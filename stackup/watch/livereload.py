"""`stackup watch --live-reload`: a small proxy on 127.0.0.1 that makes open pages refresh
themselves after a change.

Every request is forwarded to the service's published port. An HTML response gets one
`<script>` added before `</body>`; the script opens an EventSource on `/__stackup/events` and
reloads the page when a message arrives. Watch calls `notify()` after each change it has
acted on (a web-root edit, a reload of the server). Nothing else is touched: not the files
on disk, not the containers; without `--live-reload` there is no proxy at all.

The page carries the change counter it was served at (`?since=N`), so a change that happens
between the page load and the EventSource connecting still reaches it.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

EVENTS_PATH = "/__stackup/events"

SCRIPT = (
    "<script>/* injected by stackup watch --live-reload */(function(){{"
    "var s=new EventSource('{path}?since={since}');"
    "s.onmessage=function(){{s.close();location.reload();}};}})();</script>"
)

# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the proxy recomputes.
_SKIP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_SKIP_REQUEST = frozenset({*_SKIP_RESPONSE, "accept-encoding", "host"})


class Broadcaster:
    """A change counter that event streams wait on."""

    def __init__(self) -> None:
        self.generation = 0
        self.cond = threading.Condition()
        self.stopped = False

    def notify(self) -> None:
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def wait_past(self, seen: int, timeout: float) -> int | None:
        """The generation once it passes `seen`; None on timeout or stop."""
        with self.cond:
            self.cond.wait_for(lambda: self.stopped or self.generation > seen, timeout)
            if self.stopped or self.generation <= seen:
                return None
            return self.generation


def inject(body: bytes, since: int, charset: str = "utf-8") -> bytes:
    script = SCRIPT.format(path=EVENTS_PATH, since=since).encode(charset, errors="replace")
    lower = body.lower()
    at = lower.rfind(b"</body>")
    if at < 0:
        at = lower.rfind(b"</html>")
    if at < 0:
        return body + script
    return body[:at] + script + body[at:]


class _Handler(BaseHTTPRequestHandler):
    server: LiveReloadServer
    protocol_version = "HTTP/1.1"
    heartbeat: ClassVar[float] = 15.0

    def log_message(self, format: str, *args: object) -> None:  # quiet: watch prints its own
        pass

    def do_GET(self) -> None:
        if urlsplit(self.path).path == EVENTS_PATH:
            self._events()
        else:
            self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def do_OPTIONS(self) -> None:
        self._forward()

    def do_PATCH(self) -> None:
        self._forward()

    # ------------------------------------------------------------------ the event stream

    def _events(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        try:
            seen = int(query.get("since", ["-1"])[0])
        except ValueError:
            seen = -1
        broadcaster = self.server.broadcaster
        if seen < 0:
            seen = broadcaster.generation
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"retry: 500\n\n")
            self.wfile.flush()
            while not self.server.stopping.is_set():
                generation = broadcaster.wait_past(seen, self.heartbeat)
                if generation is None:
                    if self.server.stopping.is_set():
                        return
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    seen = generation
                    self.wfile.write(f"id: {generation}\ndata: reload\n\n".encode())
                self.wfile.flush()
        except OSError:
            return  # the page went away

    # ------------------------------------------------------------------ the proxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _SKIP_REQUEST}
        headers["Host"] = f"{self.server.upstream_host}:{self.server.upstream_port}"
        conn = http.client.HTTPConnection(
            self.server.upstream_host, self.server.upstream_port, timeout=30
        )
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:
            message = f"stackup live reload: the service does not answer ({exc})\n".encode()
            self.send_response(502)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        finally:
            conn.close()
        content_type = response.getheader("Content-Type", "") or ""
        encoding = response.getheader("Content-Encoding")
        if content_type.startswith("text/html") and not encoding and self.command != "HEAD":
            charset = "utf-8"
            if "charset=" in content_type:
                charset = content_type.split("charset=", 1)[1].split(";")[0].strip() or charset
            data = inject(data, self.server.broadcaster.generation, charset)
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() in _SKIP_RESPONSE:
                continue
            if content_type.startswith("text/html") and key.lower() in ("etag", "last-modified"):
                continue  # the page differs from the file: never let the browser reuse it
            self.send_header(key, value)
        if content_type.startswith("text/html"):
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class LiveReloadServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstream_host: str, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.broadcaster = Broadcaster()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def notify(self) -> None:
        self.broadcaster.notify()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="stackup-livereload"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every event stream."""
        self.stopping.set()
        self.broadcaster.stop()
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
