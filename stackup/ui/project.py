"""What the page shows and does, over the use cases: the stack loaded anew at each look, the
plan (`Target.plan`, rendered by `diff`'s renderers), the services (`ps`), the graph, lint,
logs, Apply (`usecases.up` with the plan the page showed as its saved plan: refused, as
`up --plan` refuses, when the engine or the files changed since), the releases (`history`)
and Rollback (`usecases.rollback.rollback`: its dry run shown, then exactly that plan applied,
the same way). No HTTP here: `app.py` parses requests and renders these values; this module
never prints."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import JsonValue

from stackup import usecases
from stackup.errors import LockError, PlanError, StackFileError, StackupError, StalePlanError
from stackup.lint.linter import Severity, lint_report
from stackup.lint.linter import render_json as lint_json
from stackup.loading.loader import LoadedStack, LoadOptions, load
from stackup.model.sensitive import redact_text
from stackup.planning import graph as resource_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.render import plan_json, render_text
from stackup.usecases import Applied, Event, TargetChoice
from stackup.usecases import rollback as rollbacks

T = TypeVar("T")

# Plans the page showed, by their id, that an Apply may name: enough for a few open tabs.
REMEMBERED_PLANS = 32
# How often the page's plan is made again while a page listens, besides at once when a file
# under the project directory changes or the engine reports an event of the project: often
# for an engine that reports none, seldom (a safety net) for one that does.
POLL_SECONDS = 2.0
POLL_SECONDS_WITH_EVENTS = 15.0
LOG_TAIL = 200


@dataclass(frozen=True)
class UiConfig:
    load_options: LoadOptions
    target: TargetChoice
    project_directory: Path  # watched: a file saved under it makes the plan again
    project: str  # as loaded at start (the engine's events are followed for it)
    read_only: bool = False
    # Why Apply is not offered besides --read-only (a target without `up --plan`), in its words.
    apply_refusal: str = ""
    poll_seconds: float = POLL_SECONDS


@dataclass(frozen=True)
class ApplyAnswer:
    """The first answer to a POST /api/apply or /api/rollback: refused (status 4xx), nothing
    to do (200), or started (202: its progress and outcome follow on the stream); and to a
    GET /api/rollback: the rollback's plan (200) or why there is none."""

    status: int
    message: str
    data: dict[str, JsonValue] = field(default_factory=dict)


