"""Output of hijacked engine connections (`exec` start, attach) that arrived with the headers.

The docker SDK reads a hijacked stream from the raw socket under the HTTP response
(`APIClient._get_raw_response_socket`), past the response's read buffer. The headers were read
through that buffer, so stream bytes that arrived in the same read as the headers are in the
buffer and never seen: `exec` of a quick command returns exit code 0 and no output. On a local
socket the engine's writes rarely coalesce; through an ssh forward (stackup.engine.docker.ssh)
they often do, since ssh packs what the remote socket gave it into one channel message.

`keep_buffered_output(api)` makes that client hand out a socket that serves the buffered
bytes first.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import docker


class _BufferedFirst:
    """The hijacked socket, with the bytes already read into the response's buffer served
    first. The SDK polls `fileno()` before each `recv`; while buffered bytes remain, that is
    a pipe holding one byte (always readable), so the poll does not wait for the socket."""

    def __init__(self, raw: Any, pending: bytes) -> None:
        self._raw = raw
        self._pending = pending
        self._ready_read, ready_write = os.pipe()
        os.write(ready_write, b"\0")
        os.close(ready_write)
        self._response: Any = None  # kept alive, as the SDK keeps it on the socket

    def fileno(self) -> int:
        return self._ready_read if self._pending else int(self._raw.fileno())

    def recv(self, size: int) -> bytes:
        if self._pending:
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        data = self._raw.read(size)
        return bytes(data) if data is not None else b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._ready_read)
        self._raw.close()

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._ready_read)

    def __getattr__(self, name: str) -> Any:  # settimeout, sendall, _sock, ... of the socket
        return getattr(self._raw, name)


def _buffered_bytes(buffered: Any) -> bytes:
    """What the response's BufferedReader holds, without waiting for the socket."""
    raw_socket: socket.socket | None = getattr(getattr(buffered, "raw", None), "_sock", None)
    if raw_socket is None:
        return b""
    timeout = raw_socket.gettimeout()
    raw_socket.setblocking(False)
    try:
        # peek() returns the buffer when it holds anything; otherwise its one read of the
        # non-blocking socket returns nothing (or what has just arrived, which is fine too).
        return bytes(buffered.peek())
    except (BlockingIOError, OSError):
        return b""
    finally:
        raw_socket.settimeout(timeout)


def keep_buffered_output(api: docker.APIClient) -> None:
    """Make `api`'s hijacked sockets (unix socket and plain TCP) serve buffered bytes first."""
    original = api._get_raw_response_socket  # type: ignore[attr-defined]

    def raw_response_socket(response: Any) -> Any:
        sock = original(response)
        if getattr(response, "status_code", None) != 101:
            # Not hijacked (logs, attach without upgrade): the SDK reads those through the
            # response's buffer itself and asks for the socket only to set its timeout.
            return sock
        buffered = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
        if buffered is None or getattr(buffered, "raw", None) is not sock:
            return sock  # TLS, npipe, paramiko: another layout; left as the SDK has it
        pending = _buffered_bytes(buffered)
        if not pending:
            return sock
        buffered.read(len(pending))  # consumed from the buffer, served by the wrapper
        wrapper = _BufferedFirst(sock, pending)
        wrapper._response = response
        return wrapper

    api._get_raw_response_socket = raw_response_socket  # type: ignore[attr-defined]
