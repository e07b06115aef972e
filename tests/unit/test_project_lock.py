"""The project lock's lease, on the in-memory engine, with the waiter's clock in the test's
hands: a renewed lease is waited for however long it is held, one nobody renews is broken after
its holder's TTL by the waiter's own clock, `wait=False` refuses naming the holder, the lease
goes whatever ends the hold, a holder whose lease was broken under it is told, and `unlock`
breaks only the lease it showed. (tests/engine/test_lock.py: the same on a real engine, across
processes.)"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest

from stackup import usecases
from stackup.engine.docker.leases import DockerLeases
from stackup.engine.fake import FakeEngine
from stackup.engine.interface import Lease
from stackup.errors import EngineError, LockError
from stackup.targets.engine.lock import lease_name, lock_path, project_lock

PROJECT = "demo"
ALICE = {
    "host": "laptop",
    "user": "alice",
    "pid": "4242",
    "since": "2020-01-02T12:03:11Z",
    "ttl": "2",
}
HELD_BY_ALICE = "held by alice@laptop pid 4242 since 2020-01-02 12:03:11 UTC"


class Clock:
    """The waiter's clock and sleep: each sleep moves the clock on and lets the test act (as
    the holder would, meanwhile)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.meanwhile: Callable[[], None] = lambda: None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        self.meanwhile()


@pytest.fixture(autouse=True)
def _own_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("STACKUP_LOCK_TTL", raising=False)


def test_a_renewed_lease_is_waited_for_past_its_ttl_and_taken_once_released() -> None:
    engine, clock = FakeEngine(), Clock()
    alice = engine.take_lease(lease_name(PROJECT), PROJECT, ALICE)
    assert alice is not None

    def alice_renews_then_releases() -> None:
        if clock.sleeps < 30:  # 30 polls of 0.4 s: six times her TTL of 2 s
            engine.renew_lease(alice, f"beat {clock.sleeps}")
        else:
            engine.drop_lease(alice)

    clock.meanwhile = alice_renews_then_releases
    messages: list[str] = []
    with project_lock(engine, PROJECT, on_wait=messages.append, clock=clock, sleep=clock.sleep):
        lease = engine.read_lease(lease_name(PROJECT))
        assert lease is not None and lease.id != alice
        assert lease.holder["pid"] == str(os.getpid())
    assert clock.sleeps == 30
    assert messages[0] == f"waiting for the lock on project {PROJECT} ({HELD_BY_ALICE})"
    assert messages[1].startswith(f"got the lock on project {PROJECT} after "), messages
    assert len(messages) == 2, messages  # never broken
    assert engine.read_lease(lease_name(PROJECT)) is None  # released


def test_a_lease_nobody_renews_is_broken_after_its_holders_ttl_by_the_waiters_clock() -> None:
    engine, clock = FakeEngine(), Clock()
    dead = engine.take_lease(lease_name(PROJECT), PROJECT, ALICE)
    messages: list[str] = []
    with project_lock(engine, PROJECT, on_wait=messages.append, clock=clock, sleep=clock.sleep):
        lease = engine.read_lease(lease_name(PROJECT))
        assert lease is not None and lease.id != dead
    assert messages[:2] == [
        f"waiting for the lock on project {PROJECT} ({HELD_BY_ALICE})",
        f"breaking the lock on project {PROJECT} ({HELD_BY_ALICE}): not renewed for 2s",
    ]
    # Her TTL (2 s), not the waiter's own default (30 s).
    assert 2 <= clock.now < 30


def test_without_waiting_the_holder_is_named_at_once_and_the_lease_kept() -> None:
    engine = FakeEngine()
    alice = engine.take_lease(lease_name(PROJECT), PROJECT, ALICE)
    with pytest.raises(LockError) as refused, project_lock(engine, PROJECT, wait=False):
        raise AssertionError("not reached")
    assert refused.value.message == f"project {PROJECT} is locked ({HELD_BY_ALICE})"
    lease = engine.read_lease(lease_name(PROJECT))
    assert lease is not None and lease.id == alice


def test_a_holder_between_taking_the_lock_and_writing_its_words_is_still_named() -> None:
    """This host's lock file is taken (flock) and then written: a waiter reading it in
    between found it empty and said "held by ?" (seen under load in the engine tests)."""
    engine = FakeEngine()
    path = lock_path(engine.engine_id(), PROJECT)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # taken, its words not written yet
        writer = threading.Timer(0.2, lambda: os.write(fd, HELD_BY_ALICE.encode()))
        writer.start()
        with pytest.raises(LockError) as refused, project_lock(engine, PROJECT, wait=False):
            raise AssertionError("not reached")
        writer.join()
    finally:
        os.close(fd)
    assert refused.value.message == f"project {PROJECT} is locked ({HELD_BY_ALICE})"


@pytest.mark.parametrize("ending", [RuntimeError, KeyboardInterrupt])
def test_the_lease_goes_whatever_ends_the_hold(ending: type[BaseException]) -> None:
    engine = FakeEngine()
    with pytest.raises(ending), project_lock(engine, PROJECT):
        assert engine.read_lease(lease_name(PROJECT)) is not None
        raise ending()
    assert engine.read_lease(lease_name(PROJECT)) is None
    assert engine.observe(PROJECT).containers == ()


def test_a_holder_whose_lease_was_broken_under_it_is_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACKUP_LOCK_TTL", "0.3")  # renewed every 0.1 s
    engine = FakeEngine()
    broken = f"the lock on project {PROJECT} was broken while"
    with pytest.raises(LockError, match=broken), project_lock(engine, PROJECT):
        lease = engine.read_lease(lease_name(PROJECT))
        assert lease is not None
        engine.drop_lease(lease.id)  # `stackup unlock`, or a waiter that gave up on it
        renewals = engine.calls["renew_lease"]
        deadline = time.monotonic() + 30
        while engine.calls["renew_lease"] == renewals and time.monotonic() < deadline:
            time.sleep(0.05)