class Hub:
    """Server-sent events to every open stream of the page, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = []

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        with self._lock:
            self._queues.append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with self._lock:
            self._queues = [(loop, q) for loop, q in self._queues if q is not queue]

    @property
    def listened(self) -> bool:
        with self._lock:
            return bool(self._queues)

    def publish(self, event: str, data: JsonValue) -> None:
        message = sse(event, data)
        with self._lock:
            queues = list(self._queues)
        for loop, queue in queues:
            with contextlib.suppress(RuntimeError):  # its loop closed: the server stopped
                loop.call_soon_threadsafe(_offer, queue, message)


def _offer(queue: asyncio.Queue[str], message: str) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stream that stopped reading drops
        queue.put_nowait(message)


def sse(event: str, data: JsonValue) -> str:
    """One server-sent event; the JSON is on one line, so no data line can end it early."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class ProjectView:
    """One project, as the page sees it: read anew at each look, applied through `up`."""

    def __init__(self, config: UiConfig, hub: Hub) -> None:
        self.config = config
        self.hub = hub
        self.target = usecases.as_target(config.target)  # connected once, at start
        self.options = ReconcileOptions()  # what `diff` and `up` without flags plan
        self._plans: OrderedDict[str, dict[str, JsonValue]] = OrderedDict()
        # Rollback plans the page showed, by their id: (the release, the plan's JSON).
        self._rollbacks: OrderedDict[str, tuple[int, dict[str, JsonValue]]] = OrderedDict()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._project = config.project
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._events = False  # the engine's events of the project are being followed
        self._following = threading.Event()  # set: end this follow (stopping, or renamed)
        self.version = 0

    # ------------------------------------------------------------------ what the page reads

    def load(self) -> LoadedStack:
        loaded = load(self.config.load_options)
        with self._lock:
            self._secrets.update(loaded.stack.secret_values)
            if loaded.stack.name != self._project:
                self._project = loaded.stack.name
                self._following.set()  # follow the engine's events of the new name
        return loaded

    @property
    def project(self) -> str:
        return self._project

    @property
    def read_only(self) -> bool:
        return self.config.read_only or bool(self.config.apply_refusal)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = tuple(self._secrets)
        return redact_text(text, secrets)

    def error_text(self, exc: StackupError) -> str:
        with self._lock:
            exc.conceal(self._secrets)
        return "\n".join(exc.reports())

    def plan(self) -> tuple[Plan, dict[str, JsonValue], str]:
        """The plan now (as `diff` makes it), its JSON (`diff --format json`) and its id (a
        digest of that JSON), remembered for an Apply that names it."""
        plan = self.target.plan(self.load(), self.options)
        shown = plan_json(plan)
        plan_id = _remember(self._plans, self._lock, shown, shown)
        return plan, shown, plan_id

    def view(self) -> dict[str, JsonValue]:
        """Everything the page shows at once, from one plan: the plan's JSON and its text as
        `diff` prints it, and the services; or the error that stops planning."""
        base: dict[str, JsonValue] = {
            "read_only": self.read_only,
            "apply_refusal": self.config.apply_refusal,
            "version": self.version,
        }
        try:
            plan, shown, plan_id = self.plan()
        except StackupError as exc:
            return {**base, "project": self.project, "error": self.error_text(exc)}
        return {
            **base,
            "project": self.project,
            "plan": shown,
            "plan_id": plan_id,
            "text": render_text(plan),
            "services": self.services(),
            "data_loss": [op.name for op in plan.destroys_data],
        }

    def services(self) -> list[JsonValue]:
        listing = usecases.ps(self.target, self.project, (), True)
        rows: list[JsonValue] = []
        for row in listing.rows:
            ports = row.get("ports")
            shown = [str(p) for p in ports] if isinstance(ports, list) else []
            rows.append(
                {
                    **{k: _plain(v) for k, v in row.items()},
                    "links": [_link(p) for p in shown],  # beside each port: its link or ""
                }
            )
        return rows

    def graph(self) -> tuple[bytes | None, str]:
        """The dependency graph: Graphviz's SVG when `dot` is installed, and the start waves."""
        loaded = self.load()
        g = resource_graph.build_graph(loaded.stack, loaded.source)
        waves = resource_graph.waves_text(g)
        dot = shutil.which("dot")
        if dot is None:
            return None, waves
        drawn = subprocess.run(
            [dot, "-Tsvg"],
            input=resource_graph.to_dot(g, loaded.stack.name).encode(errors="backslashreplace"),
            capture_output=True,
            check=False,
            timeout=30,
        )
        return (drawn.stdout if drawn.returncode == 0 else None), waves

    def lint(self) -> str:
        """`lint --format json` at the low threshold: every finding, with its severity."""
        return lint_json(lint_report(self.load()), Severity.LOW)

    def logs(self, service: str) -> usecases.Logs:
        loaded = self.load()
        if service not in loaded.stack.services:
            raise PlanError(f'no such service: "{service}"')
        return usecases.logs(
            self.target, self.project, (service,), follow=True, tail=LOG_TAIL, timestamps=False
        )

    # ------------------------------------------------------------------------------- apply

    def apply(self, plan_id: str, fingerprint: str, confirmed: bool) -> ApplyAnswer:
        """Apply exactly the plan `plan_id` the page showed (or, named by `fingerprint` alone,
        the last one shown with it), through `up` under the project's lock, without waiting for
        it. Returns once the apply is refused, found empty, or started."""
        if self.read_only:
            return ApplyAnswer(403, self.config.apply_refusal or "this page is read-only")
        with self._lock:
            saved = self._plans.get(plan_id) if plan_id else None
            if saved is None and not plan_id:
                saved = next(
                    (p for p in reversed(self._plans.values()) if p["fingerprint"] == fingerprint),
                    None,
                )
        if saved is None or saved.get("fingerprint") != fingerprint:
            return ApplyAnswer(
                409, "this plan is stale: it is not the page's plan now; nothing was applied"
            )
        request = usecases.UpRequest(
            options=self.options, saved_plan=saved, saved_plan_file="this page", wait_lock=False
        )
        return self._carry_out(
            saved, confirmed, lambda ui: usecases.up(self.load(), self.target, request, ui)
        )

    def _carry_out(
        self, saved: dict[str, JsonValue], confirmed: bool, run: Callable[[_PageUI], Applied]
    ) -> ApplyAnswer:
        """Apply or roll back to the plan `saved` (`run`: the use case, given the page's side
        of it) in a thread; the first answer once it is refused, found empty, or started."""
        operations = saved.get("operations")
        losing = [
            str(op.get("name"))
            for op in (operations if isinstance(operations, list) else [])
            if isinstance(op, dict) and op.get("destroys_data")
        ]
        if losing and not confirmed:
            return ApplyAnswer(
                428,
                f"the plan deletes the data in {', '.join(losing)}: confirm to apply it",
                {"data_loss": list(losing)},
            )
        first: list[ApplyAnswer] = []
        answered = threading.Event()

        def answer_once(given: ApplyAnswer) -> None:
            if not answered.is_set():
                first.append(given)
                answered.set()

        ui = _PageUI(self, confirmed, answer_once)
        thread = threading.Thread(
            target=self._run, args=(run, ui, answer_once), daemon=True, name="ui-apply"
        )
        thread.start()
        answered.wait()
        return first[0]

    def _run(
        self,
        run: Callable[[_PageUI], Applied],
        ui: _PageUI,
        answer: Callable[[ApplyAnswer], None],
    ) -> None:
        try:
            result = run(ui)
        except LockError as exc:
            answer(ApplyAnswer(423, self.error_text(exc)))
            return
        except StalePlanError as exc:
            # The plan made now under the lock is not the one shown (check_saved_plan).
            answer(ApplyAnswer(409, self.error_text(exc), {"stale": True}))
            self.wake()
            return
        except StackupError as exc:
            answer(ApplyAnswer(400 if not ui.started else 500, self.error_text(exc)))
            if ui.started:
                self.hub.publish("applied", {"ok": False, "error": self.error_text(exc)})
            self.wake()
            return
        except Exception as exc:  # the engine gone, a bug: said (never its text), not hung
            said = f"internal error: {type(exc).__name__}"
            answer(ApplyAnswer(500, said))
            if ui.started:
                self.hub.publish("applied", {"ok": False, "error": said})
            self.wake()
            return
        outcome = result.outcome
        if not ui.started:
            answer(ApplyAnswer(200, "no changes: nothing to apply", {"ok": True}))
            return
        self.hub.publish(
            "applied",
            {
                "ok": outcome.ok,
                "done": len(outcome.done),
                "failed": {k: self.redact(v) for k, v in sorted(outcome.failed.items())},
                "skipped": {k: self.redact(v) for k, v in sorted(outcome.skipped.items())},
                "release": result.release,  # the release it recorded, if any
            },
        )
        self.wake()

    # --------------------------------------------------------------------------- releases

    def history(self) -> list[JsonValue]:
        """The project's releases, newest first: the rows of `stackup history --format json`."""
        return [
            {k: _plain(v) for k, v in r.as_json().items()}
            for r in rollbacks.history(self.project, self.target)
        ]

    def rollback_plan(self, release: int) -> ApplyAnswer:
        """The plan of a rollback to `release` as `stackup rollback RELEASE --dry-run` shows it
        (the use case's dry run, under the project's lock, not waited for), and its id, which
        a Rollback names."""
        if self.read_only:
            return ApplyAnswer(403, self.config.apply_refusal or "this page is read-only")
        preview = _Preview()
        request = rollbacks.RollbackRequest(release=release, dry_run=True, wait_lock=False)
        try:
            rollbacks.rollback(self.project, self._loaded_if_any(), self.target, request, preview)
        except LockError as exc:
            return ApplyAnswer(423, self.error_text(exc))
        except PlanError as exc:
            if preview.plan is None:  # no such release, a secret or an image gone: no plan
                return ApplyAnswer(400, self.error_text(exc))
            # Else its blockers stop it: the plan's text names them, as the CLI's does.
        except StackupError as exc:
            return ApplyAnswer(400, self.error_text(exc))
        plan = preview.plan
        if plan is None:  # a dry run always shows its plan; said rather than assumed
            return ApplyAnswer(500, "internal error: the rollback showed no plan")
        shown = plan_json(plan)
        plan_id = _remember(self._rollbacks, self._lock, [release, shown], (release, shown))
        return ApplyAnswer(
            200,
            f"the plan of a rollback to release {release}",
            {
                "release": release,
                "plan": shown,
                "plan_id": plan_id,
                "text": render_text(plan),
                "data_loss": [op.name for op in plan.destroys_data],
            },
        )

    def rollback(
        self, release: int, plan_id: str, fingerprint: str, confirmed: bool
    ) -> ApplyAnswer:
        """Roll back to `release` with exactly the plan `plan_id` the page showed for it: under
        the project's lock (not waited for), refused as stale when planning now gives another
        plan; asked first when it deletes data; recorded as a release of kind rollback."""
        if self.read_only:
            return ApplyAnswer(403, self.config.apply_refusal or "this page is read-only")
        with self._lock:
            found = self._rollbacks.get(plan_id)
        if found is None or found[0] != release or found[1].get("fingerprint") != fingerprint:
            return ApplyAnswer(
                409,
                f"this rollback plan is stale: it is not a plan of a rollback to release "
                f"{release} this page showed; nothing was applied",
                {"stale": True},
            )
        saved = found[1]
        request = rollbacks.RollbackRequest(
            release=release, wait_lock=False, saved_plan=saved, saved_plan_file="this page"
        )
        return self._carry_out(
            saved,
            confirmed,
            lambda ui: rollbacks.rollback(
                self.project, self._loaded_if_any(), self.target, request, ui
            ),
        )

    def _loaded_if_any(self) -> LoadedStack | None:
        """The stack file now, whose secret values a rollback takes back; a rollback needs no
        stack file that loads (it is how a broken one is left behind)."""
        try:
            return self.load()
        except StackFileError:
            return None

    # ------------------------------------------------------------------------ refreshing

    def start(self) -> None:
        """Make the plan again at once when a file under the project directory changes, and
        every `poll_seconds` while a page listens; tell the pages when what they show changed."""
        for name, run in (
            ("ui-files", self._watch_files),
            ("ui-events", self._follow_engine),
            ("ui-refresh", self._refresh),
        ):
            thread = threading.Thread(target=run, daemon=True, name=name)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            self._following.set()

    def wake(self) -> None:
        self._wake.set()

    def _watch_files(self) -> None:
        import watchfiles

        for _ in watchfiles.watch(
            self.config.project_directory, stop_event=self._stop, step=50, debounce=400
        ):
            self._wake.set()

    def _follow_engine(self) -> None:
        while not self._stop.is_set():
            self._events = True
            with self._lock:
                if self._stop.is_set():  # stop() set the follow before this one: no new one
                    return
                self._following = threading.Event()
                project, until = self._project, self._following
            try:
                followed = usecases.follow_changes(self.target, project, self._wake.set, until)
            except StackupError:
                followed = True  # the engine unreachable for now: follow it again soon
            if not followed:
                self._events = False
                return
            # The stream ended (the engine restarted, the connection broke): polled meanwhile.
            self._events = False
            self._wake.set()
            if not until.is_set():  # not renamed: the stream broke; follow it again soon
                self._stop.wait(2.0)

    def _refresh(self) -> None:
        shown = ""
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS_WITH_EVENTS if self._events else self.config.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self.hub.listened:
                shown = ""  # a page that connects later fetches the view itself
                continue
            now = self._state_digest()
            if shown and now != shown:
                self.version += 1
                self.hub.publish("changed", {"version": self.version})
            shown = now

    def _state_digest(self) -> str:
        try:
            _, plan, _ = self.plan()
            services = self.services()
            state: JsonValue = {"plan": plan, "services": services, "history": self._releases()}
        except StackupError as exc:
            state = {"error": self.error_text(exc)}
        except Exception as exc:  # an engine gone for a moment: shown at the next look
            state = {"error": type(exc).__name__}
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def _releases(self) -> list[JsonValue]:
        try:
            return self.history()
        except StackupError:  # a target that keeps none (a swarm): nothing to follow
            return []


