"""A cold `up` and a `down` of a 30-service stack: stackup vs docker-compose 1.29 vs the raw
engine, side by side in one run.

    .venv/bin/python bench/up.py [--services 30] [--chain 3] [--repeat 3]

The stack (bench.common.synthetic_stack): busybox services over three networks, in depends_on
chains of `--chain` services. Each repetition runs, in turn:

* stackup:        `stackup -p P up --progress quiet`, then `stackup -p P down`;
* docker-compose: `docker-compose -p P up -d`, then `docker-compose -p P down`;
* raw engine:     the Docker SDK creates the three networks, then creates and starts the same
                  30 containers at once from a thread pool, ignoring their order — the
                  engine's own throughput limit for this work.

Medians and ratios are printed; the aims (issue 4): up <= 0.85 x docker-compose and
<= 1.1 x raw; down <= 0.7 x docker-compose. Everything made is labelled and removed in a
`finally`. Not a test; results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import docker.errors
import yaml

from bench.common import run, seconds, stackup_cmd, synthetic_stack, table, timed

STACKUP_LABEL = "io.stackup.project"
COMPOSE_LABEL = "com.docker.compose.project"
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


def raw_up(client: docker.DockerClient, project: str, stack: dict[str, object]) -> None:
    """Networks first (containers need them), then every container created and started at once."""
    services = stack["services"]
    networks = stack["networks"]
    assert isinstance(services, dict) and isinstance(networks, dict)
    labels = {STACKUP_LABEL: project}
    with ThreadPoolExecutor(max_workers=len(networks)) as pool:
        list(
            pool.map(
                lambda n: client.api.create_network(f"{project}_{n}", labels=labels),
                networks,
            )
        )

    def one(item: tuple[str, dict[str, object]]) -> None:
        name, svc = item
        nets = svc["networks"]
        assert isinstance(nets, list)
        network = f"{project}_{nets[0]}"
        env = svc["environment"]
        assert isinstance(env, dict)
        container = client.api.create_container(
            str(svc["image"]),
            command=svc["command"],
            name=f"{project}-{name}-1",
            environment={k: str(v) for k, v in env.items()},
            labels={**labels, "io.stackup.service": name},
            host_config=client.api.create_host_config(network_mode=network),
            networking_config=client.api.create_networking_config(
                {network: client.api.create_endpoint_config(aliases=[name])}
            ),
            stop_timeout=1,
        )
        client.api.start(container["Id"])

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        list(pool.map(one, services.items()))


def remove_all(client: docker.DockerClient, project: str) -> None:
    for key in (STACKUP_LABEL, COMPOSE_LABEL):
        filters = {"label": f"{key}={project}"}
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(
                pool.map(
                    lambda c: _quiet(lambda: c.remove(force=True, v=True)),
                    client.containers.list(all=True, filters=filters),
                )
            )
        for n in client.networks.list(filters=filters):
            for attempt in range(40):  # a force-removed container's endpoint can linger
                try:
                    _quiet(n.remove)
                    break
                except docker.errors.APIError as err:
                    if "active endpoints" not in str(err) or attempt == 39:
                        raise
                    time.sleep(0.25)
        for v in client.volumes.list(filters=filters):
            _quiet(lambda v=v: v.remove(force=True))


def _quiet(action: Callable[[], object]) -> None:
    try:
        action()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:
        if err.status_code != 409:
            raise


def _count(client: docker.DockerClient, project: str, key: str) -> int:
    return len(client.containers.list(filters={"label": f"{key}={project}"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--chain", type=int, default=3, help="services per depends_on chain")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    client = docker.from_env(timeout=120, max_pool_size=64)
    work = Path(tempfile.mkdtemp(prefix="stackup-bench-up-"))
    text = synthetic_stack(args.services, project="bench", networks=3, chain=args.chain)
    stack = yaml.safe_load(text)
    # docker-compose 1.29 does not know the top-level `name:`; the project comes from -p.
    compose_text = "\n".join(line for line in text.splitlines() if not line.startswith("name:"))
    (work / "stack.yaml").write_text(text, encoding="utf-8")
    (work / "docker-compose.yml").write_text(compose_text + "\n", encoding="utf-8")
    projects: list[str] = []
    times: dict[str, list[float]] = {k: [] for k in ("stackup up", "compose up", "raw up")}
    times.update({"stackup down": [], "compose down": []})
    n = args.services
    try:
        for rep in range(args.repeat):
            tag = secrets.token_hex(3)
            ours, theirs, raw = f"bsu-{tag}", f"bdc-{tag}", f"braw-{tag}"
            projects += [ours, theirs, raw]
            compose = [COMPOSE, "-f", str(work / "docker-compose.yml"), "-p", theirs]
            steps: list[tuple[str, Callable[[], object]]] = [
                (
                    "stackup up",
                    partial(run, stackup_cmd("-p", ours, "up", "--progress", "quiet"), work),
                ),
                ("compose up", partial(run, [*compose, "up", "-d"], work)),
                ("raw up", partial(raw_up, client, raw, stack)),
            ]
            # A different order each repetition, so no tool always runs on a warmer engine.
            for label, action in steps[rep % 3 :] + steps[: rep % 3]:
                times[label].append(timed(action))
            assert _count(client, ours, STACKUP_LABEL) == n, "stackup did not start them all"
            assert _count(client, theirs, COMPOSE_LABEL) == n, "compose did not start them all"
            assert _count(client, raw, STACKUP_LABEL) == n, "raw did not start them all"
            downs: list[tuple[str, Callable[[], object]]] = [
                (
                    "stackup down",
                    partial(run, stackup_cmd("-p", ours, "down", "--progress", "quiet"), work),
                ),
                ("compose down", partial(run, [*compose, "down"], work)),
            ]
            for label, action in downs[rep % 2 :] + downs[: rep % 2]:
                times[label].append(timed(action))
            remove_all(client, raw)
            print(
                f"repetition {rep + 1}: "
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                file=sys.stderr,
            )
    finally:
        for project in projects:
            try:
                remove_all(client, project)
            except Exception as err:  # e.g. the engine went away: say what is left behind
                print(
                    f"could not clean up project {project} ({err}); remove what is labelled "
                    f"{STACKUP_LABEL}={project} or {COMPOSE_LABEL}={project}",
                    file=sys.stderr,
                )
        shutil.rmtree(work, ignore_errors=True)
        client.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [["what", "median", "all runs"]]
    rows += [[k, seconds(med[k]), " ".join(f"{t:.2f}" for t in v)] for k, v in times.items()]
    print(
        f"cold up and down of {n} busybox services, 3 networks, depends_on chains of "
        f"{args.chain}; {args.repeat} repetitions\n"
    )
    print(table(rows))
    up_vs_compose = med["stackup up"] / med["compose up"]
    up_vs_raw = med["stackup up"] / med["raw up"]
    down_vs_compose = med["stackup down"] / med["compose down"]
    print()
    print(
        table(
            [
                ["ratio", "measured", "aim"],
                ["stackup up / docker-compose up", f"{up_vs_compose:.2f}", "<= 0.85"],
                ["stackup up / raw engine", f"{up_vs_raw:.2f}", "<= 1.10"],
                ["stackup down / docker-compose down", f"{down_vs_compose:.2f}", "<= 0.70"],
                ["docker-compose up / raw engine", f"{med['compose up'] / med['raw up']:.2f}", ""],
            ]
        )
    )


if __name__ == "__main__":
    main()
