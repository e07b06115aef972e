"""A no-op `stackup diff` against an engine over SSH vs the local engine, the cost of
setting up the SSH connection, and the cold `up` on each (with the ssh logins it took).

    .venv/bin/python bench/remote.py [--services 30] [--repeat 7]

The remote host is the test one (tests/engine/remote_host.py: a container with sshd and a
dockerd of its own, on 127.0.0.1, built by scripts/build-remote-host.sh), so the numbers show
what the ssh transport adds, not a network's latency. The same synthetic stack is applied on
both engines under one project name; then each repetition times one `stackup diff
--exit-code` (a fresh process) on each engine, in alternating order, and opens the ssh tunnel
alone (`ssh -N -L` up to the first `/_ping` answer). Everything goes at the end: `stackup
down` locally, the remote host container and its volume.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from bench.common import run, seconds, stackup_cmd, synthetic_stack, table, timed
from stackup.engine.docker.ssh import open_tunnel
from tests.engine.remote_host import remote_host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    project = f"bench-remote-{secrets.token_hex(3)}"
    local_client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        work = Path(tmp)
        (work / "stack.yaml").write_text(synthetic_stack(args.services, project=project))
        hostdir = work / "remote-host"
        hostdir.mkdir()
        with remote_host(local_client, hostdir, images=("busybox:latest",)) as host:
            remote_env = host.env()
            local_env = {"DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}
            diff = stackup_cmd("diff", "--exit-code")
            up = stackup_cmd("up", "--pull", "never", "--progress", "quiet")
            try:
                print(f"applying {args.services} services locally and over ssh ({project}) ...")
                # The cold `up` of every service, once on each engine; over ssh, in one login
                # (sshd's default MaxStartups 10:30:100 would refuse a burst of them).
                cold_local = timed(lambda: run(up, work, local_env))
                logins = host.logins()
                cold_ssh = timed(lambda: run(up, work, remote_env))
                up_logins = host.logins() - logins
                times: dict[str, list[float]] = {"local": [], "ssh": [], "tunnel": []}
                for i in range(args.repeat):
                    order = [("local", local_env), ("ssh", remote_env)]
                    for name, env in order if i % 2 == 0 else order[::-1]:
                        times[name].append(timed(lambda env=env: run(diff, work, env)))
                    saved = os.environ.get("STACKUP_SSH_CONFIG")
                    os.environ["STACKUP_SSH_CONFIG"] = str(host.ssh_config)
                    try:
                        tunnel = None

                        def connect() -> None:
                            nonlocal tunnel
                            tunnel = open_tunnel(host.url)

                        times["tunnel"].append(timed(connect))
                        assert tunnel is not None
                        tunnel.close()
                    finally:
                        if saved is None:
                            os.environ.pop("STACKUP_SSH_CONFIG", None)
                        else:
                            os.environ["STACKUP_SSH_CONFIG"] = saved
            finally:
                run(stackup_cmd("down"), work, local_env, check=False)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        table(
            [
                ["what", "median", "all runs"],
                *[
                    [k, seconds(med[k]), " ".join(f"{t:.3f}" for t in times[k])]
                    for k in ("local", "ssh", "tunnel")
                ],
            ]
        )
    )
    print(f"ssh / local: {med['ssh'] / med['local']:.2f}")
    print(
        f"cold up of {args.services} services: local {seconds(cold_local)}, "
        f"ssh {seconds(cold_ssh)} in {up_logins} ssh login(s)"
    )


if __name__ == "__main__":
    main()
