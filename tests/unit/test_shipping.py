"""The project's files on a remote engine (stackup.planning.shipping), planned and applied on
the in-memory engine posing as one reached over SSH: sources relocated, only what changed
shipped, in place where a running container pins a file, removals, and nothing of it for an
engine on this machine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO

import pytest

from stackup.api import UpRequest, up
from stackup.engine.docker.hostfiles import HOST_FILES_READ_LIMIT, DockerHostFiles
from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerSpec
from stackup.errors import EngineError, StackupError
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import (
    Action,
    CreateContainer,
    Plan,
    RemoveOnHost,
    RewriteInPlace,
    ShipFiles,
)
from stackup.planning.render import plan_json, render_text
from stackup.planning.shipping import MANIFEST_LIMIT, manifests_from
from stackup.runner import Event
from stackup.targets.engine import shipping as shipping_steps
from stackup.targets.engine.oneoff import oneoff_plan
from stackup.targets.engine.shipping import ship
from stackup.targets.engine.target import EngineTarget

STACK = """
name: demo
services:
  web:
    image: nginx:1.27
    volumes:
      - ./site:/usr/share/nginx/html:ro
      - ./default.conf:/etc/nginx/conf.d/default.conf:ro
      - /srv/shared:/shared
"""
ROOT = "/var/lib/stackup/demo"


class QuietUI:
    def lock_wait(self, message: str) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        pass

    def confirm_data_loss(self, plan: Plan) -> bool:
        return False

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield lambda event: None


def _remote() -> FakeEngine:
    engine = FakeEngine()
    engine.images["nginx:1.27"] = "sha256:" + "0e" * 32
    # How engine_is_local tells an engine reached over SSH.
    engine.endpoint = SimpleNamespace(base_url="ssh://deploy@server")  # type: ignore[attr-defined]
    return engine


def _project(tmp_path: Path) -> LoadedStack:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    (tmp_path / "site" / "about.html").write_text("about\n")
    (tmp_path / "default.conf").write_text("server { listen 80; }\n")
    return load_text(STACK, working_dir=str(tmp_path))


def _plan(loaded: LoadedStack, engine: FakeEngine) -> Plan:
    return EngineTarget(engine).plan(loaded, ReconcileOptions())


def test_sources_inside_the_project_travel_and_are_mounted_from_the_remote_copy(
    tmp_path: Path,
) -> None:
    engine, loaded = _remote(), _project(tmp_path)
    plan = _plan(loaded, engine)

    ships = [op for op in plan.operations if op.action == Action.SHIP]
    assert [(op.name, op.reason) for op in ships] == [
        ("./default.conf → server", "1 added, 22 B"),
        ("./site → server", "2 added, 12 B"),
    ]
    (create,) = [s for op in plan.operations for s in op.steps if isinstance(s, CreateContainer)]
    assert [m.source for m in create.spec.mounts] == [
        f"{ROOT}/files/site",
        f"{ROOT}/files/default.conf",
        "/srv/shared",
    ]
    web = next(op for op in plan.operations if op.service == "web")
    assert {op.id for op in ships} <= set(web.after)
    assert plan.warnings == (
        "services.web.volumes[2]: /srv/shared is outside the project directory: on the remote "
        "engine it is a path on the engine's host, not shipped",
    )
    text = render_text(plan)
    assert "⇪ files ./site → server  (2 added, 12 B)" in text
    assert "2 to ship" in text

    up(loaded, engine, UpRequest(), QuietUI())
    assert engine.host_files[f"{ROOT}/files/site/index.html"] == b"hello\n"
    assert engine.host_files[f"{ROOT}/files/default.conf"] == b"server { listen 80; }\n"
    manifests = [
        json.loads(gzip.decompress(v)) for k, v in engine.host_files.items() if "/manifests/" in k
    ]
    assert sorted(m["source"] for m in manifests) == ["default.conf", "site"]
    assert _plan(loaded, engine).operations == ()


def test_only_changed_files_travel_and_removed_ones_go(tmp_path: Path) -> None:
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    (tmp_path / "site" / "index.html").write_text("hello again\n")
    (tmp_path / "site" / "new.html").write_text("new\n")
    (tmp_path / "site" / "about.html").unlink()

    (op,) = _plan(loaded, engine).operations
    assert (op.name, op.reason) == ("./site → server", "1 changed, 1 added, 1 removed, 16 B")
    assert op.details[1:] == ("~ index.html", "+ new.html", "- about.html")
    # The web root is mounted by a running container: the removal goes through a throwaway
    # container of its image, so the directory it mounts stays the same one.
    (removal,) = [s for s in op.steps if isinstance(s, RemoveOnHost)]
    assert (removal.directory, removal.paths) == (f"{ROOT}/files/site", ("about.html",))


def test_a_file_mounted_on_its_own_is_rewritten_in_place_then_reloaded(tmp_path: Path) -> None:
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    (tmp_path / "default.conf").write_text("server { listen 81; }\n")

    plan = _plan(loaded, engine)
    ship, reload = plan.operations
    assert (ship.action, reload.action) == (Action.SHIP, Action.RELOAD)
    (rewrite,) = [s for s in ship.steps if isinstance(s, RewriteInPlace)]
    assert rewrite.target == f"{ROOT}/files/default.conf"
    assert rewrite.source == str(tmp_path / "default.conf")
    assert ship.id in reload.after
    assert reload.reason.startswith("default.conf changed since it was last applied")


def test_an_engine_on_this_machine_mounts_the_files_here(tmp_path: Path) -> None:
    engine, loaded = FakeEngine(), _project(tmp_path)
    engine.images["nginx:1.27"] = "sha256:" + "0e" * 32
    plan = _plan(loaded, engine)
    assert [op.action for op in plan.operations] == [Action.CREATE, Action.CREATE]
    (create,) = [s for op in plan.operations for s in op.steps if isinstance(s, CreateContainer)]
    assert create.spec.mounts[0].source == str(tmp_path / "site")
    assert plan.warnings == ()


def test_secrets_and_configs_from_files_travel_a_secret_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    (tmp_path / "db_password.txt").write_text("s3cret-value\n")
    (tmp_path / "app.ini").write_text("[app]\n")
    loaded = load_text(
        """
        name: demo
        services:
          app:
            image: nginx:1.27
            secrets: [db_password]
            configs: [app_ini]
        secrets:
          db_password:
            file: ./db_password.txt
        configs:
          app_ini:
            file: ./app.ini
        """.replace("\n        ", "\n"),
        working_dir=str(tmp_path),
    )
    plan = _plan(loaded, _remote())
    ships = {op.name: op for op in plan.operations if op.action == Action.SHIP}
    secret, config = ships["./db_password.txt → server"], ships["./app.ini → server"]
    # Counted, never sized nor shown.
    assert secret.reason == "1 added"
    assert "s3cret" not in render_text(plan) + json.dumps(plan_json(plan))
    assert config.reason == "1 added, 6 B"
    assert [s.mode for s in secret.steps if isinstance(s, ShipFiles) and s.files] == [0o400]
    assert [s.mode for s in config.steps if isinstance(s, ShipFiles) and s.files] == [None]
    (create,) = [s for op in plan.operations for s in op.steps if isinstance(s, CreateContainer)]
    assert sorted(m.source or "" for m in create.spec.mounts) == [
        f"{ROOT}/files/app.ini",
        f"{ROOT}/files/db_password.txt",
    ]
    app = next(op for op in plan.operations if op.service == "app")
    assert {secret.id, config.id} <= set(app.after)


def test_a_plan_for_some_services_ships_only_their_files(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    (tmp_path / "seed.sql").write_text("select 1;\n")
    loaded = load_text(
        """
        name: demo
        services:
          web:
            image: nginx:1.27
            volumes: ["./site:/usr/share/nginx/html:ro"]
          migrate:
            image: nginx:1.27
            volumes: ["./seed.sql:/seed.sql:ro"]
        """.replace("\n        ", "\n"),
        working_dir=str(tmp_path),
    )
    engine = _remote()
    plan = EngineTarget(engine).plan(loaded, ReconcileOptions(services=("web",)))
    assert [op.name for op in plan.operations if op.action == Action.SHIP] == ["./site → server"]

    # `stackup run migrate`: its files travel first, its container mounts the copy.
    run_plan, _ = oneoff_plan(
        loaded, engine, "migrate", None, with_dependencies=True, environment={}, name="m-1"
    )
    *before, run = run_plan.operations
    assert sorted(op.id for op in before) == ["files:seed.sql", "network:demo_default"]
    (ship,) = [op for op in before if op.action == Action.SHIP]
    assert ship.name == "./seed.sql → server" and ship.id in run.after
    (create,) = [s for s in run.steps if isinstance(s, CreateContainer)]
    assert [m.source for m in create.spec.mounts] == [f"{ROOT}/files/seed.sql"]


def test_a_saved_plan_pins_the_content_it_ships(tmp_path: Path) -> None:
    engine, loaded = _remote(), _project(tmp_path)
    before = plan_json(_plan(loaded, engine))
    # The same size, the same names: only the content differs.
    (tmp_path / "site" / "index.html").write_text("HELLO\n")
    after = plan_json(_plan(loaded, engine))
    assert [op["reason"] for op in before["operations"]] == [
        op["reason"] for op in after["operations"]
    ]
    assert before["operations"] != after["operations"]


def _web_root(tmp_path: Path) -> tuple[Path, LoadedStack]:
    project = tmp_path / "project"
    (project / "site").mkdir(parents=True)
    (project / "site" / "index.html").write_text("hello\n")
    loaded = load_text(
        "name: demo\nservices:\n  web:\n    image: nginx:1.27\n"
        "    volumes: ['./site:/usr/share/nginx/html:ro']\n",
        working_dir=str(project),
    )
    return project, loaded


def test_links_out_of_the_project_are_never_read_nor_shipped(tmp_path: Path) -> None:
    # A hostile checkout deployed by CI: links in a served directory to the runner's key and
    # environment, to a whole system directory, and a link loop.
    project, loaded = _web_root(tmp_path)
    key = tmp_path / "id_ed25519"
    key.write_text("PRIVATE KEY\n")
    site = project / "site"
    (site / "key").symlink_to(key)
    (site / "environ").symlink_to("/proc/self/environ")
    (site / "etc").symlink_to("/etc")
    (site / "loop").symlink_to(".")
    (project / "inside.html").write_text("inside\n")
    (site / "inside.html").symlink_to("../inside.html")
    engine = _remote()

    plan = _plan(loaded, engine)
    (op,) = [op for op in plan.operations if op.action == Action.SHIP]
    assert op.details[1:] == ("+ index.html", "+ inside.html")
    (warning,) = [w for w in plan.warnings if "not shipped" in w]
    assert warning == (
        "./site: 4 entries not shipped: environ, etc, key (links out of the project "
        "directory), loop (a link to a directory)"
    )
    up(loaded, engine, UpRequest(), QuietUI())
    assert sorted(p for p in engine.host_files if "/files/" in p) == [
        f"{ROOT}/files/site/index.html",
        f"{ROOT}/files/site/inside.html",
    ]
    assert engine.host_files[f"{ROOT}/files/site/inside.html"] == b"inside\n"


def test_a_source_that_leads_out_of_the_project_by_a_link_is_not_shipped(tmp_path: Path) -> None:
    project, loaded = _web_root(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours\n")
    (project / "site" / "index.html").unlink()
    (project / "site").rmdir()
    (project / "site").symlink_to(outside)
    engine = _remote()

    plan = _plan(loaded, engine)
    assert [op for op in plan.operations if op.action == Action.SHIP] == []
    assert "./site: leads by a symbolic link out of the project directory: not shipped" in (
        plan.warnings
    )
    up(loaded, engine, UpRequest(), QuietUI())
    assert not any(b"not yours" in v for v in engine.host_files.values())


def test_special_files_in_a_shipped_tree_are_skipped_not_read(tmp_path: Path) -> None:
    project, loaded = _web_root(tmp_path)
    os.mkfifo(project / "site" / "pipe")  # reading it would wait for a writer forever
    (project / "site" / "to-pipe").symlink_to("pipe")
    plan = _plan(loaded, _remote())
    (op,) = [op for op in plan.operations if op.action == Action.SHIP]
    assert op.details[1:] == ("+ index.html",)
    assert "./site: 2 entries not shipped: pipe, to-pipe (not regular files)" in plan.warnings


def test_a_file_swapped_for_a_link_after_planning_is_refused_when_shipping(
    tmp_path: Path,
) -> None:
    project, loaded = _web_root(tmp_path)
    (tmp_path / "id_ed25519").write_text("PRIVATE KEY\n")
    engine = _remote()
    plan = _plan(loaded, engine)
    index = project / "site" / "index.html"
    index.unlink()
    index.symlink_to(tmp_path / "id_ed25519")
    (step, _manifest) = next(op.steps for op in plan.operations if op.action == Action.SHIP)
    assert isinstance(step, ShipFiles)
    with pytest.raises(StackupError, match=r"index\.html"):
        ship(engine, step)
    assert not any(b"PRIVATE" in v for v in engine.host_files.values())


def test_an_untrusted_plan_reads_nothing_of_the_git_directory_in_a_shipped_tree(
    tmp_path: Path,
) -> None:
    # `diff --base` of a pull request against the server: the project directory itself is
    # mounted, and the checkout's token is in .git/config.
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("extraheader = AUTHORIZATION: basic TOKEN\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    loaded = load_text(
        "name: demo\nservices:\n  web:\n    image: nginx:1.27\n    volumes: ['.:/app:ro']\n",
        working_dir=str(tmp_path),
        untrusted=True,
    )
    opened: list[str] = []
    real_open = os.open

    def watching(path: str, *args: int) -> int:
        opened.append(str(path))
        return real_open(path, *args)

    os.open = watching  # type: ignore[assignment]
    try:
        plan = _plan(loaded, _remote())
    finally:
        os.open = real_open
    (op,) = [op for op in plan.operations if op.action == Action.SHIP]
    assert op.details[1:] == ("+ app.py",)
    assert not [p for p in opened if "/.git/" in p]
    assert ".: 1 entry not shipped: .git (not read in the untrusted mode)" in plan.warnings


def _manifest(data: object) -> bytes:
    return gzip.compress(json.dumps(data).encode())


def test_a_manifest_on_the_engines_host_naming_paths_out_of_its_source_is_foreign(
    tmp_path: Path,
) -> None:
    # What the engine's host holds is not trusted: a manifest that lists `..` or absolute
    # paths must not turn into removals (nor lines of the plan) outside the source.
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    (name,) = [
        p
        for p in engine.host_files
        if "/manifests/" in p
        and "site" in str(json.loads(gzip.decompress(engine.host_files[p]))["source"])
    ]
    for hostile in ("../../../etc/passwd", "/etc/shadow", "a//b", "./x", ""):
        files = {"index.html": "0" * 64, "about.html": "0" * 64, hostile: "0" * 64}
        engine.host_files[name] = _manifest({"source": "site", "files": files})
        (op,) = _plan(loaded, engine).operations
        assert not [s for s in op.steps if isinstance(s, RemoveOnHost)], hostile
        # Shipped whole again, as for a torn manifest.
        assert op.details[1:] == ("+ about.html", "+ index.html"), hostile


def test_a_manifest_that_unpacks_past_the_limit_is_not_read(tmp_path: Path) -> None:
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    files = {"index.html": "0" * 64, "about.html": "0" * 64}
    padding = " " * (MANIFEST_LIMIT + 1)  # compresses to ~64 KiB
    bomb = gzip.compress(json.dumps({"source": "site", "files": files}).encode() + padding.encode())
    assert manifests_from({"m": bomb}) == {}
    # Nested past the JSON decoder's recursion: foreign, not a traceback.
    assert manifests_from({"m": gzip.compress(b"[" * 200_000)}) == {}
    assert manifests_from({"m": _manifest({"source": "site", "files": files})}) == {"site": files}


def test_reading_the_engines_host_files_stops_at_the_limit() -> None:
    # A hostile engine answering a laptop sends an endless archive: read up to a limit, then
    # refused, never gathered whole in memory.
    chunk = b"\0" * (1 << 20)
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while sent < (HOST_FILES_READ_LIMIT >> 20) + 64:
            sent += 1
            yield chunk

    api = SimpleNamespace(
        inspect_image=lambda image: {},
        create_host_config=lambda **kwargs: {},
        create_container=lambda *args, **kwargs: {"Id": "helper"},
        containers=lambda **kwargs: [],
        get_archive=lambda container, path: (endless(), {}),
        remove_container=lambda *args, **kwargs: None,
    )
    with pytest.raises(StackupError, match="limit"):
        DockerHostFiles(api).read(ROOT, "manifests")  # type: ignore[arg-type]
    assert sent <= (HOST_FILES_READ_LIMIT >> 20) + 1


def test_a_secrets_digest_is_keyed_in_its_manifest_and_in_the_plan(tmp_path: Path) -> None:
    # A weak password must not be found by hashing guesses: neither from the manifest on the
    # engine's host (readable by its other users) nor from a plan posted in a pull request.
    (tmp_path / "pw.txt").write_text("hunter2")
    loaded = load_text(
        "name: demo\nservices:\n  app:\n    image: nginx:1.27\n    secrets: [pw]\n"
        "secrets:\n  pw:\n    file: ./pw.txt\n",
        working_dir=str(tmp_path),
    )
    engine = _remote()
    plan = _plan(loaded, engine)

    def guessable(guess: bytes) -> set[str]:
        digest = hashlib.sha256(guess).hexdigest()
        manifest = gzip.compress(
            json.dumps(
                {"source": "pw.txt", "files": {"": digest}}, sort_keys=True, separators=(",", ":")
            ).encode(),
            mtime=0,
        )
        return {digest, hashlib.sha256(manifest).hexdigest()}

    published = json.dumps(plan_json(plan))
    assert not [d for d in guessable(b"hunter2") if d in published]
    up(loaded, engine, UpRequest(), QuietUI())
    stored = b"".join(v for k, v in engine.host_files.items() if "/manifests/" in k)
    assert not [d for d in guessable(b"hunter2") if d in gzip.decompress(stored).decode()]
    # Still compared: nothing ships again while the secret is unchanged.
    assert [op for op in _plan(loaded, engine).operations if op.action == Action.SHIP] == []
    (tmp_path / "pw.txt").write_text("hunter3")
    assert [op.name for op in _plan(loaded, engine).operations if op.action == Action.SHIP] == [
        "./pw.txt → server"
    ]


class _CountingEngine(FakeEngine):
    """Takes the archive as the engine does, a stream, and keeps only its size."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def write_host_files(self, directory: str, archive: BinaryIO) -> None:
        while chunk := archive.read(1 << 16):
            self.received += len(chunk)


