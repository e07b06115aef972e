"""Watch mode's pure decisions: reload policies, what changed paths mean, reload plans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackup.loading.loader import load_text
from stackup.model.parts import WatchRule
from stackup.planning.plan import Action, Exec, Signal, StartContainer, StopContainer
from stackup.watch import reload as R
from stackup.watch.loop import sync_archive


def _stack(tmp_path: Path, text: str) -> R.LoadedStack:
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf" / "default.conf").write_text("server {}\n")
    (tmp_path / "site" / "index.html").write_text("hi\n")
    (tmp_path / "stack.yaml").write_text(text)
    return load_text(text, "stack.yaml", working_dir=tmp_path)


STACK = """
name: demo
services:
  web:
    image: registry.local:5000/library/nginx:1.27@sha256:abc
    volumes:
      - ./site:/usr/share/nginx/html:ro
      - ./conf/default.conf:/etc/nginx/conf.d/default.conf:ro
  app:
    image: busybox
    command: ["sleep", "1000"]
    volumes:
      - ./site:/srv
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore: [node_modules/, "*.log"]
        - path: ./requirements.txt
          action: rebuild
"""


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("nginx", "nginx"),
        ("nginx:1.27", "nginx"),
        ("docker.io/library/nginx:stable", "nginx"),
        ("registry:5000/team/nginx@sha256:00", "nginx"),
        ("nginxinc/nginx-unprivileged:1.27", "nginx-unprivileged"),
        ("registry:5000/busybox", "busybox"),
    ],
)
def test_image_repository(image: str, repo: str) -> None:
    assert R.image_repository(image) == repo


def test_default_policy_for_nginx_image_and_command(tmp_path: Path) -> None:
    loaded = _stack(
        tmp_path,
        """
name: demo
services:
  a: {image: "nginx:1.25"}
  b: {image: busybox, command: [/usr/sbin/nginx, -g, daemon off;]}
  c: {image: busybox}
  d: {image: nginx, x-stackup: {reload: false}}
  e: {image: busybox, x-stackup: {reload: {validate: [apachectl, -t], exec: [apachectl, graceful]}}}
