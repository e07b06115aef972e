"""One apply per project at a time, for every client of one engine.

Every use case that changes a project (`up`, `down`, `start`/`stop`/`restart`, `run`, each
burst of `watch`) holds `project_lock` for the whole of it. It is two locks, taken in this
order and released in the reverse one:

1. **This host's**: a file under the user's runtime directory, keyed by the engine's ID and the
   project, held with `flock`. Cheap (no engine round trip), released by the kernel when its
   process dies, even by SIGKILL, and a second apply on this host waits on it without polling
   the engine; it is kept for that. It does not exclude another machine or another user.
2. **The engine's**: a lease on the engine itself (`stackup.engine.interface.Leases`; on Docker
   a container named `stackup-lock-<project>`, created and never started: the engine's
   container names are the one atomic test-and-set every client shares), labelled with its
   holder (host, user, pid, since, TTL). So an `up` on the server's own socket, one from a
   laptop over SSH and another user's exclude each other. The holder renews it every TTL/3
   from a background thread; a waiter that sees no renewal for the holder's TTL (default 30 s,
   `STACKUP_LOCK_TTL`) breaks it, by its ID (two waiters breaking one stale lease cannot remove
   the fresh one taken since), and takes it. A waiter times the silence with its own clock from
   what it observes: no clocks of two machines are compared (`since` is only shown). The lease
   is removed on the way out, whatever ends the apply (an error, Ctrl-C); `stackup unlock`
   breaks one by hand. An engine without leases is locked on this host only.

A holder whose lease was broken under it (stopped for longer than its TTL, or `stackup
unlock`) finishes what it was doing and then fails saying so: another apply may have run.
"""

from __future__ import annotations

import datetime
import fcntl
import getpass
import hashlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from stackup.engine.interface import Lease, Leases, LockEngine
from stackup.errors import LockError, StackupError
from stackup.escape import terminal

TTL_ENV = "STACKUP_LOCK_TTL"
DEFAULT_TTL = 30.0
MAX_TTL = 3600.0  # the longest a lease's holder is believed to go without renewing


def lock_ttl() -> float:
    """The lease's time to live: `STACKUP_LOCK_TTL` seconds (tests shorten it), else 30."""
    text = os.environ.get(TTL_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TTL
    except ValueError:
        raise LockError(f"{TTL_ENV}={text!r} is not a number of seconds") from None
    if not value > 0:
        raise LockError(f"{TTL_ENV}={text!r}: the lock's lease needs a positive number of seconds")
    return value


def lease_name(project: str) -> str:
    return f"stackup-lock-{project}"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project's lock, as its lease (or this host's lock file) says."""

    host: str
    user: str
    pid: str
    since: str  # UTC, ISO 8601, by the holder's clock: shown, never compared
    ttl: float  # how long the holder may go without renewing
    lease_id: str = ""  # the engine's lease ("" for what this host's lock file says)

    @classmethod
    def here(cls, ttl: float) -> LockHolder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's uid)
            user = str(os.getuid())
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        since = now.isoformat().replace("+00:00", "Z")
        return cls(socket.gethostname(), user, str(os.getpid()), since, ttl)

    @classmethod
    def of(cls, lease: Lease, default_ttl: float) -> LockHolder:
        """The holder a lease names. Its labels were written by whoever made the lease
        (another user of the engine, or a hostile engine): each one is taken as one short
        line of printable text, as every message that names the holder shows it."""
        found = {key: _shown(value) for key, value in lease.holder.items()}
        try:
            ttl = float(found.get("ttl", ""))
        except ValueError:
            ttl = default_ttl
        return cls(
            found.get("host", "?"),
            found.get("user", "?"),
            found.get("pid", "?"),
            found.get("since", ""),
            # A TTL past an hour is no holder's (it renews every TTL/3): a waiter would wait
            # for ever on a lease that claims one.
            ttl if 0 < ttl <= max(MAX_TTL, default_ttl) else default_ttl,
            lease.id,
        )

    def labels(self) -> Mapping[str, str]:
        return {
            "host": self.host,
            "user": self.user,
            "pid": self.pid,
            "since": self.since,
            "ttl": f"{self.ttl:g}",
        }

    @property
    def text(self) -> str:
        """`held by alice@laptop pid 4242 since 12:03:11 UTC`."""
        return f"held by {self.user}@{self.host} pid {self.pid} since {_since_text(self.since)}"


# The longest holder label shown (a host name is at most 253 characters).
_SHOWN_LABEL = 100


def _shown(value: str, limit: int = _SHOWN_LABEL) -> str:
    text = terminal(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _since_text(since: str) -> str:
    try:
        when = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return since or "?"
    when = when.astimezone(datetime.UTC)
    today = datetime.datetime.now(datetime.UTC).date()
    return when.strftime("%H:%M:%S UTC" if when.date() == today else "%Y-%m-%d %H:%M:%S UTC")


def locked_error(project: str, holder_text: str) -> LockError:
    return LockError(
        f"project {project} is locked ({holder_text})",
        hint="another stackup is applying this project; retry when it is done (if it is "
        "gone, its lease expires unrenewed, or `stackup unlock` breaks it)",
    )


@contextmanager
def project_lock(
    engine: LockEngine,
    project: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the project's lock on this host and on `engine`. Waits, saying who holds it
    (`on_wait`), or with `wait=False` raises `LockError` naming the holder at once."""
    me = LockHolder.here(lock_ttl())
    with _host_lock(engine.engine_id(), project, me, wait=wait, on_wait=on_wait):
        if not isinstance(engine, Leases):
            yield
            return
        lease_id = _take_lease(engine, project, me, wait, on_wait, clock, sleep)
        heartbeat = _Heartbeat(engine, lease_id, me.ttl / 3)
        try:
            heartbeat.start()
            yield
        finally:
            heartbeat.stop()
            # Removed before this host's lock is let go: a waiter here takes the lease at once.
            with suppress(StackupError):  # unreachable: it expires unrenewed
                engine.drop_lease(lease_id)
        if heartbeat.lost:
            raise LockError(
                f"the lock on project {project} was broken while this stackup held it "
                f"(not renewed for {me.ttl:g}s, or `stackup unlock`); another apply may "
                "have run at the same time",
                hint="check what is applied with `stackup diff`",
            )


