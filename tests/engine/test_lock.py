"""The per-project lock: four `up` of one project started at once apply one after another
(exactly one container per replica, one network per name), the later ones saying they wait;
`--no-wait-lock` fails at once naming the holder. The lock is held on the engine: two `up`s
with runtime directories of their own (so this host's lock file cannot be what keeps them
apart) apply one at a time too, the waiting one never breaking the lease its living holder
renews however long it waits; after `kill -9` of a holder the next `up` names it and takes
the lock once its lease has gone unrenewed for its TTL; `stackup unlock --yes` breaks a stale
lease. No lock is left on the engine after any of them.

The first `up` to get the lock is held inside its apply by a health gate the test opens
(a healthcheck that passes once a file exists in a bind-mounted directory), so the others are
sure to find the lock taken — no timing assumptions.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import docker

from stackup.engine.docker.engine import DockerEngine
from tests.engine.helpers import PROJECT_LABEL, StackDir, stackup, wait_for

STACK = """
services:
  gate:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    volumes:
      - ./gate:/gate:ro
    healthcheck:
      test: ["CMD", "test", "-f", "/gate/open"]
      interval: 1s
      start_period: 120s
      start_interval: 200ms
    networks: [front, back]
  worker:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    scale: 2
    depends_on:
      gate:
        condition: service_healthy
    networks: [back]
networks:
  front: {}
  back: {}
"""


def _start_up(
    project: str, cwd: Path, out: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    with open(out, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "stackup", "-p", project, "up", "--progress", "plain"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def test_four_concurrent_ups_apply_one_at_a_time(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(STACK)
    gate = tmp_stack_dir / "gate"
    gate.mkdir()
    outputs = [tmp_path / f"up-{i}.out" for i in range(4)]
    procs = [_start_up(project_name, tmp_stack_dir.path, out) for out in outputs]
    try:

        def waiting() -> list[int] | None:
            texts = [o.read_text(errors="replace") for o in outputs]
            who = [i for i, t in enumerate(texts) if "waiting for the lock" in t]
            return who if len(who) == 3 else None

        waiters = wait_for(waiting, timeout=60, what="three ups waiting for the lock")
        holder = next(i for i in range(4) if i not in waiters)
        assert f"({_held_by(procs[holder])} since " in outputs[waiters[0]].read_text()

        refused = stackup(
            "-p", project_name, "up", "--no-wait-lock", cwd=tmp_stack_dir, check=False
        )  # fmt: skip
        assert refused.returncode == 1, refused.stdout + refused.stderr
        locked = f"project {project_name} is locked ({_held_by(procs[holder])} since "
        assert locked in refused.stderr, refused.stderr

        (gate / "open").write_text("go\n")
        for p in procs:
            p.wait(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    texts = [o.read_text(errors="replace") for o in outputs]
    for p, text in zip(procs, texts, strict=True):
        assert p.returncode == 0, text
    for i in waiters:
        assert "got the lock" in texts[i], texts[i]

    label = {"label": f"{PROJECT_LABEL}={project_name}"}
    names = Counter(c.name for c in docker_client.containers.list(all=True, filters=label))
    assert names == Counter(
        {f"{project_name}-gate-1": 1, f"{project_name}-worker-1": 1, f"{project_name}-worker-2": 1}
    ), names
    networks = Counter(n.name for n in docker_client.networks.list(filters=label))
    assert networks == Counter({f"{project_name}_front": 1, f"{project_name}_back": 1}), networks
    # every up after the first found nothing left to do
    assert sum("No changes" in t for t in texts) == 3, texts
    assert _locks(docker_client, project_name) == []


def _held_by(proc: subprocess.Popen[bytes]) -> str:
    return f"held by {getpass.getuser()}@{socket.gethostname()} pid {proc.pid}"


def _locks(client: docker.DockerClient, project: str) -> list[str]:
    """The project's locks on the engine."""
    label = {"label": f"io.stackup.lease=stackup-lock-{project}"}
    return [c.name or "" for c in client.containers.list(all=True, filters=label)]


def _services(client: docker.DockerClient, project: str) -> Counter[str]:
    label = {"label": f"{PROJECT_LABEL}={project}"}
    return Counter(c.name or "" for c in client.containers.list(all=True, filters=label))


def _beats(engine: DockerEngine, project: str) -> int:
    """How many times the holder of the project's lease has renewed it."""
    lease = engine.read_lease(f"stackup-lock-{project}")
    assert lease is not None
    return int(lease.beat or 0)


def _one_per_service(project: str) -> Counter[str]:
    return Counter({f"{project}-gate-1": 1, f"{project}-worker-1": 1, f"{project}-worker-2": 1})


def _runtime_dir(tmp_path: Path, name: str) -> dict[str, str]:
    """A runtime directory of its own: this host's lock file of the project differs."""
    path = tmp_path / name
    path.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(path)}


def _holding(client: docker.DockerClient, project: str) -> bool:
    """The `up` holds the lock and is inside its apply: the gate runs, unhealthy until opened."""
    name = f"{project}-gate-1"
    running = client.containers.list(filters={"name": name, "status": "running"})
    return any(c.name == name for c in running)


