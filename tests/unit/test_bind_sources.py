"""Missing bind sources (stackup.planning.bindsources): a located warning where the engine will
create an empty directory, a located error before anything is created where it would fail
half-way, and a container that does not start removed with the directories made for it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stackup.api import UpRequest, up
from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerSpec
from stackup.errors import ApplyError, EngineError
from stackup.loading.loader import load_text
from stackup.planning.desired import image_key
from stackup.planning.plan import Plan, RemoveEmptyDirectories
from stackup.targets.engine.execute import Event

NGINX = "sha256:" + "0e" * 32
CONF = "/etc/nginx/conf.d/default.conf"
SITE = "/usr/share/nginx/html"


class QuietUI:
    def lock_wait(self, message: str) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        self.plan = plan

    def confirm_data_loss(self, plan: Plan) -> bool:
        return False

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield lambda event: None


def _nginx() -> FakeEngine:
    engine = FakeEngine({"nginx:stable": NGINX})
    engine.image_files["nginx:stable"] = {CONF: "file", SITE: "directory"}
    return engine


def _stack(tmp_path: Path, volumes: str, extra: str = "") -> str:
    return f"name: lib\nservices:\n  web:\n    image: nginx:stable\n{extra}    volumes:\n{volumes}"


def test_config_warns_at_the_line_of_a_missing_source(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(
        "services:\n  web:\n    image: nginx:stable\n    volumes:\n"
        f"      - ./sitee:{SITE}\n      - ./conf:/etc/nginx/conf.d\n"
    )
    (tmp_path / "conf").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKUP_TEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: stack.yaml:5:9: services.web.volumes[0]: ./sitee does not exist; the engine "
        "will create an empty directory"
    ]
    assert not (tmp_path / "sitee").exists()


def test_a_missing_source_that_must_exist_is_a_located_error_before_anything_is_created(
    tmp_path: Path,
) -> None:
    text = _stack(
        tmp_path,
        "      - type: bind\n        source: ./data\n        target: /data\n"
        "        bind: {create_host_path: false}\n",
    )
    engine = _nginx()
    with pytest.raises(ApplyError) as caught:
        up(load_text(text, working_dir=str(tmp_path)), engine, UpRequest(), QuietUI())
    assert str(caught.value).startswith(
        "stack.yaml:6:9: services.web.volumes[0]: ./data does not exist, and "
        "`bind.create_host_path` is false"
    )
    assert engine.containers == {} and engine.networks == {}
    assert not (tmp_path / "data").exists()


def test_a_missing_file_source_over_a_file_in_the_image_is_refused_reading_the_image_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "site").mkdir()
    text = _stack(tmp_path, f"      - ./site:{SITE}\n      - ./default.conff:{CONF}\n")
    engine = _nginx()
    with pytest.raises(ApplyError) as caught:
        up(load_text(text, working_dir=str(tmp_path)), engine, UpRequest(), QuietUI())
    assert str(caught.value).splitlines()[0] == (
        f"stack.yaml:7:9: services.web.volumes[1]: ./default.conff does not exist (the engine "
        f"would create an empty directory), but nginx:stable has a file at {CONF}; a "
        "directory cannot be mounted over a file: correct the path"
    )
    assert engine.containers == {} and engine.networks == {}
    assert engine.calls["image_path_kinds"] == 1  # both targets, one look at the image


def test_a_file_over_a_directory_in_the_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi\n")
    text = _stack(tmp_path, f"      - ./index.html:{SITE}\n")
    with pytest.raises(
        ApplyError, match=f"./index.html is a file, but nginx:stable has a directory at {SITE}"
    ):
        up(load_text(text, working_dir=str(tmp_path)), _nginx(), UpRequest(), QuietUI())


class Building(FakeEngine):
    def build_image(self, build: object, tag: str) -> Iterator[str]:
        yield "built"
        self.set_image(image_key(tag), "sha256:" + "bd" * 32)


def test_the_image_is_read_after_the_build_that_makes_it(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    text = (
        f"name: lib\nservices:\n  web:\n    build: {tmp_path / 'app'}\n    image: local/web:dev\n"
        f"    volumes:\n      - ./default.conff:{CONF}\n"
    )
    engine = Building()
    engine.image_files["local/web:dev"] = {CONF: "file"}
    with pytest.raises(ApplyError, match="local/web:dev has a file at"):
        up(load_text(text, working_dir=str(tmp_path)), engine, UpRequest(), QuietUI())
    assert engine.images["local/web:dev"] and engine.containers == {}


class FailingStart(FakeEngine):
    """An engine whose runtime makes the missing bind sources, then fails to start."""

    def __init__(self) -> None:
        super().__init__({"nginx:stable": NGINX})
        self.specs: dict[str, ContainerSpec] = {}

    def create_container(self, spec: ContainerSpec) -> str:
        self.specs[spec.name] = spec
        return super().create_container(spec)

    def start_container(self, container: str) -> None:
        for mount in self.specs[container].mounts:
            if mount.type == "bind" and mount.source and mount.create_host_path:
                os.makedirs(mount.source, exist_ok=True)
        raise EngineError(f"starting container {container}: OCI runtime create failed")


def test_a_container_that_does_not_start_is_removed_with_the_directories_made_for_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "kept").mkdir()
    text = _stack(tmp_path, f"      - ./made:{SITE}\n      - ./kept:/kept\n")
    engine = FailingStart()
    result = up(load_text(text, working_dir=str(tmp_path)), engine, UpRequest(), QuietUI())
    assert "container:lib-web-1" in result.outcome.failed
    (op,) = [o for o in result.plan.operations if o.kind == "container"]
    assert RemoveEmptyDirectories((str(tmp_path / "made"),)) in op.restore
    assert engine.containers == {}  # not left `created`
    assert not (tmp_path / "made").exists() and (tmp_path / "kept").is_dir()


def test_a_directory_another_service_mounts_too_is_not_removed(tmp_path: Path) -> None:
    text = (
        "name: lib\nservices:\n"
        f"  web:\n    image: nginx:stable\n    volumes: ['./shared:{SITE}']\n"
        "  other:\n    image: nginx:stable\n    volumes: ['./shared:/shared']\n"
    )
    engine = FailingStart()
    result = up(load_text(text, working_dir=str(tmp_path)), engine, UpRequest(), QuietUI())
    assert not result.outcome.ok and engine.containers == {}
    assert (tmp_path / "shared").is_dir()  # made for both: left, as it may be in use
