"""Shipping a project's files to a remote engine (stackup.planning.shipping): a web root of
1,000 files bind-mounted by one service, deployed over SSH; then one file changed.

    .venv/bin/python bench/ship.py [--files 1000] [--size 1024] [--repeat 5]

The remote host is the test one (tests/engine/remote_host.py, on 127.0.0.1): the numbers show
what shipping costs over the ssh transport, not a network's latency. Bytes are counted at the
remote host's network interface (everything the ssh connection carried to it, requests and
headers included), next to the content bytes the plan reports. Each repetition changes one
file and times `stackup up` (plan, ship the one file, write the manifest); `diff` afterwards
is the no-op plan with 1,000 files hashed here and the manifest read there. Everything goes
at the end with the remote host container and its volume.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from bench.common import run, seconds, stackup_cmd, table, timed
from tests.engine.remote_host import RemoteHost, remote_host


def traffic(host: RemoteHost) -> tuple[int, int]:
    """Bytes the remote host's network interface has received and sent so far."""
    out = host.exec_root(
        "cat", "/sys/class/net/eth0/statistics/rx_bytes", "/sys/class/net/eth0/statistics/tx_bytes"
    ).split()
    return int(out[0]), int(out[1])


def since(host: RemoteHost, before: tuple[int, int]) -> tuple[int, int]:
    now = traffic(host)
    return now[0] - before[0], now[1] - before[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    project = f"bench-ship-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="stackup-bench-") as tmp:
        work = Path(tmp)
        site = work / "site"
        site.mkdir()
        for i in range(args.files):
            (site / f"page-{i:04d}.html").write_bytes(secrets.token_hex(args.size // 2).encode())
        (work / "stack.yaml").write_text(
            f"name: {project}\n"
            "services:\n"
            "  web:\n"
            "    image: busybox:latest\n"
            '    command: ["sleep", "3600"]\n'
            "    stop_signal: SIGKILL\n"
            "    volumes:\n"
            "      - ./site:/site:ro\n"
        )
        hostdir = work / "remote-host"
        hostdir.mkdir()
        with remote_host(docker.from_env(), hostdir, images=("busybox:latest",)) as host:
            env = host.env()
            up = stackup_cmd("up", "--pull", "never", "--progress", "quiet")
            rows = []
            before = traffic(host)
            first = timed(lambda: run(up, work, env))
            rx, tx = since(host, before)
            rows.append([f"first up ({args.files} files)", seconds(first), f"{rx:,}", f"{tx:,}"])
            ups, wire = [], []
            for i in range(args.repeat):
                (site / "page-0000.html").write_bytes(f"changed {i}\n".encode() * 64)
                before = traffic(host)
                ups.append(timed(lambda: run(up, work, env)))
                wire.append(since(host, before))
            rows.append(
                [
                    "up, 1 file changed (median)",
                    seconds(statistics.median(ups)),
                    f"{int(statistics.median(w[0] for w in wire)):,}",
                    f"{int(statistics.median(w[1] for w in wire)):,}",
                ]
            )
            before = traffic(host)
            diffs = [
                timed(lambda: run(stackup_cmd("diff", "--exit-code"), work, env))
                for _ in range(args.repeat)
            ]
            rx, tx = since(host, before)
            rows.append(
                [
                    "no-op diff (median)",
                    seconds(statistics.median(diffs)),
                    f"{rx // args.repeat:,}",
                    f"{tx // args.repeat:,}",
                ]
            )
            run(stackup_cmd("down"), work, env, check=False)
    print(table([["what", "time", "bytes to the host", "bytes from the host"], *rows]))
    changed = len(b"changed 0\n" * 64)
    print(f"content of the changed file: {changed} B")


if __name__ == "__main__":
    main()
