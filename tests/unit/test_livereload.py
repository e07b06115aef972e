"""The live-reload proxy, against a local upstream HTTP server (no engine)."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stackup.watch.livereload import EVENTS_PATH, LiveReloadServer, inject

PAGE = b"<html><head><title>t</title></head><body><h1>hello</h1></body></html>"


class _Upstream(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/style.css":
            body, kind = b"body{}", "text/css"
        else:
            body, kind = PAGE, "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", "yes")
        self.send_header("ETag", '"abc"')
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy() -> Iterator[LiveReloadServer]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    t = threading.Thread(target=upstream.serve_forever, daemon=True)
    t.start()
    server = LiveReloadServer(0, "127.0.0.1", upstream.server_address[1])
    server.start()
    yield server
    server.stop()
    upstream.shutdown()
    upstream.server_close()


def _get(server: LiveReloadServer, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response, response.read()


def test_inject_before_body_end() -> None:
    out = inject(PAGE, 3)
    assert out.endswith(b"</body></html>")
    assert b"EventSource('/__stackup/events?since=3')" in out
    assert inject(b"no markup", 0).startswith(b"no markup<script>")


def test_html_gets_the_script_other_types_do_not(proxy: LiveReloadServer) -> None:
    response, body = _get(proxy, "/")
    assert response.status == 200
    assert b"<h1>hello</h1>" in body and EVENTS_PATH.encode() in body
    assert response.getheader("Content-Length") == str(len(body))
    assert response.getheader("X-Upstream") == "yes"
    assert response.getheader("ETag") is None  # the page differs from the file
    response, body = _get(proxy, "/style.css")
    assert body == b"body{}" and response.getheader("ETag") == '"abc"'


def test_event_stream_sends_a_message_after_notify(proxy: LiveReloadServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", f"{EVENTS_PATH}?since=0")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"retry: 500\n"
    assert response.readline() == b"\n"
    proxy.notify()
    assert response.readline() == b"id: 1\n"
    assert response.readline() == b"data: reload\n"
    conn.close()


def test_a_change_before_the_stream_connects_is_not_lost(proxy: LiveReloadServer) -> None:
    _, body = _get(proxy, "/")
    assert b"since=0" in body
    proxy.notify()  # the page was served at 0; the change happens before it connects
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", f"{EVENTS_PATH}?since=0")
    response = conn.getresponse()
    response.readline(), response.readline()
    assert response.readline() == b"id: 1\n"
    conn.close()


def test_stop_ends_open_streams_and_threads(proxy: LiveReloadServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", EVENTS_PATH)
    response = conn.getresponse()
    response.readline()
    proxy.stop()
    assert response.read() == b"\n"  # the blank line after retry, then the end of the stream
    assert not any(t.name == "stackup-livereload" for t in threading.enumerate())


def test_upstream_down_is_a_502() -> None:
    # A port of this test's own that nothing listens on: the connection is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        server = LiveReloadServer(0, "127.0.0.1", closed.getsockname()[1])
        server.start()
        try:
            response, body = _get(server, "/")
            assert response.status == 502 and b"does not answer" in body
        finally:
            server.stop()
