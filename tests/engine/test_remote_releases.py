"""Releases on a remote engine (stackup.usecases.releases, .rollback): the root stack.yaml
deployed twice over SSH with another page and header, `history` lists both, `rollback --yes`
ships the first release's files back and serves its page and header again, and
`down --volumes` leaves nothing of the project on the remote engine or its host.

Against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.engine.helpers import (
    PROJECT_LABEL,
    RELEASE_PROJECT_LABEL,
    StackDir,
    free_port,
    http_get,
    stackup,
    wait_for,
)
from tests.engine.remote_host import RemoteHost
from tests.engine.test_remote_files import _root_stack


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    yield project_name
    remote_host.remove_project(project_name)
    remote_host.exec_root("rm", "-rf", f"/var/lib/stackup/{project_name}")


def _with_named_volume(directory: StackDir) -> None:
    """The root stack with a named volume too, so `down --volumes` has one to remove."""
    text = directory.path.joinpath("stack.yaml").read_text(encoding="utf-8")
    mount = "      - ./examples/nginx/default.conf:/etc/nginx/conf.d/default.conf:ro\n"
    assert mount in text
    text = text.replace(mount, mount + "      - state:/srv/state\n")
    directory.path.joinpath("stack.yaml").write_text(text + "\nvolumes:\n  state: {}\n")


def _everything_named(host: RemoteHost) -> str:
    """Every container, network and volume of the remote engine, with their labels: a
    project's name anywhere in it is something of the project left there."""
    return "\n".join(
        host.docker(*ls, "--format", f"{{{{{name}}}}} {{{{.Labels}}}}")
        for ls, name in (
            (("ps", "-a"), ".Names"),
            (("network", "ls"), ".Name"),
            (("volume", "ls"), ".Name"),
        )
    )


def test_rollback_on_a_remote_engine_brings_the_page_back(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    port = free_port()
    _root_stack(tmp_stack_dir, remote_project, port)
    _with_named_volume(tmp_stack_dir)
    env = remote_host.env()
    site = tmp_stack_dir / "examples" / "site" / "index.html"
    conf = tmp_stack_dir / "examples" / "nginx" / "default.conf"
    first_page = site.read_text(encoding="utf-8")
    first_conf = conf.read_text(encoding="utf-8")
    volumes_before = set(remote_host.docker("volume", "ls", "-q").split())
    # The project is in git: each release records its commit, and whether files had changed.
    git = ["git", "-C", str(tmp_stack_dir.path), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    def deploy(tag: str) -> tuple[str, str]:
        """Another page and header, deployed; what should be served after."""
        page = first_page.replace("<title>", f"<title>{tag} ")
        site.write_text(page, encoding="utf-8")
        conf.write_text(first_conf.replace("stackup-demo;", f"stackup-{tag};"), encoding="utf-8")
        stackup("up", cwd=tmp_stack_dir, env=env)
        return page, f"stackup-{tag}"

    assert "recorded release 1" in stackup("up", cwd=tmp_stack_dir, env=env).stdout
    second = deploy("second")
    third = deploy("third")
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [(r["release"], r["kind"]) for r in listed] == [(3, "up"), (2, "up"), (1, "up")]
    assert all(r["by"] and r["time"] for r in listed), listed
    assert [(r["commit"], r["dirty"]) for r in listed] == [
        (head, True),
        (head, True),
        (head, False),
    ]
    text = stackup("history", cwd=tmp_stack_dir, env=env).stdout
    assert (
        len([line for line in text.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])]) == 3
    )
    assert f"{remote_project}_state" in remote_host.docker("volume", "ls", "-q").split()
    # Records are none of the project's containers.
    assert remote_host.containers_of(remote_project) == [f"{remote_project}-web-1"]

    with remote_host.forward(port) as local_port:
        url = f"http://127.0.0.1:{local_port}/"

        def page() -> tuple[str, str]:
            got = http_get(url, retry_for=30)
            return got.body, got.headers.get("X-Served-By", "")

        def served(expected: tuple[str, str], what: str) -> None:
            wait_for(lambda: page() == expected or None, timeout=30, what=what)

        served(third, "the third release's page and header")
        # Without RELEASE: the one before the newest.
        rolled = stackup("rollback", "--yes", cwd=tmp_stack_dir, env=env)
        assert "never the data in named volumes" in rolled.stdout, rolled.stdout
        served(second, "the second release's page and header")
        # Named: any kept release, its files shipped back.
        stackup("rollback", "1", "--yes", cwd=tmp_stack_dir, env=env)
        served((first_page, "stackup-demo"), "the first release's page and header")
    # The working files are not written by a rollback.
    assert "third" in site.read_text(encoding="utf-8")
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [(r["release"], r["kind"], r["of"]) for r in listed[:2]] == [
        (5, "rollback", 1),
        (4, "rollback", 2),
    ]

    stackup("down", "--volumes", cwd=tmp_stack_dir, env=env)
    for label in (PROJECT_LABEL, RELEASE_PROJECT_LABEL):
        found = remote_host.docker("ps", "-aq", "--filter", f"label={label}={remote_project}")
        assert found.split() == [], label
    for kind in ("network", "volume"):
        found = remote_host.docker(
            kind, "ls", "-q", "--filter", f"label={PROJECT_LABEL}={remote_project}"
        )
        assert found.split() == [], kind
    # Nothing named after the project, nor labelled with it (records, leases, the helpers that
    # write files); no anonymous volume left either; and no files on the host.
    assert remote_project not in _everything_named(remote_host)
    assert set(remote_host.docker("volume", "ls", "-q").split()) == volumes_before
    assert remote_project not in remote_host.exec_root("ls", "/var/lib/stackup").split()


