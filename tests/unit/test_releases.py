"""Releases over the in-memory engine (stackup.usecases.releases, .rollback): recorded by
`up` when something changed, never seen as the project's containers, listed newest first,
pruned, rolled back to with images pinned and secrets never stored in clear, removed by
`down --volumes` only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

import stackup
from stackup.api import UpRequest
from stackup.engine.fake import FakeEngine
from stackup.errors import PlanError, StalePlanError
from stackup.loading.loader import LoadedStack, load_text
from stackup.model import labels
from stackup.planning.plan import Plan
from stackup.planning.render import plan_json
from stackup.targets.engine.execute import Event
from stackup.targets.target import DownRequest
from stackup.usecases import deploy, releases
from stackup.usecases.rollback import VOLUMES_NOTE, RollbackRequest, history, rollback

OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32
STACK = """
name: rel
services:
  web:
    image: app:1
    environment:
      PAGE: "{page}"
      API_TOKEN: "{token}"
"""


class UI:
    def __init__(self) -> None:
        self.plans: list[Plan] = []

    def lock_wait(self, message: str) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)

    def confirm_data_loss(self, plan: Plan) -> bool:
        return True

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield lambda event: None


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv(releases.KEEP_VARIABLE, raising=False)
    (tmp_path / "run").mkdir()


def _up(engine: FakeEngine, page: str, token: str = "t0k3n-value") -> stackup.Applied:
    loaded = load_text(STACK.format(page=page, token=token))
    return stackup.up(loaded, engine, UpRequest(), UI())


def _current(page: str, token: str = "t0k3n-value") -> LoadedStack:
    return load_text(STACK.format(page=page, token=token))


def _env(engine: FakeEngine) -> dict[str, str]:
    (container,) = engine.observe("rel").containers
    spec = json.loads(container.labels[labels.SPEC])
    return dict(spec["environment"])


def test_a_changing_up_records_a_release_and_a_no_op_up_none() -> None:
    engine = FakeEngine({"app:1": OLD})
    assert _up(engine, "one").release == 1
    assert _up(engine, "one").release is None  # nothing changed
    assert _up(engine, "two").release == 2
    found = history("rel", engine)
    assert [r.number for r in found] == [2, 1]
    assert all(r.kind == "up" and "@" in r.by for r in found)
    # None of the project's containers: observe (ps, plans, down) shows the service alone.
    assert [c.name for c in engine.observe("rel").containers] == ["rel-web-1"]


def test_the_record_keeps_image_ids_and_no_secret_in_clear() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one", token="t0k3n-value")
    (release,) = history("rel", engine)
    data = releases.read_record(engine, release)
    assert data["images"] == {"web": {"image": "app:1", "id": OLD}}
    raw = json.dumps(data)
    assert "t0k3n-value" not in raw and "(sensitive sha256:" in raw
    assert data["stack"]["services"]["web"]["environment"]["PAGE"] == "one"


def test_retention_keeps_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(releases.KEEP_VARIABLE, "2")
    engine = FakeEngine({"app:1": OLD})
    for page in ("one", "two", "three", "four"):
        _up(engine, page)
    assert [r.number for r in history("rel", engine)] == [4, 3]


def test_retention_from_the_stack_file() -> None:
    loaded = load_text(STACK.format(page="x", token="t") + "x-stackup:\n  releases:\n    keep: 3\n")
    assert releases.keep_count(loaded) == 3


def test_rollback_goes_back_with_the_release_image_pinned() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one")
    engine.images["app:1"] = NEW  # the tag moved (a new build under the same tag)
    engine.images["kept:old"] = OLD  # the old image stays on the engine (untagged, on Docker)
    _up(engine, "two")
    assert engine.observe("rel").containers[0].image_id == NEW
    ui = UI()
    current = load_text(STACK.format(page="two", token="t0k3n-value"))
    result = rollback("rel", current, engine, RollbackRequest(), ui)
    assert result.outcome.ok and result.release == 3
    (container,) = engine.observe("rel").containers
    assert container.image_id == OLD  # the release's image, by its ID
    env = _env(engine)
    assert env["PAGE"] == "one"
    assert VOLUMES_NOTE in ui.plans[0].warnings
    newest = history("rel", engine)[0]
    assert (newest.kind, newest.of) == ("rollback", 1)


def test_a_rollback_applies_only_the_plan_its_dry_run_showed() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one")
    _up(engine, "two")
    shown = UI()
    rollback("rel", _current("two"), engine, RollbackRequest(release=1, dry_run=True), shown)
    saved = plan_json(shown.plans[0])
    assert _env(engine)["PAGE"] == "two" and len(history("rel", engine)) == 2  # a dry run

    _up(engine, "three")  # the engine changed since the dry run
    with pytest.raises(StalePlanError, match="changed since the plan in this page"):
        rollback(
            "rel",
            _current("three"),
            engine,
            RollbackRequest(1, saved_plan=saved, saved_plan_file="this page"),
            UI(),
        )
    assert _env(engine)["PAGE"] == "three" and len(history("rel", engine)) == 3

    shown = UI()
    rollback("rel", _current("three"), engine, RollbackRequest(release=1, dry_run=True), shown)
    request = RollbackRequest(release=1, saved_plan=plan_json(shown.plans[0]))
    assert rollback("rel", _current("three"), engine, request, UI()).release == 4
    assert _env(engine)["PAGE"] == "one"


def test_rollback_refuses_an_image_the_engine_no_longer_has() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one")
    engine.images["app:1"] = NEW
    _up(engine, "two")
    engine.images = {"app:1": NEW}  # the old image is gone
    with pytest.raises(PlanError, match=r"image app:1 \(sha256:a1a1.*\) of service web is gone"):
        rollback("rel", _current("two"), engine, RollbackRequest(release=1), UI())


def test_rollback_refuses_a_secret_that_changed_naming_it() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one", token="first-token")
    _up(engine, "two", token="second-token")
    current = load_text(STACK.format(page="two", token="second-token"))
    with pytest.raises(PlanError, match=r"services\.web\.environment\.API_TOKEN"):
        rollback("rel", current, engine, RollbackRequest(release=1), UI())
    assert _env(engine)["PAGE"] == "two"  # nothing was applied


def test_rollback_needs_a_release_before_the_newest() -> None:
    engine = FakeEngine({"app:1": OLD})
    with pytest.raises(PlanError, match="no releases"):
        rollback("rel", None, engine, RollbackRequest(), UI())
    _up(engine, "one")
    with pytest.raises(PlanError, match="only release 1"):
        rollback("rel", None, engine, RollbackRequest(), UI())
    with pytest.raises(PlanError, match="no release 7"):
        rollback("rel", None, engine, RollbackRequest(release=7), UI())


def test_down_keeps_releases_and_down_volumes_removes_them() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one")
    _up(engine, "two")
    stackup.down("rel", engine, DownRequest(), UI())
    assert [r.number for r in history("rel", engine)] == [2, 1]
    _up(engine, "one")
    stackup.down("rel", engine, DownRequest(volumes=True), UI())
    assert history("rel", engine) == ()
    assert not [
        c
        for c in engine.containers.values()
        if "rel" in (c.labels.get(labels.PROJECT), c.labels.get(labels.RELEASE_PROJECT))
    ]


class RemoteFake(FakeEngine):
    """The in-memory engine placed on another host: plans ship the project's files."""

    endpoint = SimpleNamespace(base_url="ssh://prod")


