"""`DockerEngine` against the real engine: every primitive the planner and executor rely on.

Every resource carries `io.stackup.project=<project_name>`, so the fixture removes it even
when a test fails. Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.interface import (
    ContainerSpec,
    FileCopy,
    MountSpec,
    NetworkAttachment,
    NetworkSpec,
    PullEvent,
    VolumeSpec,
)
from stackup.errors import EngineError
from stackup.model import labels as L
from stackup.model.spec import Service
from tests.engine.helpers import free_port, http_get, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine(docker_client: docker.DockerClient) -> Iterator[DockerEngine]:
    eng = DockerEngine.from_env()
    yield eng
    eng.close()


def service(**fields: Any) -> Service:
    fields.setdefault("image", "busybox:latest")
    return Service.model_validate(fields)


def spec(
    project: str,
    name: str,
    svc: Service,
    *,
    networks: tuple[NetworkAttachment, ...] = (),
    mounts: tuple[MountSpec, ...] = (),
    files: tuple[FileCopy, ...] = (),
    extra_labels: dict[str, str] | None = None,
) -> ContainerSpec:
    labels = {L.PROJECT: project, L.SERVICE: name, **(extra_labels or {})}
    return ContainerSpec(
        name=f"{project}-{name}-1",
        image=svc.image or "busybox:latest",
        service=svc,
        labels=labels,
        environment={k: v or "" for k, v in svc.environment.items()},
        networks=networks,
        mounts=mounts,
        files=files,
    )


SLEEPER = {"command": ["sleep", "3600"], "stop_grace_period": "1s"}


def test_network_volume_container_lifecycle(engine: DockerEngine, project_name: str) -> None:
    """Create, observe (with labels), read the live config, rename, stop, remove."""
    p = project_name
    labels = {L.PROJECT: p, "custom": "yes"}
    net_id = engine.create_network(NetworkSpec(name=f"{p}_net", labels=labels))
    engine.create_volume(VolumeSpec(name=f"{p}_data", labels=labels))
    svc = service(**SLEEPER, restart="on-failure:3", mem_limit="64m", cpus="0.5", pids_limit=100)
    cid = engine.create_container(
        spec(
            p,
            "app",
            svc,
            networks=(NetworkAttachment(f"{p}_net", aliases=("app-alias",)),),
            mounts=(MountSpec("volume", "/data", f"{p}_data"), MountSpec("volume", "/anon")),
            extra_labels={"user.label": "v"},
        )
    )
    engine.start_container(cid)

    seen = engine.observe(p)
    assert [c.id for c in seen.containers] == [cid]
    c = seen.containers[0]
    assert c.name == f"{p}-app-1"
    assert c.labels[L.PROJECT] == p and c.labels["user.label"] == "v"
    assert c.service == "app" and c.state == "running"
    assert c.networks == frozenset({f"{p}_net"})
    assert c.image_id == seen.images["busybox:latest"] == seen.images["busybox"]
    named = [m for m in c.mounts if m.destination == "/data"]
    anon = [m for m in c.mounts if m.destination == "/anon"]
    assert named[0].type == "volume" and named[0].name == f"{p}_data"
    assert anon[0].name is not None and len(anon[0].name) == 64
    assert seen.networks[f"{p}_net"].id == net_id
    assert seen.networks[f"{p}_net"].labels == labels
    assert seen.volumes[f"{p}_data"].labels == labels
    assert "bridge" in seen.networks  # every network, external ones included
    assert seen.engine_id == engine.engine_id()

    live = engine.live_config(cid)
    assert live.restart == "on-failure:3"
    assert live.memory == 64 * 1024 * 1024
    assert live.nano_cpus == 500_000_000
    assert live.pids_limit == 100

    engine.rename_container(cid, f"{p}-app-renamed")
    assert engine.inspect_container(cid).name == f"{p}-app-renamed"

    engine.stop_container(cid, timeout=1)
    state = engine.inspect_container(cid)
    assert state.status == "exited"
    assert engine.observe(p).containers[0].state == "exited"

    engine.remove_container(cid, volumes=True)
    engine.remove_container(cid)  # gone already: not an error
    engine.stop_container(cid)  # gone: counts as stopped
    assert engine.observe(p).containers == ()
    assert anon[0].name not in engine.observe(p).volumes  # anonymous volume went with it
    engine.remove_network(f"{p}_net")
    engine.remove_network(f"{p}_net")
    engine.remove_volume(f"{p}_data")
    engine.remove_volume(f"{p}_data")
    after = engine.observe(p)
    assert f"{p}_net" not in after.networks and f"{p}_data" not in after.volumes


def test_create_maps_service_fields(
    engine: DockerEngine, docker_client: docker.DockerClient, project_name: str
) -> None:
    """The create body reaches the engine: read back with a full inspect."""
    p = project_name
    engine.create_network(NetworkSpec(name=f"{p}_a", labels={L.PROJECT: p}))
    engine.create_network(NetworkSpec(name=f"{p}_b", labels={L.PROJECT: p}))
    svc = service(
        command=["sleep", "3600"],
        entrypoint=["/bin/sh", "-c", 'exec "$0" "$@"'],
        environment={"GREETING": "hi"},
        hostname="box",
        domainname="example.test",
        user="1000:1000",
        working_dir="/tmp",
        tty=True,
        stdin_open=True,
        stop_signal="SIGUSR1",
        stop_grace_period="7s",
        expose=["3000-3001"],
        ports=["127.0.0.1::8080"],
        cap_add=["NET_ADMIN"],
        cap_drop=["MKNOD"],
        security_opt=["no-new-privileges:true"],
        init=True,
        read_only=True,
        ulimits={"nofile": {"soft": 1024, "hard": 2048}},
        sysctls={"net.core.somaxconn": "1024"},
        extra_hosts=["alpha:10.0.0.1", "beta=10.0.0.2"],
        dns=["127.0.0.53"],
        dns_search=["example.test"],
        dns_opt=["ndots:2"],
        tmpfs=["/run:size=1m"],
        group_add=["audio"],
        mem_limit="96m",
        mem_reservation="32m",
        memswap_limit="192m",
        oom_score_adj=100,
        cpu_shares=512,
        cpuset="0",
        shm_size="16m",
        logging={"driver": "json-file", "options": {"max-size": "1m"}},
        restart="unless-stopped",
    )
    cid = engine.create_container(
        spec(
            p,
            "full",
            svc,
            networks=(
                NetworkAttachment(f"{p}_a", aliases=("one",)),
                NetworkAttachment(f"{p}_b", aliases=("two",)),
            ),
        )
    )
    raw = docker_client.api.inspect_container(cid)
    cfg, host = raw["Config"], raw["HostConfig"]
    assert cfg["Cmd"] == ["sleep", "3600"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", 'exec "$0" "$@"']
    assert "GREETING=hi" in cfg["Env"]
    assert (cfg["Hostname"], cfg["Domainname"], cfg["User"]) == ("box", "example.test", "1000:1000")
    assert cfg["WorkingDir"] == "/tmp" and cfg["Tty"] and cfg["OpenStdin"]
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["StopTimeout"] == 7
    assert set(cfg["ExposedPorts"]) == {"3000/tcp", "3001/tcp", "8080/tcp"}
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["ExtraHosts"] == ["alpha:10.0.0.1", "beta:10.0.0.2"]
    assert host["Dns"] == ["127.0.0.53"] and host["DnsSearch"] == ["example.test"]
    assert host["DnsOptions"] == ["ndots:2"]
    assert host["Tmpfs"] == {"/run": "size=1m"}
    assert host["GroupAdd"] == ["audio"]
    assert host["Memory"] == 96 << 20 and host["MemoryReservation"] == 32 << 20
    assert host["MemorySwap"] == 192 << 20
    assert host["OomScoreAdj"] == 100 and host["CpuShares"] == 512
    assert host["CpusetCpus"] == "0" and host["ShmSize"] == 16 << 20
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    networks = raw["NetworkSettings"]["Networks"]
    assert set(networks) == {f"{p}_a", f"{p}_b"}  # the second connected before start
    assert "one" in networks[f"{p}_a"]["Aliases"] and "two" in networks[f"{p}_b"]["Aliases"]
    assert engine.live_config(cid).restart == "unless-stopped"


def test_update_in_place(
    engine: DockerEngine, docker_client: docker.DockerClient, project_name: str
) -> None:
    p = project_name
    svc = service(**SLEEPER, mem_limit="64m", restart="no")
    cid = engine.create_container(spec(p, "upd", svc))
    engine.start_container(cid)
    engine.update_container(
        cid, svc.model_copy(update={"mem_limit": 256 << 20, "restart": "always", "cpus": "0.25"})
    )
    host = docker_client.api.inspect_container(cid)["HostConfig"]
    assert host["Memory"] == 256 << 20
    assert host["RestartPolicy"]["Name"] == "always"
    assert host["NanoCpus"] == 250_000_000
    assert engine.inspect_container(cid).status == "running"  # same container, still up
    live = engine.live_config(cid)
    assert (live.memory, live.restart, live.nano_cpus) == (256 << 20, "always", 250_000_000)
    with pytest.raises(EngineError, match="cannot remove a memory limit"):
        engine.update_container(cid, svc.model_copy(update={"mem_limit": None}))


def test_exec_and_copied_files(engine: DockerEngine, project_name: str) -> None:
    p = project_name
    cid = engine.create_container(
        spec(
            p,
            "files",
            service(**SLEEPER),
            files=(
                FileCopy("/run/secrets/token", b"s3cret\n", 0o400),
                FileCopy("/etc/app/config.ini", b"[a]\nb=1\n"),
            ),
        )
    )
    engine.start_container(cid)
    result = engine.exec_run(cid, ["cat", "/run/secrets/token", "/etc/app/config.ini"])
    assert result.exit_code == 0
    assert result.output == "s3cret\n[a]\nb=1\n"
    mode = engine.exec_run(cid, ["stat", "-c", "%a", "/run/secrets/token"])
    assert mode.output.strip() == "400"
    both = engine.exec_run(cid, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert both.exit_code == 7
    assert sorted(both.output.splitlines()) == ["err", "out"]  # two pipes: order not kept
    failed = engine.exec_run(cid, ["false"])
    assert failed.exit_code == 1


def test_healthcheck_reaches_healthy_and_reports_failure(
    engine: DockerEngine, project_name: str
) -> None:
    p = project_name
    ok = service(**SLEEPER, healthcheck={"test": ["CMD", "true"], "interval": "200ms"})
    bad = service(
        **SLEEPER,
        healthcheck={"test": "echo boom; exit 1", "interval": "200ms", "retries": 1},
    )
    good_id = engine.create_container(spec(p, "good", ok))
    bad_id = engine.create_container(spec(p, "bad", bad))
    engine.start_container(good_id)
    engine.start_container(bad_id)
    assert engine.inspect_container(good_id).health in ("starting", "healthy")
    wait_for(lambda: engine.inspect_container(good_id).health == "healthy", 20, what="healthy")
    state = wait_for(
        lambda: (s := engine.inspect_container(bad_id)).health == "unhealthy" and s,
        20,
        what="unhealthy",
    )
    assert state.health_log == "boom"
    assert state.started_at.startswith("20")
    observed = {c.service: c for c in engine.observe(p).containers}
    assert observed["good"].health == "healthy" and observed["bad"].health == "unhealthy"
    assert observed["good"].live is None  # list payloads only; no per-container inspect


def test_nginx_serves_on_loopback(engine: DockerEngine, project_name: str, tmp_path: Path) -> None:
    p = project_name
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>stackup engine test</h1>\n")
    port = free_port()
    svc = service(image="nginx:stable", ports=[f"127.0.0.1:{port}:80", "127.0.0.1::80"])
    cid = engine.create_container(
        spec(
            p,
            "web",
            svc,
            mounts=(MountSpec("bind", "/usr/share/nginx/html", str(site), read_only=True),),
        )
    )
    engine.start_container(cid)
    response = http_get(f"http://127.0.0.1:{port}/", retry_for=20)
    assert response.status == 200 and "stackup engine test" in response.body
    raw = engine.inspect_raw(cid)
    ephemeral = [b for b in raw["NetworkSettings"]["Ports"]["80/tcp"] if b["HostPort"] != str(port)]
    assert ephemeral and ephemeral[0]["HostIp"] == "127.0.0.1"
    again = http_get(f"http://127.0.0.1:{ephemeral[0]['HostPort']}/", retry_for=10)
    assert again.status == 200
    logs = b"".join(engine.logs(cid))
    assert b"GET / HTTP/1.1" in logs


def test_bind_mount_sources(engine: DockerEngine, project_name: str, tmp_path: Path) -> None:
    """A missing bind source is created as a directory (Compose's `create_host_path`
    default); with `create_host_path: false` the engine refuses, naming the container."""
    p = project_name
    missing = tmp_path / "made-by-engine" / "dir"
    cid = engine.create_container(
        spec(p, "bind", service(**SLEEPER), mounts=(MountSpec("bind", "/mnt", str(missing)),))
    )
    engine.start_container(cid)
    assert missing.is_dir()
    absent = tmp_path / "never"
    with pytest.raises(EngineError, match=f"{p}-strict-1"):
        engine.create_container(
            spec(
                p,
                "strict",
                service(**SLEEPER),
                mounts=(MountSpec("bind", "/mnt", str(absent), create_host_path=False),),
            )
        )
    assert not absent.exists()


def test_logs_lines_and_tail(engine: DockerEngine, project_name: str) -> None:
    p = project_name
    svc = service(command=["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])
    cid = engine.create_container(spec(p, "logs", svc))
    engine.start_container(cid)
    wait_for(lambda: engine.inspect_container(cid).status == "exited", 10, what="exit")
    assert list(engine.logs(cid)) == [f"line{i}\n".encode() for i in range(1, 6)]
    assert list(engine.logs(cid, tail=2)) == [b"line4\n", b"line5\n"]
    stamped = list(engine.logs(cid, tail=1, timestamps=True))
    assert stamped[0].startswith(b"20") and stamped[0].endswith(b" line5\n")
    assert engine.inspect_container(cid).exit_code == 0


def test_errors_name_the_resource(engine: DockerEngine, project_name: str) -> None:
    p = project_name
    with pytest.raises(EngineError, match=f"starting container {p}-nothing"):
        engine.start_container(f"{p}-nothing")
    with pytest.raises(EngineError, match="no-such-image-stackup"):
        engine.create_container(spec(p, "x", service(image="no-such-image-stackup:1")))
    engine.create_network(NetworkSpec(name=f"{p}_dup", labels={L.PROJECT: p}))
    with pytest.raises(EngineError, match=f"creating network {p}_dup"):
        engine.create_network(NetworkSpec(name=f"{p}_dup", labels={L.PROJECT: p}))
    engine.disconnect(f"{p}-nothing", f"{p}_dup")  # not connected / gone: nothing to do


def test_kill_hook_and_call_log(engine: DockerEngine, project_name: str, tmp_path: Path) -> None:
    """With tests/engine/faulty_stackup.py's hooks installed, `STACKUP_TEST_KILL_AFTER_CALLS=k`
    SIGKILLs the process right after the k-th mutating call; `STACKUP_TEST_CALL_LOG` lists each
    completed mutating call."""
    p = project_name
    log = tmp_path / "calls.log"
    code = textwrap.dedent(
        f"""
        from tests.engine.faulty_stackup import install_from_env
        install_from_env()
        from stackup.engine.docker.engine import DockerEngine
        from stackup.engine.interface import VolumeSpec
        engine = DockerEngine.from_env()
        engine.observe({p!r})  # reads are not counted
        for i in range(5):
            engine.create_volume(VolumeSpec(name=f"{p}_v{{i}}", labels={{"{L.PROJECT}": {p!r}}}))
        print("not reached")
        """
    )
    env = {**os.environ, "STACKUP_TEST_KILL_AFTER_CALLS": "3", "STACKUP_TEST_CALL_LOG": str(log)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -9, proc.stderr
    assert "not reached" not in proc.stdout
    assert log.read_text().splitlines() == ["create_volume"] * 3
    volumes = [v for v in engine.observe(p).volumes if v.startswith(f"{p}_v")]
    assert sorted(volumes) == [f"{p}_v0", f"{p}_v1", f"{p}_v2"]


def test_calls_counter(engine: DockerEngine, project_name: str) -> None:
    before = engine.calls.copy()
    engine.create_volume(VolumeSpec(name=f"{project_name}_c", labels={L.PROJECT: project_name}))
    engine.observe(project_name)
    engine.remove_volume(f"{project_name}_c")
    diff = engine.calls - before
    assert diff["create_volume"] == 1 and diff["remove_volume"] == 1 and diff["observe"] == 1


def test_pull_from_local_registry(
    engine: DockerEngine, docker_client: docker.DockerClient, registry: str
) -> None:
    """A real pull from Debian's docker-registry on loopback: per-layer progress events and
    the pushed image's ID."""
    ref = f"{registry}/stackup-engine-test/busybox:pull{secrets.token_hex(3)}"
    # A layer of its own, so the pull downloads something (busybox's layer is local already).
    dockerfile = f"FROM busybox:latest\nRUN echo {secrets.token_hex(8)} > /unique\n"
    source, _ = docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=ref, network_mode="none", rm=True
    )
    for line in docker_client.api.push(ref, stream=True, decode=True):
        assert "error" not in line, line
    docker_client.images.remove(ref)
    events: list[PullEvent] = []
    try:
        image_id = engine.pull(ref, events.append)
        assert image_id == source.id
        layers = {
            e.layer for e in events if e.layer and e.status in ("Pull complete", "Already exists")
        }
        assert layers, [e.status for e in events]
        assert any(e.status == "Pull complete" for e in events)
        assert all(e.image == ref for e in events)
        with pytest.raises(EngineError, match="pulling image"):
            engine.pull(f"{registry}/stackup-engine-test/absent:{int(time.time())}")
    finally:
        docker_client.images.remove(ref, force=True)


