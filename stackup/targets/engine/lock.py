"""One apply per project at a time, on this host.

The lock is a file under the user's runtime directory, keyed by the engine's ID and the
project name, held with `flock` for the whole apply; the kernel drops it when the process dies,
even by SIGKILL, so a crashed apply never leaves a stale lock. It does not guard one remote
engine driven from two machines: each host has its own lock files. Nor does it guard two users
of one host (each has a private lock directory): `sudo stackup up` and `stackup up` of the same
project are not kept apart.
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
    """A per-user directory (mode 0700): under XDG_RUNTIME_DIR when set, else the temp dir
    with the user's id in its name, so nobody else can plant a file or a link there."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "stackup-locks"
        if runtime
        else Path(tempfile.gettempdir()) / f"stackup-locks-{os.getuid()}"
    )
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.lstat()
    except OSError as exc:
        raise LockError(f"cannot create the lock directory {base}: {exc}") from None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise LockError(
            f"the lock directory {base} is not private to this user",
            hint="remove it, or set XDG_RUNTIME_DIR to a directory of your own",
        )
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
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise LockError(f"cannot open the lock file {path}: {exc}") from None
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