SITE = """
name: rel
services:
  web:
    image: app:1
    volumes: ["./site:/usr/share/nginx/html:ro"]
"""


def test_remote_records_keep_each_file_once_and_rollback_ships_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(releases.KEEP_VARIABLE, "2")
    engine = RemoteFake({"app:1": OLD})
    site = tmp_path / "site"
    site.mkdir()
    for i in range(5):
        (site / f"page{i}.html").write_text(f"page {i}\n")

    def deploy(index: str) -> int | None:
        (site / "index.html").write_text(index)
        loaded = load_text(SITE, working_dir=str(tmp_path))
        return stackup.up(loaded, engine, UpRequest(), UI()).release

    def held(number: int) -> set[str]:
        (record,) = [r for r in history("rel", engine) if r.number == number]
        return {k for k in engine.release_files[record.record_id] if k.startswith("blobs/")}

    assert deploy("first\n") == 1
    assert len(held(1)) == 6  # every file, once
    assert deploy("second\n") == 2
    assert len(held(2)) == 1  # only the changed file
    assert deploy("third\n") == 3  # release 1 is pruned: what release 2 needs moves here
    assert [r.number for r in history("rel", engine)] == [3, 2]
    assert len(held(3)) == 6  # page0-4 and index.html "third"; "first" is gone with release 1

    shipped = "/var/lib/stackup/rel/files/site/index.html"
    assert engine.host_files[shipped] == b"third\n"
    current = load_text(SITE, working_dir=str(tmp_path))
    result = rollback("rel", current, engine, RollbackRequest(), UI())
    assert result.outcome.ok and result.release == 4
    assert engine.host_files[shipped] == b"second\n"  # release 2's file, shipped back
    assert (site / "index.html").read_text() == "third\n"  # the working file is not written
    # Keeping 2, release 2 goes now: the one file only it held moves into release 4.
    assert held(4) == {"blobs/" + hashlib.sha256(b"second\n").hexdigest()}
    assert [r.number for r in history("rel", engine)] == [4, 3]


def test_a_watch_burst_records_no_release() -> None:
    engine = FakeEngine({"app:1": OLD})
    _up(engine, "one")
    loaded = _current("two")
    options = deploy.plan_options(loaded, engine)
    applied = deploy.apply_plan(loaded, engine, deploy.plan(loaded, engine, options), options)
    assert applied.outcome.ok and _env(engine)["PAGE"] == "two"
    assert [r.number for r in history("rel", engine)] == [1]


def test_a_local_rollback_lists_the_working_files_that_differ_and_writes_none(
    tmp_path: Path,
) -> None:
    engine = FakeEngine({"app:1": OLD})
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("first\n")
    text = SITE.replace("image: app:1", 'image: app:1\n    environment: {PAGE: "{page}"}')

    def up_with(page: str) -> None:
        loaded = load_text(text.replace("{page}", page), working_dir=str(tmp_path))
        stackup.up(loaded, engine, UpRequest(), UI())

    up_with("one")
    (site / "index.html").write_text("second\n")
    up_with("two")
    ui = UI()
    current = load_text(text.replace("{page}", "two"), working_dir=str(tmp_path))
    assert rollback("rel", current, engine, RollbackRequest(), ui).outcome.ok
    assert _env(engine)["PAGE"] == "one"
    (note,) = [w for w in ui.plans[0].warnings if "working files" in w]
    assert "./site/index.html (changed)" in note
    assert (site / "index.html").read_text() == "second\n"
