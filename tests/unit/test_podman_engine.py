"""The Podman engine variant's pure parts: recognising Podman, its local image names, the
age of a health check, and the target kind over it (no in-place update, and the reason)."""

from __future__ import annotations

import datetime

from stackup.engine.podman import engine as podman
from stackup.targets.engine.target import ENGINE, REMOTE_ENGINE, in_place_refusal, podman_kind
from stackup.targets.target import Capability

PODMAN_VERSION = {
    "Components": [
        {"Name": "Podman Engine", "Version": "4.3.1"},
        {"Name": "Conmon", "Version": "conmon version 2.1.6"},
    ],
    "Version": "4.3.1",
    "ApiVersion": "1.41",
}
DOCKER_VERSION = {
    "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}],
    "Version": "20.10.24+dfsg1",
}


def test_podman_is_recognised_by_its_version_components() -> None:
    assert podman.podman_version(PODMAN_VERSION) == "4.3.1"
    assert podman.podman_version(DOCKER_VERSION) is None
    assert podman.podman_version({}) is None


def test_local_image_names() -> None:
    assert podman.local_alias("localhost/local/app:dev") == "local/app:dev"
    assert podman.local_alias("localhost/nginx:1.27") == "nginx:1.27"
    assert podman.local_alias("docker.io/library/nginx:1.27") is None
    assert podman.has_registry("localhost/app:1")
    assert podman.has_registry("127.0.0.1:5000/app:1")
    assert podman.has_registry("registry.example/app")
    assert not podman.has_registry("local/app:dev")
    assert not podman.has_registry("nginx:1.27")


def test_the_age_of_a_health_check() -> None:
    when = podman._parse_time("2026-12-06T03:28:51.176144543Z")
    expected = datetime.datetime(2026, 12, 6, 3, 28, 51, tzinfo=datetime.UTC).timestamp()
    assert when is not None and abs(when - (expected + 0.176144543)) < 1e-6
    assert podman._parse_time("2026-12-06T05:28:51+02:00") == expected
    assert podman._parse_time("") is None
    assert [podman._age(s) for s in (0, 59, 60, 3 * 60 + 59, 7200, 3 * 86400)] == [
        "0s", "59s", "1m", "3m", "2h", "3d",
    ]  # fmt: skip


def test_a_target_over_podman_lacks_in_place_update_and_says_why() -> None:
    for kind in (ENGINE, REMOTE_ENGINE):
        over_podman = podman_kind(kind, "Podman 4.3")
        assert not over_podman.supports(Capability.IN_PLACE_UPDATE)
        assert over_podman.capabilities == kind.capabilities - {Capability.IN_PLACE_UPDATE}
        assert (
            in_place_refusal(over_podman)
            == "Podman 4.3 cannot update a running container; recreating"
        )
    assert in_place_refusal(ENGINE) == ""
    assert not podman_kind(REMOTE_ENGINE, "Podman 4.3").supports(Capability.WATCH)


# Recorded from Debian 12's podman 4.3.1 (`podman run -d -p 127.0.0.1:18977:80 -e FOO=bar
# --memory 64m nginx:1.27`, inspected through the compat API), the parts that differ.
PODMAN_INSPECT = {
    "Id": "6651d5fb4bf4" + "0" * 52,
    "Config": {
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
            "container=podman",
            "FOO=bar",
            "HOME=/root",
            "HOSTNAME=6651d5fb4bf4",
        ],
        "StopSignal": "3",
        "StopTimeout": 10,
        "WorkingDir": "/",
        "Image": "localhost/nginx:1.27",
        "Hostname": "6651d5fb4bf4",
        "User": "",
        "Tty": False,
    },
    "HostConfig": {
        "PortBindings": {"80/tcp": None, "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18977"}]},
        "PidsLimit": 2048,
        "ShmSize": 65536000,
        "Memory": 67108864,
        "MemorySwap": 134217728,
        "Ulimits": [
            {"Name": "RLIMIT_NOFILE", "Hard": 20000, "Soft": 20000},
            {"Name": "RLIMIT_NPROC", "Hard": 32768, "Soft": 32768},
        ],
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
        "PidMode": "private",
        "Runtime": "oci",
        "UTSMode": "private",
    },
    "NetworkSettings": {
        "Networks": {"podman": {"NetworkID": "podman", "Aliases": ["6651d5fb4bf4"]}}
    },
}


def test_podmans_inspect_reads_as_dockers_for_the_same_request() -> None:
    shaped = podman.docker_shaped_inspect(PODMAN_INSPECT)
    config, host = shaped["Config"], shaped["HostConfig"]
    assert config["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FOO=bar",
    ]
    assert (config["StopSignal"], config["WorkingDir"], config["Image"]) == (
        "SIGQUIT", "", "nginx:1.27",
    )  # fmt: skip
    assert "StopTimeout" not in config
    assert (host["PidsLimit"], host["ShmSize"]) == (0, 64 * 1024 * 1024)
    assert host["PortBindings"] == {"81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18977"}]}
    assert (host["PidMode"], host["Runtime"], host["UTSMode"]) == ("", "", "")
    assert host["RestartPolicy"]["Name"] == "no"
    assert [u["Name"] for u in host["Ulimits"]] == ["nofile", "nproc"]
    assert host["MemorySwap"] == 2 * host["Memory"]  # as `docker run -m` sets it
    assert list(shaped["NetworkSettings"]["Networks"]) == ["bridge"]
    # What the container was given stays: a terminal's TERM, another user's HOME.
    given = {**PODMAN_INSPECT["Config"], "Tty": True, "User": "www-data"}
    kept = podman.docker_shaped_inspect({**PODMAN_INSPECT, "Config": given})["Config"]["Env"]
    assert "TERM=xterm" in kept and "HOME=/root" in kept