def _take_lease(
    leases: Leases,
    project: str,
    me: LockHolder,
    wait: bool,
    on_wait: Callable[[str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> str:
    """Take the lease, waiting for its holder to release it or to stop renewing it."""
    name = lease_name(project)
    waited_since: float | None = None
    seen: Lease | None = None  # the lease as this waiter last saw it change
    seen_at = 0.0
    unseen = 0  # refusals in a row with no lease to read
    while True:
        lease_id = leases.take_lease(name, project, me.labels())
        if lease_id is not None:
            if waited_since is not None:
                took = clock() - waited_since
                on_wait(f"got the lock on project {project} after {took:.1f}s")
            return lease_id
        lease = leases.read_lease(name)
        if lease is None:
            # Released between the two calls, or the name is taken by something that shows
            # no lease (a container being removed; an engine that says so): retried at a
            # pace, never in a tight loop against the engine.
            unseen += 1
            if unseen == 3:
                if not wait:
                    raise locked_error(project, "held by a lease that cannot be read")
                on_wait(f"waiting for the lock on project {project} (its name is taken)")
                waited_since = clock() if waited_since is None else waited_since
            if unseen > 1:
                sleep(min(1.0, me.ttl / 5))
            continue
        unseen = 0
        while lease is not None:
            holder = LockHolder.of(lease, me.ttl)
            now = clock()
            if seen is None or lease.id != seen.id:  # a new holder
                if not wait:
                    raise locked_error(project, holder.text)
                on_wait(f"waiting for the lock on project {project} ({holder.text})")
                waited_since = now if waited_since is None else waited_since
                seen, seen_at = lease, now
            elif lease.beat != seen.beat:  # renewed: its holder lives
                seen, seen_at = lease, now
            elif now - seen_at >= holder.ttl:
                on_wait(
                    f"breaking the lock on project {project} ({holder.text}): "
                    f"not renewed for {holder.ttl:g}s"
                )
                leases.drop_lease(lease.id)
                break
            sleep(min(1.0, holder.ttl / 5))
            lease = leases.read_lease(name)


class _Heartbeat:
    """Renews a lease every `every` seconds from a thread of its own, until stopped; `lost`
    once the lease is gone (broken by another)."""

    def __init__(self, leases: Leases, lease_id: str, every: float) -> None:
        self.leases, self.lease_id, self.every = leases, lease_id, every
        self.lost = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="stackup-lock-heartbeat", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            # Not for longer: a renewal stuck on an engine that stopped answering must not
            # hold up the release (the lease then expires unrenewed).
            self._thread.join(timeout=5)

    def _run(self) -> None:
        beats = 0
        while not self._stopped.wait(self.every):
            beats += 1
            try:
                if not self.leases.renew_lease(self.lease_id, str(beats)):
                    self.lost = True
                    return
            except StackupError:
                continue  # the engine did not answer this time: the next beat may get through


def lock_holder(engine: LockEngine, project: str) -> LockHolder | None:
    """Who holds the project's lease on `engine` now (None: nobody, or no leases there)."""
    if not isinstance(engine, Leases):
        return None
    lease = engine.read_lease(lease_name(project))
    return LockHolder.of(lease, lock_ttl()) if lease is not None else None


def break_lock(engine: LockEngine, holder: LockHolder) -> None:
    """Remove the lease `holder` held (by its ID: one taken since is left alone)."""
    if isinstance(engine, Leases) and holder.lease_id:
        engine.drop_lease(holder.lease_id)


# ------------------------------------------------------------------ this host's lock


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
def _host_lock(
    engine_id: str, project: str, me: LockHolder, *, wait: bool, on_wait: Callable[[str], None]
) -> Iterator[None]:
    """The lock file, held with `flock`; it holds its holder's words (`LockHolder.text`)."""
    path = lock_path(engine_id, project)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise LockError(f"cannot open the lock file {path}: {exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(path)
            if not wait:
                raise locked_error(project, holder) from None
            on_wait(f"waiting for the lock on project {project} ({holder})")
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            on_wait(f"got the lock on project {project} after {time.monotonic() - started:.1f}s")
        os.ftruncate(fd, 0)
        os.write(fd, me.text.encode())
        yield
    finally:
        os.close(fd)


# How long a waiter reads an empty lock file again: its holder writes its words just after it
# takes the lock (truncate, then write), so an empty file is a holder between the two.
HOLDER_WORDS_WAIT = 2.0


def _holder_text(path: Path) -> str:
    deadline = time.monotonic() + HOLDER_WORDS_WAIT
    while True:
        try:
            with path.open("rb") as f:
                text = f.read(1024).decode(errors="replace").strip()
        except OSError:
            return "held by ?"
        if text:
            return _shown(text, 4 * _SHOWN_LABEL)
        if time.monotonic() >= deadline:
            return "held by ?"
        time.sleep(0.01)
