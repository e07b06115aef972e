"""The per-project lock: four `up` of one project started at once apply one after another
(exactly one container per replica, one network per name), the later ones saying they wait;
`--no-wait-lock` fails at once naming the holder's pid.

The first `up` to get the lock is held inside its apply by a health gate the test opens
(a healthcheck that passes once a file exists in a bind-mounted directory), so the others are
sure to find the lock taken — no timing assumptions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import docker

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


def _start_up(project: str, cwd: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
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
        assert f"held by pid {procs[holder].pid}" in outputs[waiters[0]].read_text()

        refused = stackup(
            "-p", project_name, "up", "--no-wait-lock", cwd=tmp_stack_dir, check=False
        )  # fmt: skip
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"project {project_name} is locked by pid {procs[holder].pid}" in refused.stderr

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