def test_retention_prunes_old_records_and_keeps_the_files_kept_releases_need(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    """Two releases kept: the third `up` prunes the first's record, which held the config
    file that the second release still runs; rolling back to the second ships it back."""
    port = free_port()
    _root_stack(tmp_stack_dir, remote_project, port)
    env = remote_host.env(STACKUP_RELEASES_KEEP="2")
    site = tmp_stack_dir / "examples" / "site" / "index.html"
    conf = tmp_stack_dir / "examples" / "nginx" / "default.conf"
    first_page = site.read_text(encoding="utf-8")

    stackup("up", cwd=tmp_stack_dir, env=env)  # release 1: page 1, the config first seen
    second_page = first_page.replace("<title>", "<title>second ")
    site.write_text(second_page, encoding="utf-8")
    stackup("up", cwd=tmp_stack_dir, env=env)  # release 2: page 2, the same config
    site.write_text(first_page.replace("<title>", "<title>third "), encoding="utf-8")
    conf.write_text(
        conf.read_text(encoding="utf-8").replace("stackup-demo;", "stackup-third;"),
        encoding="utf-8",
    )
    stackup("up", cwd=tmp_stack_dir, env=env)  # release 3: page 3, another config

    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [r["release"] for r in listed] == [3, 2]
    records = remote_host.docker(
        "ps", "-a", "--filter", f"label={RELEASE_PROJECT_LABEL}={remote_project}",
        "--format", "{{.Names}}",
    )  # fmt: skip
    assert sorted(records.split()) == [
        f"stackup-release-{remote_project}-2",
        f"stackup-release-{remote_project}-3",
    ]

    with remote_host.forward(port) as local_port:
        url = f"http://127.0.0.1:{local_port}/"

        def page() -> tuple[str, str]:
            got = http_get(url, retry_for=30)
            return got.body, got.headers.get("X-Served-By", "")

        stackup("rollback", "--yes", cwd=tmp_stack_dir, env=env)
        wait_for(
            lambda: page() == (second_page, "stackup-demo") or None,
            timeout=30,
            what="the second release's page, with the config the pruned first one held",
        )
    # The rollback is a release too: still two kept.
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [(r["release"], r["of"]) for r in listed] == [(4, 2), (3, None)]


def test_down_removes_the_shipped_files_and_keeps_the_releases(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    """`down` takes the project off the server: its containers, networks and the files
    shipped for it (the records keep theirs); the releases stay until `down --volumes`, and a
    rollback after `down` ships its release's files back from its record."""
    port = free_port()
    _root_stack(tmp_stack_dir, remote_project, port)
    env = remote_host.env()
    site = tmp_stack_dir / "examples" / "site" / "index.html"
    first_page = site.read_text(encoding="utf-8")
    stackup("up", cwd=tmp_stack_dir, env=env)
    site.write_text(first_page.replace("<title>", "<title>second "), encoding="utf-8")
    stackup("up", cwd=tmp_stack_dir, env=env)
    assert remote_project in remote_host.exec_root("ls", "/var/lib/stackup").split()

    down = stackup("down", cwd=tmp_stack_dir, env=env)
    assert f"/var/lib/stackup/{remote_project}" in down.stdout + down.stderr, down
    assert remote_host.containers_of(remote_project) == []
    networks = remote_host.docker(
        "network", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={remote_project}"
    )
    assert networks.split() == []
    assert remote_project not in remote_host.exec_root("ls", "/var/lib/stackup").split()
    listed = json.loads(stackup("history", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert [r["release"] for r in listed] == [2, 1]

    # The next `up` would ship the files again, whole.
    (op,) = [
        op
        for op in json.loads(
            stackup("diff", "--format", "json", cwd=tmp_stack_dir, env=env).stdout
        )["operations"]
        if op["action"] == "ship" and "site" in str(op["name"])
    ]
    assert str(op["reason"]).startswith("1 added"), op
    # A rollback after `down` brings the first release back, its files from its record.
    stackup("rollback", "--yes", cwd=tmp_stack_dir, env=env)
    with remote_host.forward(port) as local_port:
        got = http_get(f"http://127.0.0.1:{local_port}/", retry_for=30)
        assert (got.status, got.body) == (200, first_page)
