"""`stackup ui` against the real engine: the page in headless Chromium (the live-reload test's
harness, tests/engine/browser.py) and its door probed with plain HTTP requests. Each test's
stacks have unique project names, removed by label at the end (the `project_name` fixture)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.engine.browser import Browser
from tests.engine.helpers import (
    StackDir,
    free_port,
    http_get,
    remove_project_resources,
    stackup,
    wait_for,
)
from tests.engine.uiproc import UiServer

pytestmark = pytest.mark.engine

CANARY = f"canary-{secrets.token_hex(8)}"
HOSTILE_LABEL = "<img src=x onerror=window.__pwned=1>"


def _stack(d: StackDir, project: str, port: int, *, token: str = "", label: bool = False) -> None:
    labels = f'\n            labels:\n              "{HOSTILE_LABEL}": "x"' if label else ""
    env = f"\n            environment:\n              API_TOKEN: {token}" if token else ""
    d.stack(
        f"""
        name: {project}
        services:
          web:
            image: nginx:stable
            ports: ["127.0.0.1:{port}:80"]{labels}{env}
          side:
            image: busybox
            command: ["sh", "-c", "echo side started; exec sleep 86400"]
            init: true
        """
    )


@pytest.fixture
def served(tmp_stack_dir: StackDir) -> Iterator[list[UiServer]]:
    """The `stackup ui` processes a test starts, stopped at its end even on failure."""
    started: list[UiServer] = []
    yield started
    for server in started:
        server.kill()


def _start(served: list[UiServer], cwd: Path, *args: str) -> UiServer:
    server = UiServer(cwd, *args)
    served.append(server)
    return server


def _container_id(client: docker.DockerClient, project: str, service: str) -> str:
    found = client.containers.list(
        all=True,
        filters={"label": [f"io.stackup.project={project}", f"io.stackup.service={service}"]},
    )
    assert len(found) == 1, found
    return str(found[0].id)


def _open(browser: Browser, server: UiServer) -> None:
    browser.call("Page.enable")
    browser.call("Page.navigate", url=server.url)
    wait_for(
        lambda: browser.evaluate("document.body && document.body.dataset.version !== undefined"),
        timeout=30,
        what="the page to show its first view",
    )


def _diff_json(d: StackDir) -> dict[str, object]:
    out = stackup("diff", "--format", "json", cwd=d.path)
    result: dict[str, object] = json.loads(out.stdout)
    return result


# ------------------------------------------------------------------------- the page (Chromium)


def test_page_lists_services_and_the_api_plan_is_diffs_json(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    _stack(d, project_name, free_port())  # another port: a recreate pending
    server = _start(served, d.path)
    _open(browser, server)

    wait_for(
        lambda: all(
            s in browser.text() for s in (f"{project_name}-web-1", f"{project_name}-side-1")
        ),
        timeout=20,
        what="both containers listed",
    )
    states = browser.evaluate(
        "[...document.querySelectorAll('#services tbody tr')]"
        ".map(tr => [tr.dataset.service, tr.children[2].textContent])"
    )
    assert sorted(states) == [["side", "running"], ["web", "running"]]

    api = server.request("GET", "/api/plan").json()
    diff = _diff_json(d)
    assert api["operations"] == diff["operations"]
    assert api["summary"] == diff["summary"]
    assert api["summary"]["recreate"] == 1
    # The page shows the plan as `diff` prints it, its "Plan: ..." line included.
    text = stackup("diff", cwd=d.path).stdout
    assert text.strip().splitlines()[-1] in browser.text()


def test_port_changed_on_disk_shows_the_recreate_then_apply_serves_the_new_port(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    old_port, new_port = free_port(), free_port()
    _stack(d, project_name, old_port)
    stackup("up", cwd=d.path)
    server = _start(served, d.path)
    _open(browser, server)
    wait_for(lambda: "No changes." in browser.text(), timeout=20, what="the empty plan")

    _stack(d, project_name, new_port)
    diff = _diff_json(d)
    (recreate,) = [op for op in diff["operations"] if op["action"] == "recreate"]  # type: ignore[union-attr]
    field = recreate["fields"][0]["path"]
    wait_for(
        lambda: "recreate" in browser.text() and field in browser.text(),
        timeout=20,
        what=f"the page to show the recreate with {field}",
    )
    assert str(new_port) in browser.text()

    browser.settled_click("#apply")
    wait_for(lambda: "Applied:" in browser.text(), timeout=120, what="the apply to finish")
    assert "nginx" in http_get(f"http://127.0.0.1:{new_port}/", retry_for=20).body.lower()
    assert stackup("diff", "--exit-code", cwd=d.path, check=False).returncode == 0
    # The Apply is a release, as an `up` that changed something is.
    history = json.loads(stackup("history", "--format", "json", cwd=d.path).stdout)
    assert [(r["release"], r["kind"]) for r in history] == [(2, "up"), (1, "up")]
    wait_for(lambda: "No changes." in browser.text(), timeout=20, what="the page's new plan")
    # Ctrl-C with the page open (its event and log streams): it stops, and says so.
    assert server.interrupt() == 130


def test_a_plan_made_before_a_container_stopped_is_refused_409_and_the_page_says_stale(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    _stack(d, project_name, free_port())  # a recreate of web pending
    server = _start(served, d.path)
    _open(browser, server)
    before = server.view()
    assert before["plan"]["summary"]["recreate"] == 1
    web = _container_id(docker_client, project_name, "web")

    docker_client.containers.get(_container_id(docker_client, project_name, "side")).stop(timeout=1)
    answer = server.apply(before["plan"]["fingerprint"], before["plan_id"])
    assert answer.status == 409, answer
    assert "stale" in answer.body or "changed since" in answer.body
    assert _container_id(docker_client, project_name, "web") == web  # nothing applied
    side = docker_client.containers.get(_container_id(docker_client, project_name, "side"))
    assert side.status == "exited"

    # The page still holding the old plan: its Apply is refused, and it says so.
    browser.evaluate(
        "(() => { const b = document.getElementById('apply');"
        f" b.dataset.fingerprint = {json.dumps(before['plan']['fingerprint'])};"
        f" b.dataset.planId = {json.dumps(before['plan_id'])}; b.disabled = false; b.click(); }})()"
    )
    wait_for(
        lambda: "The plan is stale" in browser.text(), timeout=20, what="the page saying stale"
    )
    assert _container_id(docker_client, project_name, "web") == web
    # ... and shows the plan now: the stopped container is started again.
    wait_for(lambda: "to start" in browser.text(), timeout=20, what="the new plan")


def test_a_log_line_written_after_the_page_opened_appears(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    server = _start(served, d.path)
    _open(browser, server)
    browser.evaluate(
        "(() => { const s = document.getElementById('log-service'); s.value = 'side';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    wait_for(lambda: "side started" in browser.text(), timeout=20, what="the earlier log line")

    line = f"written-after-{secrets.token_hex(4)}"
    side = docker_client.containers.get(_container_id(docker_client, project_name, "side"))
    side.exec_run(["sh", "-c", f"echo {line} > /proc/1/fd/1"])
    wait_for(lambda: line in browser.text(), timeout=20, what="the new log line on the page")


# ------------------------------------------------------------------------------- the door


def test_requests_without_the_token_from_another_host_or_origin_or_without_csrf_apply_nothing(
    tmp_stack_dir: StackDir,
    project_name: str,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    _stack(d, project_name, free_port())
    server = _start(served, d.path)
    web = _container_id(docker_client, project_name, "web")
    plan = server.view()["plan"]

    assert server.request("GET", "/", auth="none").status == 401
    assert server.request("GET", "/api/plan", auth="none").status == 401
    assert server.request("GET", "/?token=wrong", auth="none").status == 401
    foreign_host = {"Host": f"rebound.example:{server.port}"}
    assert server.request("GET", "/api/plan", headers=foreign_host).status == 403
    assert server.request("GET", "/api/plan", headers=foreign_host, auth="bearer").status == 403

    fp = plan["fingerprint"]
    assert server.apply(fp, Origin="http://evil.example").status == 403
    assert server.apply(fp, Origin="").status == 403  # no Origin at all
    assert server.apply(fp, **{"X-CSRF-Token": ""}).status == 403  # cookie, Origin, no CSRF
    assert server.apply(fp, **{"X-CSRF-Token": "guessed"}).status == 403
    assert server.apply(fp, Host=f"rebound.example:{server.port}").status == 403
    streamed = server.stream("/api/events", "\r\n\r\n", headers={"Origin": "http://evil.example"})
    assert streamed.startswith("HTTP/1.1 403"), streamed
    streamed = server.stream("/api/logs?service=web", "\r\n\r\n", headers={"Origin": "null"})
    assert streamed.startswith("HTTP/1.1 403"), streamed

    assert _container_id(docker_client, project_name, "web") == web  # nothing applied
    assert stackup("diff", "--exit-code", cwd=d.path, check=False).returncode == 2

    # A cookie of an earlier `stackup ui` on the same port: 401, and what to do.
    old_cookie = server.cookie()
    assert server.interrupt() == 130
    assert "stopped: the page no longer answers" in server.stderr()
    again = _start(served, d.path, "--port", str(server.port))
    refused = again.request("GET", "/", headers={"Cookie": old_cookie}, auth="none")
    assert refused.status == 401 and "earlier" in refused.body
    assert again.request("GET", "/api/plan").status == 200  # its own token's cookie


def test_hostile_label_is_text_and_a_secret_canary_never_leaves(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
) -> None:
    d = tmp_stack_dir
    port = free_port()
    _stack(d, project_name, port, token="first-value-0000")
    stackup("up", cwd=d.path)
    _stack(d, project_name, port, token=CANARY, label=True)  # a change of both: in the plan
    server = _start(served, d.path)
    _open(browser, server)
    wait_for(lambda: HOSTILE_LABEL in browser.text(), timeout=20, what="the label in the plan")
    assert browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert browser.evaluate("window.__pwned === undefined")
    html = browser.evaluate("document.documentElement.outerHTML")
    assert CANARY not in html and CANARY not in browser.text()

    seen = [server.request("GET", "/").body]
    for path in ("/api/view", "/api/plan", "/api/services", "/api/lint", "/api/graph"):
        answer = server.request("GET", path)
        assert answer.status == 200, (path, answer)
        seen.append(answer.body)
    view = server.view()
    assert server.apply(view["plan"]["fingerprint"], view["plan_id"]).status == 202
    seen.append(server.stream("/api/events", "event: applied", timeout=120))
    seen.append(server.stream("/api/logs?service=web", "event: open", timeout=20))
    assert "event: applied" in seen[-2]
    for body in seen:
        assert CANARY not in body


def test_read_only_shows_no_apply_and_refuses_the_post(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    _stack(d, project_name, free_port())
    server = _start(served, d.path, "--read-only")
    _open(browser, server)
    wait_for(lambda: "recreate" in browser.text(), timeout=20, what="the plan")
    assert browser.evaluate("document.getElementById('apply').hidden") is True
    assert "Apply this plan" not in browser.text()
    web = _container_id(docker_client, project_name, "web")
    view = server.view()
    answer = server.apply(view["plan"]["fingerprint"], view["plan_id"])
    assert answer.status == 403 and "read-only" in answer.body
    assert _container_id(docker_client, project_name, "web") == web


def test_the_page_listens_only_on_loopback(
    tmp_stack_dir: StackDir, project_name: str, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    server = _start(served, d.path)
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) == server.port:
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing on another address


def test_another_address_needs_the_flag_and_is_warned_about(
    tmp_stack_dir: StackDir, project_name: str, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    server = _start(served, d.path, "--listen-address", "127.0.0.2")
    assert server.address == "127.0.0.2"
    assert "warning: listening on 127.0.0.2" in server.stderr()
    assert server.view()["project"] == project_name  # its Host header is allowed ...
    loopback = server.request("GET", "/api/plan", headers={"Host": f"127.0.0.1:{server.port}"})
    assert loopback.status == 200  # ... beside the loopback names
    assert server.request("GET", "/api/plan", headers={"Host": "127.0.0.2"}).status == 403


def test_another_up_holding_the_lock_is_named_and_nothing_applied(
    tmp_stack_dir: StackDir,
    project_name: str,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    from stackup.engine.docker.engine import DockerEngine
    from stackup.targets.engine.lock import project_lock

    d = tmp_stack_dir
    _stack(d, project_name, free_port())
    stackup("up", cwd=d.path)
    _stack(d, project_name, free_port())
    server = _start(served, d.path)
    web = _container_id(docker_client, project_name, "web")
    view = server.view()
    with project_lock(DockerEngine.from_env(), project_name):
        answer = server.apply(view["plan"]["fingerprint"], view["plan_id"])
    assert answer.status == 423, answer
    assert f"project {project_name} is locked" in answer.json()["error"]
    assert re.search(r"pid \d+", answer.json()["error"]), answer
    assert _container_id(docker_client, project_name, "web") == web


def test_two_projects_pages_at_once(
    tmp_path: Path,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    other = f"{project_name}-b"
    first, second = StackDir(tmp_path / "a"), StackDir(tmp_path / "b")
    try:
        for d, name in ((first, project_name), (second, other)):
            d.path.mkdir()
            _stack(d, name, free_port())
            stackup("up", cwd=d.path)
        one, two = _start(served, first.path), _start(served, second.path)
        _open(browser, one)
        wait_for(lambda: f"{project_name}-web-1" in browser.text(), timeout=20, what="page A")
        _open(browser, two)
        wait_for(lambda: f"{other}-web-1" in browser.text(), timeout=20, what="page B")
        # Back to A without its token: its cookie (named with its port) is still there.
        browser.call("Page.navigate", url=one.origin + "/")
        wait_for(
            lambda: (
                f"{project_name}-web-1" in browser.text() and f"{other}-web-1" not in browser.text()
            ),
            timeout=20,
            what="page A again, signed in by its own cookie",
        )
        assert one.view()["project"] == project_name and two.view()["project"] == other
        _stack(first, project_name, free_port())  # A changes; B does not
        time.sleep(0.5)
        view = one.view()
        assert one.apply(view["plan"]["fingerprint"], view["plan_id"]).status == 202
        wait_for(lambda: not one.view()["plan"]["changes"], timeout=120, what="A applied")
        assert not two.view()["plan"]["changes"]
        assert two.request("GET", "/api/plan").json()["project"] == other
    finally:
        remove_project_resources(docker_client, other)


def test_apply_of_a_plan_that_deletes_data_asks_first(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    stack = f"""
        name: {project_name}
        services:
          store:
            image: busybox
            command: ["sleep", "86400"]
            init: true
            volumes: ["data:/data"]
        volumes:
          data:
            labels:
              generation: "GEN"
        """
    d.stack(stack.replace("GEN", "1"))
    stackup("up", cwd=d.path)
    store = _container_id(docker_client, project_name, "store")
    d.stack(stack.replace("GEN", "2"))
    server = _start(served, d.path)
    _open(browser, server)
    wait_for(lambda: "!! destroys data" in browser.text(), timeout=20, what="the volume's loss")

    view = server.view()
    refused = server.apply(view["plan"]["fingerprint"], view["plan_id"])
    assert refused.status == 428 and f"{project_name}_data" in refused.json()["error"]
    browser.settled_click("#apply")
    wait_for(
        lambda: f"the plan deletes the data in {project_name}_data" in browser.text(),
        timeout=20,
        what="the page asking",
    )
    assert _container_id(docker_client, project_name, "store") == store  # asked, not applied
    browser.settled_click("#confirm-yes")
    wait_for(lambda: "Applied:" in browser.text(), timeout=120, what="the confirmed apply")
    assert _container_id(docker_client, project_name, "store") != store
    assert stackup("diff", "--exit-code", cwd=d.path, check=False).returncode == 0


# ------------------------------------------------------------------ releases: history, rollback

# A page whose content is in the stack file itself: on an engine on this machine a rollback
# restores the stack, never the user's working files (docs/remote.md).
RELEASED = """
name: {project}
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo \\"$$PAGE\\" > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_signal: SIGKILL
    environment:
      PAGE: "{page}"
    ports: ["127.0.0.1:{port}:80"]