def test_two_ups_with_their_own_runtime_dirs_apply_one_at_a_time(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(STACK)
    gate = tmp_stack_dir / "gate"
    gate.mkdir()
    outs = [tmp_path / "first.out", tmp_path / "second.out"]
    # The first holds the lock with a TTL of 2 s: renewed every 2/3 s while it lives.
    env = {**_runtime_dir(tmp_path, "a"), "STACKUP_LOCK_TTL": "2"}
    first = _start_up(project_name, tmp_stack_dir.path, outs[0], env)
    procs = [first]
    try:
        wait_for(lambda: _holding(docker_client, project_name), timeout=60, what="the gate")
        second = _start_up(project_name, tmp_stack_dir.path, outs[1], _runtime_dir(tmp_path, "b"))
        procs.append(second)
        waiting = f"waiting for the lock on project {project_name} ({_held_by(first)} since "
        wait_for(lambda: waiting in outs[1].read_text(), timeout=60, what="the second to wait")
        assert _locks(docker_client, project_name) == [f"stackup-lock-{project_name}"]
        # Four renewals since the second began to wait: longer than the TTL, and the
        # living holder's lease is not broken.
        engine = DockerEngine.from_env()
        start = _beats(engine, project_name)
        try:
            wait_for(lambda: _beats(engine, project_name) >= start + 4, timeout=60, what="beats")
        finally:
            engine.close()
        assert "breaking" not in outs[1].read_text() and second.poll() is None
        (gate / "open").write_text("go\n")
        for p in procs:
            p.wait(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    texts = [o.read_text(errors="replace") for o in outs]
    assert [p.returncode for p in procs] == [0, 0], texts
    assert f"got the lock on project {project_name}" in texts[1], texts[1]
    assert "No changes" in texts[1], texts[1]  # it planned after the first had applied
    assert _services(docker_client, project_name) == _one_per_service(project_name)
    assert _locks(docker_client, project_name) == []


def test_after_kill_9_of_the_holder_the_next_up_names_it_and_gets_the_lock_once_it_expires(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(STACK)
    gate = tmp_stack_dir / "gate"
    gate.mkdir()
    # A lease renewed every second, broken after 3 s without renewal (30 s by default).
    holder = _start_up(
        project_name, tmp_stack_dir.path, tmp_path / "holder.out", {"STACKUP_LOCK_TTL": "3"}
    )
    try:
        wait_for(lambda: _holding(docker_client, project_name), timeout=60, what="the gate")
    finally:
        holder.kill()  # SIGKILL: nothing of it runs to release the lease
        holder.wait()
    assert _locks(docker_client, project_name) == [f"stackup-lock-{project_name}"]
    (gate / "open").write_text("go\n")

    after = stackup("-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir)
    held = f"({_held_by(holder)} since "
    assert f"waiting for the lock on project {project_name} {held}" in after.stderr, after.stderr
    breaking = f"breaking the lock on project {project_name} {held}"
    assert breaking in after.stderr and "not renewed for 3s" in after.stderr, after.stderr
    assert f"got the lock on project {project_name}" in after.stderr, after.stderr
    assert _services(docker_client, project_name) == _one_per_service(project_name)
    assert _locks(docker_client, project_name) == []
    diff = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_unlock_yes_breaks_the_stale_lease_of_a_killed_up(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(STACK)
    gate = tmp_stack_dir / "gate"
    gate.mkdir()
    holder = _start_up(project_name, tmp_stack_dir.path, tmp_path / "holder.out")  # TTL 30 s
    try:
        wait_for(lambda: _holding(docker_client, project_name), timeout=60, what="the gate")
    finally:
        holder.kill()
        holder.wait()
    (gate / "open").write_text("go\n")
    held = f"({_held_by(holder)} since "

    refused = stackup(
        "-p", project_name, "up", "--no-wait-lock", cwd=tmp_stack_dir, check=False
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"project {project_name} is locked {held}" in refused.stderr, refused.stderr
    assert "stackup unlock" in refused.stderr, refused.stderr

    asked = stackup("-p", project_name, "unlock", cwd=tmp_stack_dir, check=False)
    assert asked.returncode == 1, asked.stdout + asked.stderr  # no terminal to ask, no --yes
    assert _locks(docker_client, project_name) == [f"stackup-lock-{project_name}"]

    unlocked = stackup("-p", project_name, "unlock", "--yes", cwd=tmp_stack_dir)
    assert f"project {project_name} is locked {held}" in unlocked.stdout, unlocked.stdout
    assert f"broke the lock on project {project_name}" in unlocked.stdout, unlocked.stdout
    assert _locks(docker_client, project_name) == []

    stackup("-p", project_name, "up", "--no-wait-lock", cwd=tmp_stack_dir)
    assert _services(docker_client, project_name) == _one_per_service(project_name)
    assert _locks(docker_client, project_name) == []
    again = stackup("-p", project_name, "unlock", cwd=tmp_stack_dir)
    assert f"project {project_name} is not locked" in again.stdout
