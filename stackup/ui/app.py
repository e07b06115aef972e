"""The page's HTTP side (Starlette, served by uvicorn): each route parses the request, calls
the project view (the use cases) in a worker thread, and renders JSON or server-sent events.
docs/ui.md documents the endpoints. No route takes a file path: the static files are a fixed
table, and the page edits no file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from pydantic import JsonValue
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from stackup.errors import StackupError
from stackup.ui.project import ApplyAnswer, Hub, ProjectView, sse
from stackup.ui.security import Guard, Keys

STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
KEEP_ALIVE_SECONDS = 15.0


def _static(name: str) -> str:
    return (resources.files("stackup.ui") / "static" / name).read_text(encoding="utf-8")


def build_app(view: ProjectView, keys: Keys) -> Starlette:
    async def call(fn: Callable[[], Any]) -> Any:
        return await run_in_threadpool(fn)

    async def answer(fn: Callable[[], JsonValue]) -> Response:
        try:
            return JSONResponse(await call(fn))
        except StackupError as exc:
            return JSONResponse({"error": view.error_text(exc)}, status_code=400)
        except Exception as exc:  # the engine unreachable, a bug: said, never its traceback
            return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, 500)

    async def page(request: Request) -> Response:
        # The two values the script needs ride in attributes of the markup, never in a script.
        html = (
            _static("index.html")
            .replace("{{csrf}}", keys.csrf)
            .replace("{{read_only}}", "true" if view.read_only else "false")
        )
        return Response(html, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found\n", 404, media_type="text/plain")
        return Response(_static(name), media_type=STATIC[name])

    async def view_json(request: Request) -> Response:
        return await answer(view.view)

    async def services(request: Request) -> Response:
        def listed() -> JsonValue:
            view.load()
            return view.services()

        return await answer(listed)

    async def plan(request: Request) -> Response:
        return await answer(lambda: view.plan()[1])

    async def lint(request: Request) -> Response:
        try:
            text = await call(view.lint)
        except StackupError as exc:
            return JSONResponse({"error": view.error_text(exc)}, status_code=400)
        return Response(text, media_type="application/json")

    async def graph(request: Request) -> Response:
        def drawn() -> JsonValue:
            svg, waves = view.graph()
            return {"svg": svg is not None, "waves": waves}

        return await answer(drawn)

    async def graph_svg(request: Request) -> Response:
        try:
            svg, _ = await call(view.graph)
        except StackupError as exc:
            return JSONResponse({"error": view.error_text(exc)}, status_code=400)
        if svg is None:
            return Response("Graphviz's dot is not installed\n", 404, media_type="text/plain")
        # Shown through <img>: an SVG there runs no script, whatever the names in it.
        return Response(svg, media_type="image/svg+xml")

    async def apply(request: Request) -> Response:
        body = await _json_body(request)
        if body is None or not isinstance(body.get("fingerprint"), str):
            return JSONResponse({"error": 'expected JSON {"fingerprint": "..."}'}, 400)
        plan_id = body.get("plan_id")
        given = await call(
            lambda: view.apply(
                plan_id if isinstance(plan_id, str) else "",
                body["fingerprint"],
                body.get("confirm_data_loss") is True,
            )
        )
        return _answered(given)

    async def history(request: Request) -> Response:
        return await answer(view.history)

    async def rollback_plan(request: Request) -> Response:
        release = request.query_params.get("release", "")
        if not release.isdigit():
            return JSONResponse({"error": "expected ?release=N (a release number)"}, 400)
        return _answered(await call(lambda: view.rollback_plan(int(release))))

    async def rollback(request: Request) -> Response:
        body = await _json_body(request)
        if (
            body is None
            or type(body.get("release")) is not int
            or not isinstance(body.get("plan_id"), str)
            or not isinstance(body.get("fingerprint"), str)
        ):
            return JSONResponse(
                {"error": 'expected JSON {"release": N, "plan_id": "...", "fingerprint": "..."}'},
                400,
            )
        given = await call(
            lambda: view.rollback(
                body["release"],
                body["plan_id"],
                body["fingerprint"],
                body.get("confirm_data_loss") is True,
            )
        )
        return _answered(given)

    async def events(request: Request) -> Response:
        queue = view.hub.subscribe()
        view.wake()

        async def stream() -> AsyncIterator[str]:
            try:
                yield sse("hello", {"version": view.version})
                async for message in _messages(queue):
                    yield message
            finally:
                view.hub.unsubscribe(queue)

        return _event_stream(stream())

    async def logs(request: Request) -> Response:
        service = request.query_params.get("service", "")
        try:
            found = await call(lambda: view.logs(service))
        except StackupError as exc:
            return JSONResponse({"error": view.error_text(exc)}, status_code=400)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        closed = threading.Event()

        def offer(message: str) -> None:
            with contextlib.suppress(RuntimeError):  # the server's loop closed
                loop.call_soon_threadsafe(_offer, queue, message)

        def pump(name: str, lines: Callable[[], Any]) -> None:
            # A follow of the engine's log stream blocks between lines: it notices a closed
            # page at the next line (or when the container stops).
            with contextlib.suppress(Exception):
                for line in lines():
                    if closed.is_set():
                        return
                    text = view.redact(bytes(line).decode(errors="replace").rstrip("\n"))
                    offer(sse("line", {"stream": name, "text": text}))
            offer(sse("end", {"stream": name}))

        for s in found.streams:
            threading.Thread(target=pump, args=(s.name, s.lines), daemon=True).start()

        async def stream() -> AsyncIterator[str]:
            try:
                yield sse("open", {"streams": [s.name for s in found.streams]})
                async for message in _messages(queue):
                    yield message
            finally:
                closed.set()

        return _event_stream(stream())

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/view", view_json),
        Route("/api/services", services),
        Route("/api/plan", plan),
        Route("/api/lint", lint),
        Route("/api/graph", graph),
        Route("/api/graph.svg", graph_svg),
        Route("/api/apply", apply, methods=["POST"]),
        Route("/api/history", history),
        Route("/api/rollback", rollback_plan),
        Route("/api/rollback", rollback, methods=["POST"]),
        Route("/api/events", events),
        Route("/api/logs", logs),
    ]
    return Starlette(routes=routes)


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _answered(given: ApplyAnswer) -> Response:
    return JSONResponse(
        {"message": given.message, **given.data}
        if given.status < 400
        else {"error": given.message, **given.data},
        status_code=given.status,
    )


async def _messages(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
    while True:
        try:
            yield await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
        except TimeoutError:
            yield ": keep-alive\n\n"  # a comment line: finds a closed connection


def _offer(queue: asyncio.Queue[str], message: str) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(message)


def _event_stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"x-accel-buffering": "no"}
    )


def listen(address: str, port: int) -> socket.socket:
    """The listening socket, bound before the URL is printed (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    return sock


def serve(view: ProjectView, keys: Keys, sock: socket.socket, hosts: tuple[str, ...]) -> None:
    """Serve the page on `sock` until Ctrl-C (uvicorn's own signal handling)."""
    import uvicorn

    port = int(sock.getsockname()[1])
    app = Guard(build_app(view, keys), keys=keys, port=port, hosts=hosts)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        server_header=False,  # says nothing about what answers
    )
    view.start()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        view.stop()


__all__ = ["Hub", "Keys", "ProjectView", "build_app", "listen", "serve"]