"""


def _released(d: StackDir, project: str, port: int, page: str) -> None:
    (d.path / "stack.yaml").write_text(RELEASED.format(project=project, page=page, port=port))


def _served(port: int) -> str:
    return http_get(f"http://127.0.0.1:{port}/", retry_for=30).body.strip()


def _history(d: StackDir) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(
        stackup("history", "--format", "json", cwd=d.path).stdout
    )
    return listed


def _history_rows(browser: Browser) -> list[list[str]]:
    rows: list[list[str]] = browser.evaluate(
        "[...document.querySelectorAll('#history tbody tr')]"
        ".map(tr => [...tr.children].slice(0, 5).map(td => td.textContent))"
    )
    return rows


def _apply_from_the_page(browser: Browser, release: int) -> None:
    browser.settled_click("#apply")
    wait_for(
        lambda: f"Recorded release {release}." in browser.text(),
        timeout=120,
        what=f"the apply to record release {release}",
    )


def test_an_apply_from_the_page_records_a_release_shown_in_the_history_view(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    port = free_port()
    _released(d, project_name, port, "first")
    server = _start(served, d.path)
    _open(browser, server)
    wait_for(lambda: "No releases yet" in browser.text(), timeout=20, what="the empty history")

    _apply_from_the_page(browser, 1)
    assert _served(port) == "first"
    (listed,) = _history(d)
    assert (listed["release"], listed["kind"], listed["of"]) == (1, "up", None)
    assert server.request("GET", "/api/history").json() == _history(d)
    wait_for(lambda: _history_rows(browser), timeout=20, what="the history view's row")
    (row,) = _history_rows(browser)
    assert row[0] == "1" and row[3] == "up" and row[2] == listed["by"]
    assert row[1] == str(listed["time"]).replace("T", " ").replace("Z", " UTC")


def test_rollback_from_the_page_shows_the_dry_run_then_serves_the_previous_page(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    port = free_port()
    _released(d, project_name, port, "first")
    server = _start(served, d.path)
    _open(browser, server)
    wait_for(lambda: "to create" in browser.text(), timeout=20, what="the first plan")
    _apply_from_the_page(browser, 1)
    _released(d, project_name, port, "second")
    wait_for(lambda: "recreate" in browser.text(), timeout=20, what="the changed plan")
    _apply_from_the_page(browser, 2)
    assert _served(port) == "second"

    browser.settled_click('#history tr[data-release="1"] button')
    wait_for(
        lambda: (
            "never the data in named volumes"
            in browser.evaluate("document.getElementById('rollback-plan').textContent")
        ),
        timeout=30,
        what="the rollback's plan",
    )
    shown = browser.evaluate("document.getElementById('rollback-plan').textContent")
    # Exactly what the CLI's dry run states: symbols, reasons, the named-volume note.
    assert shown == stackup("rollback", "1", "--dry-run", cwd=d.path).stdout
    assert "-/+" in shown and "PAGE" in shown

    browser.settled_click("#rollback-apply")
    wait_for(
        lambda: "Recorded release 3." in browser.text(), timeout=120, what="the rollback applied"
    )
    assert _served(port) == "first"
    newest = _history(d)[0]
    assert (newest["release"], newest["kind"], newest["of"]) == (3, "rollback", 1)
    wait_for(
        lambda: [r[3] for r in _history_rows(browser)] == ["rollback to 1", "up", "up"],
        timeout=20,
        what="the history view showing the rollback",
    )


def _two_releases(d: StackDir, project: str, port: int) -> None:
    for page in ("first", "second"):
        _released(d, project, port, page)
        assert "recorded release" in stackup("up", "--yes", cwd=d.path).stdout


def test_a_stale_rollback_plan_is_refused_409_and_a_held_lock_423_applying_nothing(
    tmp_stack_dir: StackDir,
    project_name: str,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    from stackup.engine.docker.engine import DockerEngine
    from stackup.targets.engine.lock import project_lock

    d = tmp_stack_dir
    port = free_port()
    _two_releases(d, project_name, port)
    server = _start(served, d.path)
    shown = server.rollback_plan(1)
    assert shown.status == 200, shown
    plan_id, fingerprint = shown.json()["plan_id"], shown.json()["plan"]["fingerprint"]
    web = _container_id(docker_client, project_name, "web")

    with project_lock(DockerEngine.from_env(), project_name):
        locked = server.rollback(1, plan_id, fingerprint)
    assert locked.status == 423 and f"project {project_name} is locked" in locked.json()["error"]
    assert server.rollback(1, plan_id, "not-" + fingerprint).status == 409
    assert server.rollback(2, plan_id, fingerprint).status == 409  # not that release's plan

    docker_client.containers.get(web).stop(timeout=1)  # the engine changes behind the page
    stale = server.rollback(1, plan_id, fingerprint)
    assert stale.status == 409, stale
    assert "changed since" in stale.json()["error"] and stale.json()["stale"] is True
    assert _container_id(docker_client, project_name, "web") == web  # nothing applied
    assert docker_client.containers.get(web).status == "exited"
    assert [r["release"] for r in _history(d)] == [2, 1]


def test_read_only_shows_no_rollback_and_refuses_it(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    port = free_port()
    _two_releases(d, project_name, port)
    planned = _start(served, d.path).rollback_plan(1).json()
    server = _start(served, d.path, "--read-only")
    _open(browser, server)
    wait_for(lambda: len(_history_rows(browser)) == 2, timeout=20, what="the history view")
    assert browser.evaluate("document.querySelectorAll('#history button').length") == 0
    assert "Roll back" not in browser.text()
    assert server.rollback_plan(1).status == 403
    web = _container_id(docker_client, project_name, "web")
    refused = server.rollback(1, planned["plan_id"], planned["plan"]["fingerprint"])
    assert refused.status == 403 and "read-only" in refused.body
    assert _container_id(docker_client, project_name, "web") == web
    assert _served(port) == "second" and len(_history(d)) == 2


def test_a_rollback_post_from_another_origin_or_without_csrf_is_refused(
    tmp_stack_dir: StackDir,
    project_name: str,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    port = free_port()
    _two_releases(d, project_name, port)
    server = _start(served, d.path)
    planned = server.rollback_plan(1).json()
    plan_id, fingerprint = planned["plan_id"], planned["plan"]["fingerprint"]
    web = _container_id(docker_client, project_name, "web")

    assert server.rollback(1, plan_id, fingerprint, Origin="http://evil.example").status == 403
    assert server.rollback(1, plan_id, fingerprint, Origin="").status == 403
    assert server.rollback(1, plan_id, fingerprint, **{"X-CSRF-Token": ""}).status == 403
    assert server.rollback(1, plan_id, fingerprint, **{"X-CSRF-Token": "guessed"}).status == 403
    no_cookie = server.request(
        "POST",
        "/api/rollback",
        auth="none",
        headers={"Origin": server.origin, "X-CSRF-Token": server.csrf()},
        body={"release": 1, "plan_id": plan_id, "fingerprint": fingerprint},
    )
    assert no_cookie.status == 401
    assert _container_id(docker_client, project_name, "web") == web  # nothing applied
    assert _served(port) == "second" and len(_history(d)) == 2
    # The same POST from the page's own origin with its CSRF token is taken.
    assert server.rollback(1, plan_id, fingerprint).status == 202
    wait_for(lambda: _served(port) == "first" or None, timeout=60, what="the rollback")


def test_a_rollback_that_deletes_data_asks_first(
    tmp_stack_dir: StackDir,
    project_name: str,
    browser: Browser,
    served: list[UiServer],
    docker_client: docker.DockerClient,
) -> None:
    d = tmp_stack_dir
    stack = f"""
        name: {project_name}
        services:
          store:
            image: busybox
            command: ["sleep", "86400"]
            init: true
            volumes: ["data:/data"]
        volumes:
          data:
            labels:
              generation: "GEN"
        """
    for generation in ("1", "2"):  # the second recreates the volume: release 1 had another
        d.stack(stack.replace("GEN", generation))
        stackup("up", "--yes", cwd=d.path)
    store = _container_id(docker_client, project_name, "store")
    server = _start(served, d.path)
    planned = server.rollback_plan(1).json()
    assert planned["data_loss"] == [f"{project_name}_data"]
    refused = server.rollback(1, planned["plan_id"], planned["plan"]["fingerprint"])
    assert refused.status == 428 and f"{project_name}_data" in refused.json()["error"]

    _open(browser, server)
    browser.settled_click('#history tr[data-release="1"] button')
    wait_for(lambda: "!! destroys data" in browser.text(), timeout=30, what="the volume's loss")
    browser.settled_click("#rollback-apply")
    wait_for(
        lambda: f"the plan deletes the data in {project_name}_data" in browser.text(),
        timeout=20,
        what="the page asking",
    )
    assert _container_id(docker_client, project_name, "store") == store  # asked, not applied
    browser.settled_click("#rollback-confirm-yes")
    wait_for(lambda: "Recorded release 3." in browser.text(), timeout=120, what="the rollback")
    volume = docker_client.volumes.get(f"{project_name}_data")
    assert volume.attrs["Labels"]["generation"] == "1"
    assert _history(d)[0]["kind"] == "rollback"


def test_a_rollback_plan_shows_a_hostile_label_as_text_and_no_secret(
    tmp_stack_dir: StackDir, project_name: str, browser: Browser, served: list[UiServer]
) -> None:
    d = tmp_stack_dir
    port = free_port()
    for label in (True, False):  # release 1 has the label; a rollback to it adds it again
        _stack(d, project_name, port, token=CANARY, label=label)
        stackup("up", "--yes", cwd=d.path)
    server = _start(served, d.path)
    _open(browser, server)
    browser.settled_click('#history tr[data-release="1"] button')
    wait_for(lambda: HOSTILE_LABEL in browser.text(), timeout=30, what="the label in the plan")
    assert browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert browser.evaluate("window.__pwned === undefined")
    assert CANARY not in browser.evaluate("document.documentElement.outerHTML")
    for path in ("/api/rollback?release=1", "/api/history"):
        answer = server.request("GET", path)
        assert answer.status == 200 and CANARY not in answer.body, (path, answer)