def test_a_large_file_ships_without_being_held_in_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(256 << 20)  # sparse: no disk used
    step = ShipFiles(ROOT, files=((str(big), "files/big.bin"),))
    engine = _CountingEngine()
    tracemalloc.start()
    try:
        sent = ship(engine, step)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == 256 << 20 and engine.received > sent
    assert peak < 64 << 20


def test_changes_in_place_resolve_their_path_inside_a_container_never_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service that can write its shipped directory can put a link where a shipped file was
    # (`default.conf -> /etc/shadow` on the engine's host). A bind mount's source is resolved
    # by the engine on its host: the root throwaway that rewrites or removes a file must
    # mount the project's directory and reach the file inside its own filesystem.
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    (tmp_path / "default.conf").write_text("server { listen 81; }\n")
    (tmp_path / "site" / "about.html").unlink()
    plan = _plan(loaded, engine)
    steps = [s for op in plan.operations for s in op.steps]
    rewrite = next(s for s in steps if isinstance(s, RewriteInPlace))
    removal = next(s for s in steps if isinstance(s, RemoveOnHost))
    ran: list[tuple[str | None, tuple[str, ...]]] = []

    def recording(engine: FakeEngine, spec: ContainerSpec) -> SimpleNamespace:
        (mount,) = spec.mounts
        ran.append((mount.source, tuple(spec.service.command or ())))
        return SimpleNamespace(exit_code=0, output="")

    monkeypatch.setattr(shipping_steps, "run_check", recording)
    shipping_steps.rewrite_in_place(engine, rewrite)
    shipping_steps.remove_on_host(engine, removal)
    assert ran == [
        (ROOT, ("/stackup-project/files/default.conf",)),
        (ROOT, ("/stackup-project/files/site", "about.html")),
    ]


