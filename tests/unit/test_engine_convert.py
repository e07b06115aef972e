"""The create/update bodies `DockerEngine` sends, built from stack-file values (no engine)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

from stackup.engine.docker import convert, payloads
from stackup.engine.interface import ContainerSpec, FileCopy, MountSpec, NetworkAttachment
from stackup.model import labels as L
from stackup.model.spec import Service


def svc(**fields: Any) -> Service:
    fields.setdefault("image", "busybox")
    return Service.model_validate(fields)


def body(service: Service, **spec: Any) -> tuple[dict[str, Any], tuple[NetworkAttachment, ...]]:
    spec.setdefault("labels", {L.PROJECT: "p"})
    return convert.container_body(
        ContainerSpec(
            name="p-x-1", image=service.image or "", service=service, environment={}, **spec
        )
    )


def test_minimal_body_leaves_the_image_defaults() -> None:
    b, rest = body(svc())
    assert "Cmd" not in b and "Entrypoint" not in b and "Healthcheck" not in b
    assert b["HostConfig"] == {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    assert rest == ()
    assert body(svc(command=[]))[0]["Cmd"] == []
    assert body(svc(entrypoint=[]))[0]["Entrypoint"] == []  # [] resets the image's entrypoint


def test_restart_policies() -> None:
    def policy(**f: Any) -> dict[str, Any]:
        return convert.restart_policy(svc(**f))

    assert policy(restart="always") == {"Name": "always", "MaximumRetryCount": 0}
    assert policy(restart="on-failure:5") == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert policy(restart="on-failure")["MaximumRetryCount"] == 0
    assert policy(restart=False)["Name"] == "no"
    deploy = {"restart_policy": {"condition": "on-failure", "max_attempts": 2}}
    assert policy(deploy=deploy) == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert policy(deploy={"restart_policy": {"condition": "any"}})["Name"] == "always"
    assert payloads.restart_text({"Name": "on-failure", "MaximumRetryCount": 2}) == "on-failure:2"
    assert payloads.restart_text({"Name": "", "MaximumRetryCount": 0}) == "no"


def test_ports_and_expose() -> None:
    exposed, bindings = convert.ports(
        svc(
            ports=["127.0.0.1:8000-8010:80", "127.0.0.1::443", "127.0.0.1:53:53/udp"],
            expose=["3000-3001", "9000/udp"],
        )
    )
    assert set(exposed) == {"80/tcp", "443/tcp", "53/udp", "3000/tcp", "3001/tcp", "9000/udp"}
    assert bindings == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}],
        "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
    }


def test_healthcheck_in_nanoseconds() -> None:
    hc = convert.healthcheck(
        svc(
            healthcheck={
                "test": "curl -f http://localhost",
                "interval": "1m30s",
                "timeout": "500ms",
                "start_period": "2s",
                "retries": 4,
            }
        )
    )
    assert hc == {
        "Test": ["CMD-SHELL", "curl -f http://localhost"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 2_000_000_000,
        "Retries": 4,
    }
    assert convert.healthcheck(svc(healthcheck={"disable": True})) == {"Test": ["NONE"]}
    assert convert.healthcheck(svc(healthcheck={"test": ["NONE"]})) == {"Test": ["NONE"]}


def test_mounts_binds_and_tmpfs() -> None:
    b, _ = body(
        svc(tmpfs=["/run:size=1m", "/tmp"]),
        mounts=(
            MountSpec(
                "bind", "/etc/nginx/conf.d/default.conf", "/src/default.conf", read_only=True
            ),
            MountSpec("bind", "/strict", "/src/strict", create_host_path=False),
            MountSpec("volume", "/data", "p_data", nocopy=True),
            MountSpec("volume", "/anon"),
            MountSpec("tmpfs", "/scratch", tmpfs_size=1 << 20, tmpfs_mode=0o1777),
        ),
    )
    host = b["HostConfig"]
    assert host["Binds"] == ["/src/default.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert host["Mounts"] == [
        {"Type": "bind", "Target": "/strict", "Source": "/src/strict", "ReadOnly": False},
        {
            "Type": "volume",
            "Target": "/data",
            "Source": "p_data",
            "ReadOnly": False,
            "VolumeOptions": {"NoCopy": True},
        },
        {"Type": "volume", "Target": "/anon", "ReadOnly": False},
        {
            "Type": "tmpfs",
            "Target": "/scratch",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777},
        },
    ]
    assert host["Tmpfs"] == {"/run": "size=1m", "/tmp": ""}


def test_networks_first_in_create_rest_after() -> None:
    a = NetworkAttachment("p_front", aliases=("web",), ipv4_address="172.30.0.5")
    b_ = NetworkAttachment("p_back")
    b, rest = body(svc(), networks=(a, b_))
    assert b["HostConfig"]["NetworkMode"] == "p_front"
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "p_front": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "172.30.0.5"}}
        }
    }
    assert rest == (b_,)
    b, rest = body(svc(), network_mode="container:p-db-1", networks=(a,))
    assert b["HostConfig"]["NetworkMode"] == "container:p-db-1"
    assert "NetworkingConfig" not in b and rest == ()


def test_host_settings() -> None:
    b, _ = body(
        svc(
            extra_hosts={"alpha": "10.0.0.1"},
            devices=["/dev/fuse", "/dev/sda:/dev/xvda:r"],
            links=["db", "cache:redis"],
            external_links=["other_container:ext"],
            cpus=1.5,
            pids_limit=50,
            deploy={"resources": {"limits": {"memory": "1g"}, "reservations": {"memory": "256m"}}},
            stop_grace_period="1500ms",
            logging={"driver": "local", "options": {"max-file": "3", "unset": None}},
            cgroup="private",
        )
    )
    host = b["HostConfig"]
    assert host["ExtraHosts"] == ["alpha:10.0.0.1"]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"},
    ]
    assert host["Links"] == ["p-db-1:db", "p-cache-1:redis", "other_container:ext"]
    assert host["NanoCpus"] == 1_500_000_000 and host["PidsLimit"] == 50
    assert host["Memory"] == 1 << 30 and host["MemoryReservation"] == 256 << 20
    assert host["LogConfig"] == {"Type": "local", "Config": {"max-file": "3"}}
    assert host["CgroupnsMode"] == "private"
    assert b["StopTimeout"] == 2  # rounded up: never shorter than asked


def test_update_body() -> None:
    upd = convert.update_body(svc(mem_limit="128m", restart="always", cpus="0.5"))
    assert upd == {
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        "Memory": 128 << 20,
        "MemorySwap": 256 << 20,
        "NanoCpus": 500_000_000,
        "PidsLimit": 0,
    }
    assert convert.update_body(svc(mem_limit="128m", memswap_limit=-1))["MemorySwap"] == -1


def test_files_tar() -> None:
    data = convert.files_tar([FileCopy("/run/secrets/a", b"x", 0o400), FileCopy("b/c", b"yz")])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"run/secrets/a", "b/c"}
        assert members["run/secrets/a"].mode == 0o400
        extracted = tar.extractfile("b/c")
        assert extracted is not None and extracted.read() == b"yz"
