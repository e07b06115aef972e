"""The project's files travel with the plan to a remote engine (stackup.planning.shipping):
the root stack.yaml (nginx, its web root and its `default.conf` bind-mounted) deployed from a
local folder over SSH and served by the remote host; web-root edits shipped alone; config
edits rewritten in place, validated and reloaded in the same container.

Against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`); pages are fetched through an ssh forward to the remote host's
loopback, where the stack publishes its port."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.engine.helpers import (
    PROJECT_LABEL,
    ROOT,
    StackDir,
    free_port,
    http_get,
    stackup,
    wait_for,
)
from tests.engine.remote_host import RemoteHost


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    """A project whose containers, networks and shipped files on the remote host go at the
    end, pass or fail (the `project_name` fixture sweeps the local engine)."""
    yield project_name
    remote_host.remove_project(project_name)
    remote_host.exec_root("rm", "-rf", f"/var/lib/stackup/{project_name}")


def _root_stack(directory: StackDir, project: str, port: int) -> None:
    """The repository's root stack.yaml with its files at the same relative paths; only the
    name, the image (the one loaded into the remote host) and the host port differ."""
    text = (ROOT / "stack.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("name: stackup-demo", f"name: {project}"),
        ("image: nginx:stable", "image: nginx:1.27"),
        ('"127.0.0.1:8080:80"', f'"127.0.0.1:{port}:80"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    directory.write(text)
    shutil.copytree(ROOT / "examples" / "site", directory / "examples" / "site")
    (directory / "examples" / "nginx").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "nginx" / "default.conf", directory / "examples" / "nginx")


def _remote_files(host: RemoteHost, directory: str) -> dict[str, str]:
    """The files under `directory` on the remote host: path → "inode ctime" (what changes
    when a file is written anew)."""
    out = host.exec_root("find", directory, "-type", "f", "-printf", "%P %i %C@\\n")
    return {path: rest for path, _, rest in (line.partition(" ") for line in out.splitlines())}


def _remote_manifest(host: RemoteHost, project: str, source: str) -> dict[str, str]:
    """The manifest the last shipping of `source` left on the remote host: path → sha256."""
    manifests = f"/var/lib/stackup/{project}/manifests"
    for name in host.exec_root("ls", manifests).split():
        raw = host.local.containers.get(host.container).exec_run(["cat", f"{manifests}/{name}"])
        data = json.loads(gzip.decompress(raw.output))
        if data["source"] == source:
            return dict(data["files"])
    raise AssertionError(f"no manifest of {source} in {manifests}")


def _ship_operations(directory: StackDir, env: dict[str, str]) -> list[dict[str, object]]:
    plan = json.loads(stackup("diff", "--format", "json", cwd=directory, env=env).stdout)
    return [op for op in plan["operations"] if op["action"] == "ship"]


def test_root_stack_served_by_the_remote_host_with_its_files(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    port = free_port()
    _root_stack(tmp_stack_dir, remote_project, port)
    env = remote_host.env()
    site = tmp_stack_dir / "examples" / "site" / "index.html"
    conf = tmp_stack_dir / "examples" / "nginx" / "default.conf"
    # More files in the web root than the one edited below, so "only it travels" says something.
    tmp_stack_dir.write("<p>about</p>\n", "examples/site/about.html")
    tmp_stack_dir.write("body { color: teal }\n", "examples/site/css/style.css")

    shipped = _ship_operations(tmp_stack_dir, env)
    assert sorted(str(op["name"]) for op in shipped) == [
        f"./examples/nginx/default.conf → {remote_host.alias}",
        f"./examples/site → {remote_host.alias}",
    ]
    stackup("up", cwd=tmp_stack_dir, env=env)

    web = f"{remote_project}-web-1"
    assert remote_host.containers_of(remote_project) == [web]
    local = docker_client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={remote_project}"}
    )
    assert local == []
    # The containers mount the shipped copies, not paths of this machine.
    mounts = json.loads(remote_host.docker("inspect", "--format", "{{json .Mounts}}", web))
    files = f"/var/lib/stackup/{remote_project}/files"
    assert sorted(m["Source"] for m in mounts) == [
        f"{files}/examples/nginx/default.conf",
        f"{files}/examples/site",
    ]
    stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)

    with remote_host.forward(port) as local_port:
        url = f"http://127.0.0.1:{local_port}/"

        def page() -> tuple[int, str, str]:
            got = http_get(url, retry_for=30)
            return got.status, got.body, got.headers.get("X-Served-By", "")

        status, body, served_by = page()
        assert status == 200
        assert body == site.read_text(encoding="utf-8")
        assert served_by == "stackup-demo"

        # A web-root edit: `diff` names the file; `up` ships it alone.
        before = _remote_files(remote_host, f"{files}/examples/site")
        assert sorted(before) == ["about.html", "css/style.css", "index.html"]
        site.write_text(body.replace("<title>", "<title>edited "), encoding="utf-8")
        diff = stackup("diff", cwd=tmp_stack_dir, env=env).stdout
        assert "~ index.html" in diff, diff
        assert "about.html" not in diff and "style.css" not in diff, diff
        (op,) = _ship_operations(tmp_stack_dir, env)
        assert op["name"] == f"./examples/site → {remote_host.alias}"
        assert op["reason"] == f"1 changed, {site.stat().st_size} B", op
        stackup("up", cwd=tmp_stack_dir, env=env)
        assert page()[1] == site.read_text(encoding="utf-8")
        # Only the edited file was written there: the others keep their inode and ctime.
        after = _remote_files(remote_host, f"{files}/examples/site")
        assert {p: after[p] for p in ("about.html", "css/style.css")} == {
            p: before[p] for p in ("about.html", "css/style.css")
        }
        assert after["index.html"] != before["index.html"]
        # The manifest there lists the new content's digest.
        manifest = _remote_manifest(remote_host, remote_project, "examples/site")
        assert manifest["index.html"] == hashlib.sha256(site.read_bytes()).hexdigest()
        stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)

        # A file removed here is removed there.
        (site.parent / "extra.html").write_text("extra\n", encoding="utf-8")
        stackup("up", cwd=tmp_stack_dir, env=env)
        assert http_get(url + "extra.html").status == 200
        (site.parent / "extra.html").unlink()
        (op,) = _ship_operations(tmp_stack_dir, env)
        assert str(op["reason"]).startswith("1 removed"), op
        stackup("up", cwd=tmp_stack_dir, env=env)
        assert http_get(url + "extra.html").status == 404

        # A config edit: shipped in place, validated and reloaded in the same container.
        container_id = remote_host.docker("inspect", "--format", "{{.Id}}", web).strip()
        conf_there = f"{files}/examples/nginx/default.conf"
        inode = remote_host.exec_root("stat", "-c", "%i", conf_there).strip()
        conf.write_text(
            conf.read_text(encoding="utf-8").replace("stackup-demo;", "stackup-edited;"),
            encoding="utf-8",
        )
        plan = json.loads(stackup("diff", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
        actions = {op["action"]: op for op in plan["operations"]}
        assert sorted(actions) == ["reload", "ship"], plan["operations"]
        assert actions["ship"]["id"] in actions["reload"]["after"]
        stackup("up", cwd=tmp_stack_dir, env=env)
        wait_for(lambda: page()[2] == "stackup-edited", timeout=10, what="the edited config")
        assert remote_host.docker("inspect", "--format", "{{.Id}}", web).strip() == container_id
        # Rewritten in place: the inode the container's mount pins is the same file.
        assert remote_host.exec_root("stat", "-c", "%i", conf_there).strip() == inode
        stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)

        # A broken config: refused, named; the old one keeps serving.
        conf.write_text(
            conf.read_text(encoding="utf-8").replace("listen 80;", "listen 80 no_such_flag;"),
            encoding="utf-8",
        )
        failed = stackup("up", cwd=tmp_stack_dir, env=env, check=False)
        assert failed.returncode == 1, failed
        assert "nginx -t" in failed.stderr and "default.conf:3" in failed.stderr, failed.stderr
        assert "no_such_flag" in failed.stderr
        status, _, served_by = page()
        assert (status, served_by) == (200, "stackup-edited")
        assert remote_host.docker("inspect", "--format", "{{.Id}}", web).strip() == container_id
        # Still refused on the next try, with the old config serving meanwhile: the broken
        # file's shipping counts as not done (its manifest still lists the good one).
        assert (
            stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env, check=False).returncode == 2
        )


def test_sources_outside_the_project_are_remote_paths(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(
        f"""
        name: {remote_project}
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes:
              - /srv/{remote_project}:/data
              - ./site:/site
        """
    )
    tmp_stack_dir.write("hello\n", "site/index.html")
    diff = stackup("diff", cwd=tmp_stack_dir, env=remote_host.env()).stdout
    assert (
        f"warning: services.app.volumes[0]: /srv/{remote_project} is outside the project "
        "directory" in diff
    ), diff
    assert "⇪ files ./site" in diff and "⇪ files /srv" not in diff, diff
    # A plan reads what was shipped without leaving a directory behind.
    assert remote_host.exec_root("ls", "/var/lib/stackup").split().count(remote_project) == 0


def test_secrets_and_configs_from_files_travel(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.write("s3cret-value\n", "db_password.txt")
    tmp_stack_dir.write("[app]\nname = demo\n", "app.ini")
    tmp_stack_dir.stack(
        f"""
        name: {remote_project}
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            secrets: [db_password]
            configs:
              - source: app_ini
                target: /etc/app.ini
        secrets:
          db_password:
            file: ./db_password.txt
        configs:
          app_ini:
            file: ./app.ini
        """
    )
    env = remote_host.env()
    diff = stackup("diff", cwd=tmp_stack_dir, env=env).stdout
    assert "⇪ files ./db_password.txt" in diff and "s3cret" not in diff, diff
    up = stackup("up", cwd=tmp_stack_dir, env=env)
    assert "s3cret" not in up.stdout + up.stderr

    files = f"/var/lib/stackup/{remote_project}/files"
    assert remote_host.exec_root("stat", "-c", "%a %U", f"{files}/db_password.txt").split() == [
        "400",
        "root",
    ]
    app = f"{remote_project}-app-1"
    assert remote_host.docker("exec", app, "cat", "/run/secrets/db_password") == "s3cret-value\n"
    assert remote_host.docker("exec", app, "cat", "/etc/app.ini") == "[app]\nname = demo\n"
    stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)


def test_links_never_carry_files_out_of_the_project_nor_a_write_out_of_the_shipped_tree(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A hostile checkout deployed by CI: a link in the shipped tree to a key of the runner's.
    # Then a service that can write the shipped project directory (broken into, say) puts a
    # link to a directory of the remote host where the `conf` directory was.
    key = tmp_path_factory.mktemp("outside") / "id_ed25519"
    key.write_text("PRIVATE KEY\n", encoding="utf-8")
    tmp_stack_dir.stack(
        f"""
        name: {remote_project}
        services:
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes:
              - .:/app
          web:
            image: busybox:latest
            command: ["sleep", "3600"]
            volumes:
              - ./conf/app.conf:/etc/app.conf:ro
        """
    )
    tmp_stack_dir.write("one\n", "conf/app.conf")
    (tmp_stack_dir / "key").symlink_to(key)
    env = remote_host.env()
    plan = json.loads(stackup("diff", "--format", "json", cwd=tmp_stack_dir, env=env).stdout)
    assert ".: 1 entry not shipped: key (a link out of the project directory)" in (plan["warnings"])
    stackup("up", cwd=tmp_stack_dir, env=env)
    files = f"/var/lib/stackup/{remote_project}/files"
    assert "key" not in remote_host.exec_root("ls", files).split()

    victim = f"/root/{remote_project}-victim"
    remote_host.exec_root("sh", "-c", f"mkdir {victim} && echo untouched > {victim}/app.conf")
    try:
        remote_host.docker(
            "exec",
            f"{remote_project}-app-1",
            "sh",
            "-c",
            f"rm -r /app/conf && ln -s {victim} /app/conf",
        )
        tmp_stack_dir.write("two\n", "conf/app.conf")
        stackup("up", cwd=tmp_stack_dir, env=env, check=False)
        assert remote_host.exec_root("cat", f"{victim}/app.conf") == "untouched\n"
    finally:
        remote_host.exec_root("rm", "-rf", victim)