def test_down_removes_the_project_directory_from_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's directory itself goes, so the throwaway mounts its parent (a directory
    # of stackup's, not the project's) and removes the project's name in it. Found when the
    # mount was narrowed to the project's directory for the in-place changes: `down` then
    # refused ("/var/lib/stackup is not under /var/lib/stackup/demo") and left the files.
    engine, loaded = _remote(), _project(tmp_path)
    up(loaded, engine, UpRequest(), QuietUI())
    ran: list[tuple[str | None, tuple[str, ...]]] = []

    def recording(engine: FakeEngine, spec: ContainerSpec) -> SimpleNamespace:
        (mount,) = spec.mounts
        ran.append((mount.source, tuple(spec.service.command or ())))
        return SimpleNamespace(exit_code=0, output="")

    monkeypatch.setattr(shipping_steps, "run_check", recording)
    shipping_steps.remove_project_root(engine, "demo", ["nginx:1.27"])
    assert ran == [("/var/lib/stackup", ("/stackup-project", "demo"))]


def _sparse_bomb(name: str, claimed: int) -> bytes:
    """A 10 KiB archive whose one file claims `claimed` bytes (a sparse file of holes)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.pax_headers = {
            "GNU.sparse.map": "0,0",
            "GNU.sparse.size": str(claimed),
            "GNU.sparse.major": "0",
            "GNU.sparse.minor": "1",
        }
        tar.addfile(info, io.BytesIO(b""))
    return out.getvalue()


def _helper_api(archive: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        inspect_image=lambda image: {},
        create_host_config=lambda **kwargs: {},
        create_container=lambda *args, **kwargs: {"Id": "helper"},
        containers=lambda **kwargs: [],
        get_archive=lambda container, path: (iter([archive]), {}),
        remove_container=lambda *args, **kwargs: None,
    )


@pytest.mark.parametrize(
    "archive",
    [_sparse_bomb("manifests/x.json.gz", 1 << 30), b"not a tar archive" * 600],
    ids=["sparse-bomb", "not-a-tar"],
)
def test_an_archive_the_engine_sends_back_is_refused_when_it_is_not_what_stackup_wrote(
    archive: bytes,
) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(EngineError, match="the engine sent"):
            DockerHostFiles(_helper_api(archive)).read(ROOT, "manifests")  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_a_deep_tree_is_read_without_recursion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, loaded = _web_root(tmp_path)
    monkeypatch.chdir(project / "site")
    for _ in range(1200):  # deeper than Python's recursion limit, within PATH_MAX
        os.mkdir("a")
        os.chdir("a")
    Path("leaf.html").write_text("leaf\n")
    try:
        plan = _plan(loaded, _remote())
    finally:
        # Removed bottom up here: pytest's own clean-up of tmp_path recurses too.
        os.remove("leaf.html")
        for _ in range(1200):
            os.chdir("..")
            os.rmdir("a")
    (op,) = [op for op in plan.operations if op.action == Action.SHIP]
    assert op.reason == "2 added, 11 B"
