"""stackup.engine.docker.hijack: a hijacked stream's first bytes, sent in one write with the
HTTP headers (as an ssh forward often delivers them), reach the caller.

A loopback server of the test's own plays the engine's `POST /exec/ID/start`."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import docker
import pytest

from stackup.engine.docker.hijack import keep_buffered_output

HEADERS = (
    b"HTTP/1.1 101 UPGRADED\r\n"
    b"Content-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


@pytest.fixture
def engine_port() -> Iterator[int]:
    """Answers one exec start with the headers and the whole output in a single send."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(4096)
            conn.sendall(HEADERS + _frame(1, b"ran-42\n") + _frame(2, b"warn\n"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("stream", [False, True])
def test_output_sent_with_the_headers_is_kept(engine_port: int, stream: bool) -> None:
    api = docker.APIClient(base_url=f"tcp://127.0.0.1:{engine_port}", version="1.41")
    keep_buffered_output(api)
    result = api.exec_start("abc", stream=stream)
    output = b"".join(result) if stream else result
    assert output == b"ran-42\nwarn\n"
    api.close()