""",
    )
    s = loaded.stack.services
    assert R.reload_policy(s["a"]) == R.NGINX_POLICY
    assert R.reload_policy(s["b"]) == R.NGINX_POLICY
    assert R.reload_policy(s["c"]) is None
    assert R.reload_policy(s["d"]) is None
    custom = R.reload_policy(s["e"])
    assert custom is not None
    assert custom.validate_ == ["apachectl", "-t"] and custom.exec_ == ["apachectl", "graceful"]


def test_targets_roles_and_roots(tmp_path: Path) -> None:
    loaded = _stack(tmp_path, STACK)
    targets = R.watch_targets(loaded)
    by_target = {(m.service, m.target): m for m in targets.mounts}
    conf = by_target[("web", "/etc/nginx/conf.d/default.conf")]
    assert conf.role == "config" and conf.is_file
    assert by_target[("web", "/usr/share/nginx/html")].role == "content"
    # busybox has no reload policy: everything it mounts is content
    assert by_target[("app", "/srv")].role == "content"
    # each directory on its own, and only those that hold something watched: never the
    # project root's other subdirectories
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    roots = targets.roots()
    assert tmp_path in roots  # stack.yaml and single-file mounts' parents
    assert not any(p.is_relative_to(tmp_path / "node_modules") for p in roots)
    assert tmp_path / "stack.yaml" in targets.stack_files


def test_classify_groups_per_service(tmp_path: Path) -> None:
    loaded = _stack(tmp_path, STACK)
    targets = R.watch_targets(loaded)
    paths = [
        tmp_path / "conf" / "default.conf",
        tmp_path / "conf" / "other.conf",  # beside a single-file mount: not watched
        tmp_path / "site" / "index.html",
        tmp_path / "site" / ".index.html.swp",
        tmp_path / "src" / "main.py",
        tmp_path / "src" / "node_modules" / "x.js",
        tmp_path / "src" / "debug.log",
        tmp_path / "stack.yaml",
        tmp_path / "unrelated.txt",
    ]
    batch = R.classify(targets, paths)
    assert batch.stack_files == [tmp_path / "stack.yaml"]
    web = batch.services["web"]
    assert [p for _, p in web.config] == [tmp_path / "conf" / "default.conf"]
    assert [p for _, p in web.content] == [tmp_path / "site" / "index.html"]
    app = batch.services["app"]
    assert app.rules == {0: [tmp_path / "src" / "main.py"]}
    assert [p for _, p in app.content] == [tmp_path / "site" / "index.html"]
    assert not targets.interesting(tmp_path / "unrelated.txt")
    assert not targets.interesting(tmp_path / "conf" / "other.conf")
    assert targets.interesting(tmp_path / "conf" / "default.conf")


def test_two_hundred_files_make_one_change_per_service(tmp_path: Path) -> None:
    loaded = _stack(tmp_path, STACK)
    targets = R.watch_targets(loaded)
    paths = [tmp_path / "site" / f"page{i}.html" for i in range(200)]
    batch = R.classify(targets, paths)
    assert sorted(batch.services) == ["app", "web"]
    assert len(batch.services["web"].content) == 200


def test_merge_coalesces(tmp_path: Path) -> None:
    loaded = _stack(tmp_path, STACK)
    targets = R.watch_targets(loaded)
    a = R.classify(targets, [tmp_path / "conf" / "default.conf"])
    b = R.classify(targets, [tmp_path / "conf" / "default.conf", tmp_path / "stack.yaml"])
    merged = R.merge(a, b)
    assert len(merged.services["web"].config) == 1
    assert merged.stack_files == [tmp_path / "stack.yaml"]


def test_ignore_and_include_patterns() -> None:
    rule = WatchRule(
        path="/p", action="sync", target="/app", ignore=["node_modules/", "*.tmp", "build"]
    )
    assert R.ignored(rule, Path("/p/node_modules/a/b.js"))
    assert R.ignored(rule, Path("/p/x/y.tmp"))
    assert R.ignored(rule, Path("/p/build/out.o"))
    assert not R.ignored(rule, Path("/p/src/build.py"))
    assert not R.ignored(rule, Path("/p/src/main.py"))
    only = WatchRule(path="/p", action="sync", target="/app", include=["*.py"])
    assert not R.ignored(only, Path("/p/src/main.py"))
    assert R.ignored(only, Path("/p/src/main.js"))


def test_reload_operations_validate_then_signal() -> None:
    (op,) = R.reload_operations("web", ["demo-web-1"], R.NGINX_POLICY, "default.conf changed")
    assert op.action is Action.RELOAD and op.action.symbol == "↻"
    assert op.steps == (
        Exec("demo-web-1", ("nginx", "-t"), "validate"),
        Signal("demo-web-1", "HUP"),
    )
    assert op.reason == "default.conf changed"


def test_reload_operations_exec_policy_and_one_per_replica() -> None:
    policy = R.ReloadPolicy.model_validate({"exec": ["nginx", "-s", "reload"]})
    ops = R.reload_operations("web", ["w-2", "w-1"], policy, "x")
    assert [op.name for op in ops] == ["w-1", "w-2"]
    assert ops[0].steps == (Exec("w-1", ("nginx", "-s", "reload"), "reload"),)


def test_restart_and_exec_operations() -> None:
    (restart,) = R.restart_operations("app", ["a-1"], "why")
    assert restart.steps == (StopContainer("a-1"), StartContainer("a-1"))
    (run,) = R.restart_operations("app", ["a-1"], "why", ["touch", "/tmp/x"])
    assert run.steps == (Exec("a-1", ("touch", "/tmp/x"), "exec"),)


def test_exec_command_forms() -> None:
    assert R.exec_command(
        WatchRule(path="/p", action="sync+exec", exec={"command": "kill -HUP 1"})
    ) == [
        "/bin/sh",
        "-c",
        "kill -HUP 1",
    ]
    assert R.exec_command(
        WatchRule(path="/p", action="sync+exec", exec={"command": ["a", "b"]})
    ) == [
        "a",
        "b",
    ]


def test_atomic_save_is_an_inode_change(tmp_path: Path) -> None:
    f = tmp_path / "default.conf"
    f.write_text("one")
    before = os.stat(f).st_ino
    f.write_text("two")  # in place: same inode
    assert not R.replaced_by_rename(os.stat(f).st_ino, before)
    tmp = tmp_path / ".default.conf.tmp"
    tmp.write_text("three")
    os.replace(tmp, f)
    assert R.replaced_by_rename(os.stat(f).st_ino, before)
    assert not R.replaced_by_rename(os.stat(f).st_ino, None)


def test_sync_archive(tmp_path: Path) -> None:
    import io
    import tarfile

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a")
    (tmp_path / "src" / "x.log").write_text("x")
    rule = WatchRule(path=str(tmp_path / "src"), action="sync", target="/app/", ignore=["*.log"])
    archive, deleted, count = sync_archive(
        rule,
        [tmp_path / "src" / "a.py", tmp_path / "src" / "x.log", tmp_path / "src" / "gone.py"],
        "/app/",
    )
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
    assert names == ["app/a.py"] and count == 1
    assert deleted == ["/app/gone.py"]


@pytest.mark.parametrize(
    ("name", "noise"),
    [
        ("sedAb12Xy", True),  # GNU sed -i's temporary file
        (".default.conf.swp", True),
        ("default.conf~", True),
        ("4913", True),
        (".#default.conf", True),
        ("default.conf", False),
        ("sedona.conf", False),  # a real file whose name starts with "sed"
        ("sed", False),
    ],
)
def test_editor_temp_files_are_noise(tmp_path: Path, name: str, noise: bool) -> None:
    assert R.is_noise(tmp_path / "nginx" / name) is noise


def test_targets_ignore_editor_temp_files_beside_a_mounted_config(tmp_path: Path) -> None:
    (tmp_path / "nginx").mkdir()
    conf = tmp_path / "nginx" / "default.conf"
    conf.write_text("server {}\n")
    loaded = load_text(
        "services:\n  web:\n    image: nginx\n    volumes:\n"
        "      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf\n",
        working_dir=str(tmp_path),
    )
    targets = R.watch_targets(loaded)
    assert targets.interesting(conf)
    assert not targets.interesting(tmp_path / "nginx" / "sedQ3zR9a")
    assert not targets.interesting(tmp_path / "nginx" / "other.conf")
    batch = R.classify(targets, [tmp_path / "nginx" / "sedQ3zR9a", conf])
    assert [p for _, p in batch.services["web"].config] == [conf]


def test_a_sync_is_a_plan_the_executor_copies_and_removes_files_with(tmp_path: Path) -> None:
    from stackup.engine.fake import FakeEngine
    from stackup.planning.plan import CopyFiles
    from stackup.targets.engine.execute import execute

    ops = R.sync_operations("app", ["demo-app-1"], b"tar", 2, ["/srv/gone.txt"], tmp_path)
    (op,) = ops
    assert (op.id, op.action, op.action.symbol) == ("sync:demo-app-1", Action.SYNC, "⇄")
    assert op.steps == (
        CopyFiles("demo-app-1", b"tar", 2),
        Exec("demo-app-1", ("rm", "-rf", "--", "/srv/gone.txt"), "sync"),
    )
    engine = FakeEngine({"busybox": "sha256:" + "b0" * 32})
    load = _stack(tmp_path, STACK)
    from stackup.api import plan as make_plan

    execute(make_plan(load, engine), engine)
    outcome = execute(R.watch_plan("demo", ops, ("app",)), engine)
    assert outcome.ok and engine.copied == [("demo-app-1", "/", b"tar")]
    assert engine.execs[-1] == ("demo-app-1", ("rm", "-rf", "--", "/srv/gone.txt"))
    # Only removals: no copy step.
    (only_rm,) = R.sync_operations("app", ["demo-app-1"], b"", 0, ["/srv/x"], tmp_path)
    assert [type(s).__name__ for s in only_rm.steps] == ["Exec"]


def test_a_throwaway_check_goes_first_and_moves_the_step_indexes_with_it(tmp_path: Path) -> None:
    from stackup.planning.plan import CheckInThrowaway, Kind, Operation, RemoveContainer

    load = _stack(tmp_path, STACK)
    policy = R.reload_policy(load.stack.services["web"])
    assert policy is not None
    check = R.throwaway_check(load.stack, "web", policy)
    (step,) = check
    assert isinstance(step, CheckInThrowaway) and list(step.spec.service.command or ()) == [
        "nginx",
        "-t",
    ]
    op = Operation(
        id="container:demo-web-1",
        action=Action.RECREATE,
        kind=Kind.CONTAINER,
        name="demo-web-1",
        reason="r",
        steps=(StopContainer("demo-web-1"), StartContainer("demo-web-1")),
        gate=1,
        restore=(RemoveContainer("x"),),
        restore_from=1,
        restore_to=2,
    )
    checked = R.checked_first(op, check)
    assert checked.steps[0] is step and checked.steps[1:] == op.steps
    assert (checked.gate, checked.restore_from, checked.restore_to) == (2, 2, 3)
    assert R.checked_first(checked, check) is checked  # checked once only