def test_exec_stream_list_projects_and_base_url(engine: DockerEngine, project_name: str) -> None:
    p = project_name
    cid = engine.create_container(spec(p, "sh", service(**SLEEPER)))
    engine.start_container(cid)
    chunks: list[bytes] = []
    code = engine.exec_stream(
        cid,
        ["sh", "-c", 'echo "$GREETING from $(pwd) as $(id -u)"; exit 4'],
        user="1000",
        workdir="/tmp",
        environment=["GREETING=hello"],
        on_output=chunks.append,
    )
    assert code == 4
    assert b"".join(chunks) == b"hello from /tmp as 1000\n"
    projects = {row["name"]: row for row in engine.list_projects()}
    assert projects[p] == {"name": p, "status": "running(1)", "containers": 1}
    assert engine.base_url.startswith(("unix://", "tcp://", "ssh://", "http"))


def test_build_image_with_inline_dockerfile(
    engine: DockerEngine, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    from stackup.model.parts import Build

    tag = f"stackup-engine-test/build:{secrets.token_hex(4)}"
    (tmp_path / "hello.txt").write_text("from the context\n")
    build = Build.model_validate(
        {
            "context": str(tmp_path),
            "dockerfile_inline": "FROM busybox:latest\nARG WHO\nCOPY hello.txt /hello.txt\n"
            "RUN echo $WHO > /who\n",
            "args": {"WHO": "stackup"},
            "network": "none",
            "labels": {"io.stackup.test": "build"},
        }
    )
    try:
        lines = list(engine.build_image(build, tag))
        assert any("Successfully tagged" in line for line in lines), lines
        image = docker_client.images.get(tag)
        assert image.labels.get("io.stackup.test") == "build"
        bad = build.model_copy(update={"dockerfile_inline": "FROM busybox:latest\nRUN exit 9\n"})
        with pytest.raises(EngineError, match=f"building image {tag}"):
            list(engine.build_image(bad, tag + "-bad"))
    finally:
        docker_client.images.remove(tag, force=True)


def test_a_projects_lock_is_none_of_its_containers_for_ls(
    engine: DockerEngine, project_name: str
) -> None:
    """The lease (a container named for the lock, with the project's label) is not counted by
    `stackup ls`; the project's own containers are."""
    p = project_name
    lease = engine.take_lease(f"stackup-lock-{p}", p, {"host": "laptop", "user": "alice"})
    assert lease is not None
    assert p not in {row["name"] for row in engine.list_projects()}
    engine.create_container(spec(p, "sh", service(**SLEEPER)))
    projects = {row["name"]: row for row in engine.list_projects()}
    assert projects[p] == {"name": p, "status": "created(1)", "containers": 1}
    engine.drop_lease(lease)


def test_project_events_are_followed_until_stopped(
    engine: DockerEngine, docker_client: docker.DockerClient, project_name: str
) -> None:
    """`ProjectEvents`: an event of the project's container is reported, one of another
    project's is not, and setting `stop` ends the follow (what `stackup ui` re-plans on)."""
    import threading

    from stackup.engine.interface import ProjectEvents

    assert isinstance(engine, ProjectEvents)
    seen: list[float] = []
    stop = threading.Event()
    follower = threading.Thread(
        target=engine.follow_project_events,
        args=(project_name, lambda: seen.append(time.monotonic()), stop),
        daemon=True,
    )
    follower.start()
    time.sleep(0.5)  # the stream is open
    other = docker_client.containers.create(
        "busybox", ["true"], labels={L.PROJECT: f"{project_name}-other"}
    )
    try:
        other.start()
        other.wait(timeout=30)
    finally:
        other.remove(force=True)
    time.sleep(0.5)
    assert seen == []  # another project's container
    ours = docker_client.containers.create("busybox", ["true"], labels={L.PROJECT: project_name})
    ours.start()
    wait_for(lambda: seen, timeout=10, what="an event of the project's container")
    stop.set()
    follower.join(timeout=10)
    assert not follower.is_alive()
