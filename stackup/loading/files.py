"""Reading the files a stack names (stack files, env files, secrets, configs) safely.

A path may name a FIFO (a reader blocks forever), a device (`/dev/zero` never ends), a
directory, or a huge file: each is refused with a message before any byte is read, and no
file is read past `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stackup.errors import StackFileError

MAX_FILE_BYTES = 64 << 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(path: Path, display: str) -> bytes:
    """The content of a regular file; `FileNotFoundError` when it is missing, else
    `StackFileError` for anything that is not a regular file of a sane size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StackFileError(f"cannot read {display}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        what = kind if kind.startswith("not") else f"is {kind}"
        raise StackFileError(f"{display} {what}, not a regular file")
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, open does not block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise StackFileError(f"cannot read {display}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise StackFileError(f"{display} is not a regular file")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise StackFileError(f"{display} is larger than {MAX_FILE_BYTES >> 20} MiB")
    return data


def read_text(path: Path, display: str) -> str:
    """`read_bytes` decoded as UTF-8 (`UnicodeDecodeError` when it is not)."""
    return read_bytes(path, display).decode("utf-8")
