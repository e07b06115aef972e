"""One apply per project at a time, on this host.

The lock is a file under the user's runtime directory, keyed by the engine's ID and the
project name, held with `flock` for the whole apply; the kernel drops it when the process dies,
even by SIGKILL, so a crashed apply never leaves a stale lock. It does not guard one remote
engine driven from two machines: each host has its own lock files.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stackup.errors import LockError


def lock_path(engine_id: str, project: str) -> Path:
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / "stackup-locks"
    base.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{engine_id}\0{project}".encode()).hexdigest()[:24]
    return base / f"{project}-{key}.lock"


@contextmanager
def project_lock(
    engine_id: str,
    project: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] = lambda message: None,
) -> Iterator[None]:
    """Hold the project's lock. Waits (calling `on_wait` once with who holds it) or, with
    `wait=False`, raises `LockError` at once."""
    path = lock_path(engine_id, project)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                raise LockError(
                    f"project {project} is locked by pid {holder}",
                    hint="another stackup is applying this project; retry when it is done",
                ) from None
            on_wait(f"waiting for the lock on project {project} (held by pid {holder})")
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            on_wait(f"got the lock on project {project} after {time.monotonic() - started:.1f}s")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"