class _PageUI:
    """`up`'s side as the page plays it: confirmations were given with the POST; progress
    goes to the stream."""

    def __init__(
        self, view: ProjectView, confirmed: bool, answer: Callable[[ApplyAnswer], None]
    ) -> None:
        self.view, self.confirmed, self.answer = view, confirmed, answer
        self.started = False

    def lock_wait(self, message: str) -> None:
        return None  # never waits (wait_lock=False): the holder is named in the LockError

    def planned(self, plan: Plan) -> None:
        return None  # the page showed it before the POST (and it held: check_saved_plan)

    def confirm_data_loss(self, plan: Plan) -> bool:
        return self.confirmed

    def confirm_adoption(self, plan: Plan) -> bool:
        return False  # the page never plans adoptions (`up --adopt` only)

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        self.started = True
        hub, redact = self.view.hub, self.view.redact
        hub.publish("applying", {"operations": len(plan.operations)})
        self.answer(ApplyAnswer(202, "applying", {"operations": len(plan.operations)}))

        def on_event(event: Event) -> None:
            hub.publish(
                "progress",
                {
                    "op": event.op_id,
                    "name": event.name,
                    "status": event.status,
                    "message": redact(event.message),
                },
            )

        yield on_event


class _Preview:
    """A dry run's side as the page plays it: the plan kept to be shown; nothing asked."""

    def __init__(self) -> None:
        self.plan: Plan | None = None

    def lock_wait(self, message: str) -> None:
        return None

    def planned(self, plan: Plan) -> None:
        self.plan = plan

    def confirm_data_loss(self, plan: Plan) -> bool:
        return False

    def confirm_adoption(self, plan: Plan) -> bool:
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        raise AssertionError("a dry run applies nothing")
        yield lambda event: None


def _remember(
    plans: OrderedDict[str, T], lock: threading.Lock, identity: JsonValue, value: T
) -> str:
    """Keep `value` under its id (a digest of `identity`), the newest REMEMBERED_PLANS."""
    plan_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    with lock:
        plans[plan_id] = value
        plans.move_to_end(plan_id)
        while len(plans) > REMEMBERED_PLANS:
            plans.popitem(last=False)
    return plan_id


def _plain(value: object) -> JsonValue:
    if isinstance(value, list):
        return [str(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _link(port: str) -> str:
    """The page's link to a port published on this machine (`127.0.0.1:8080->80/tcp`)."""
    published, arrow, _ = port.partition("->")
    host, _, number = published.rpartition(":")
    if not arrow or not number.isdigit() or host not in ("127.0.0.1", "0.0.0.0", "", "::", "[::]"):
        return ""
    return f"http://127.0.0.1:{int(number)}/"