def test_unlock_shows_the_holder_and_breaks_only_when_confirmed() -> None:
    engine = FakeEngine()
    assert usecases.unlock(PROJECT, engine, lambda holder: True) == usecases.Unlocked(None, False)
    alice = engine.take_lease(lease_name(PROJECT), PROJECT, ALICE)
    shown: list[str] = []

    def declined(holder: usecases.LockHolder) -> bool:
        shown.append(holder.text)
        return False

    kept = usecases.unlock(PROJECT, engine, declined)
    assert shown == [HELD_BY_ALICE] and not kept.broken
    assert engine.read_lease(lease_name(PROJECT)) is not None
    broken = usecases.unlock(PROJECT, engine, lambda holder: True)
    assert broken.broken and broken.holder is not None and broken.holder.lease_id == alice
    assert engine.read_lease(lease_name(PROJECT)) is None


def test_unlock_leaves_a_lease_taken_again_while_it_asked() -> None:
    engine = FakeEngine()
    engine.take_lease(lease_name(PROJECT), PROJECT, ALICE)
    taken_since: list[str] = []

    def meanwhile_a_waiter_breaks_and_takes_it(holder: usecases.LockHolder) -> bool:
        engine.drop_lease(holder.lease_id)
        fresh = engine.take_lease(lease_name(PROJECT), PROJECT, {**ALICE, "user": "bob"})
        assert fresh is not None
        taken_since.append(fresh)
        return True

    usecases.unlock(PROJECT, engine, meanwhile_a_waiter_breaks_and_takes_it)
    lease = engine.read_lease(lease_name(PROJECT))
    assert lease is not None and [lease.id] == taken_since


def test_the_ttl_setting_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("STACKUP_LOCK_TTL", bad)
        with (
            pytest.raises(LockError, match="STACKUP_LOCK_TTL"),
            project_lock(FakeEngine(), PROJECT),
        ):
            raise AssertionError("not reached")


def test_a_holder_named_by_the_engine_is_shown_on_one_bounded_line() -> None:
    # The lease's labels come from whoever made it (another user of the server, or a hostile
    # engine answering a laptop): they must not move the cursor, retitle the terminal, forge a
    # line, nor flood the screen, in any message that names the holder.
    engine = FakeEngine()
    hostile = {
        **ALICE,
        "host": "laptop\x1b]0;pwned\x07\nFORGED line\u202e",
        "user": "u" * 100_000,
        "since": "\x1b[2J",
    }
    engine.take_lease(lease_name(PROJECT), PROJECT, hostile)
    said: list[str] = []
    clock = Clock()

    def release() -> None:
        lease = engine.read_lease(lease_name(PROJECT))
        if lease is not None:
            engine.drop_lease(lease.id)

    clock.meanwhile = release
    with pytest.raises(LockError) as refused, project_lock(engine, PROJECT, wait=False):
        raise AssertionError("not reached")
    with project_lock(engine, PROJECT, on_wait=said.append, clock=clock, sleep=clock.sleep):
        pass
    for text in [refused.value.message, *said]:
        assert not any(c in text for c in "\x1b\x07\n\u202e"), text
        assert len(text) < 600


@pytest.mark.parametrize("claimed", ["inf", "1e12", "nan", "-5"])
def test_a_lease_claiming_an_endless_ttl_is_broken_after_the_waiters_own(claimed: str) -> None:
    engine = FakeEngine()
    engine.take_lease(lease_name(PROJECT), PROJECT, {**ALICE, "ttl": claimed})
    clock = Clock()
    with project_lock(engine, PROJECT, clock=clock, sleep=clock.sleep):
        pass
    assert clock.now < 60


def test_a_lease_file_the_engine_sends_back_is_read_within_a_bound() -> None:
    # A hostile engine answering `up`: the renewal file it returns claims a gigabyte.
    from tests.unit.test_shipping import _sparse_bomb

    api = SimpleNamespace(
        get_archive=lambda container, path: (iter([_sparse_bomb("x", 1 << 30)]), {})
    )
    with pytest.raises(EngineError, match="the engine sent"):
        DockerLeases(api)._beat("0" * 64)  # type: ignore[arg-type]


class _NameTakenUnreadable(FakeEngine):
    """An engine that refuses the lease's name but shows no lease by it (a container being
    removed, or a hostile engine): a waiter must not spin on it."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.tries = clock, 0

    def take_lease(self, name: str, project: str, holder: Mapping[str, str]) -> str | None:
        self.tries += 1
        if self.tries > 50 and self.clock.sleeps == 0:
            raise AssertionError("retried the engine in a tight loop")
        if self.clock.now >= 10:  # the name is free again
            return super().take_lease(name, project, holder)
        return None

    def read_lease(self, name: str) -> Lease | None:
        return None


def test_a_name_refused_with_no_lease_to_read_is_retried_at_a_pace_and_refused_without_wait() -> (
    None
):
    clock = Clock()
    engine = _NameTakenUnreadable(clock)
    said: list[str] = []
    with project_lock(engine, PROJECT, on_wait=said.append, clock=clock, sleep=clock.sleep):
        pass
    assert 10 <= clock.now < 20
    assert len(said) <= 2, said

    engine = _NameTakenUnreadable(Clock())
    with (
        pytest.raises(LockError, match="is locked"),
        project_lock(engine, PROJECT, wait=False, clock=engine.clock, sleep=engine.clock.sleep),
    ):
        raise AssertionError("not reached")
