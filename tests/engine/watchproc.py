"""`stackup watch` as a subprocess for engine tests: started detached (its own session, output
to a file, no terminal), read by waiting for lines, stopped with SIGINT like a Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker

from tests.engine.helpers import http_get, wait_for

# A main config whose error log keeps nginx's notices ("signal 1 (SIGHUP) received ...,
# reconfiguring"), so a test can see from nginx's own log whether a reload was attempted.
NGINX_CONF = """\
worker_processes 1;
error_log /var/log/nginx/error.log notice;
pid /run/nginx.pid;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
"""


def server_conf(version: str, *, broken: bool = False) -> str:
    directive = "add_headr" if broken else "add_header"
    return (
        "server {\n"
        "    listen 80;\n"
        "    root /usr/share/nginx/html;\n"
        f"    {directive} X-Version {version} always;\n"
        "}\n"
    )


class WatchProcess:
    def __init__(self, cwd: Path, *args: str) -> None:
        self.log_path = cwd / "watch.log"
        env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stackup", "watch", *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.mark = 0

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def since_mark(self) -> str:
        return self.output[self.mark :]

    def set_mark(self) -> None:
        self.mark = len(self.output)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait for `pattern` (a regex) in the output written since the mark; move the mark
        past it and return the output up to there."""
        rx = re.compile(pattern)

        def check() -> str | None:
            text = self.since_mark()
            m = rx.search(text)
            if m:
                return text[: m.end()]
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"stackup watch exited {self.proc.returncode} before {pattern!r}:\n{self.output}"
                )
            return None

        try:
            found = wait_for(check, timeout=timeout, interval=0.05, what=pattern)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- watch output ---\n{self.output}") from None
        self.mark += len(found)
        return found

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C: SIGINT to the process; its exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def header(url: str, name: str) -> str | None:
    return http_get(url, retry_for=10.0).headers.get(name)


def wait_header(url: str, name: str, value: str, timeout: float = 20.0) -> None:
    def check() -> bool:
        try:
            return header(url, name) == value
        except OSError:
            return False

    wait_for(check, timeout=timeout, what=f"{name}: {value} from {url}")


def container(client: docker.DockerClient, name: str) -> tuple[str, str]:
    """(ID, StartedAt) of a container."""
    c = client.containers.get(name)
    return str(c.id), str(c.attrs["State"]["StartedAt"])


def nginx_log(client: docker.DockerClient, name: str) -> str:
    return client.containers.get(name).logs().decode(errors="replace")


def reload_attempts(log: str) -> list[str]:
    """nginx's own record of each reload it was asked for: the master's notice on SIGHUP
    (or the `nginx -s reload` client's "signal process started")."""
    return [
        line
        for line in log.splitlines()
        if "(SIGHUP) received" in line or "signal process started" in line
    ]


def settle(watch: WatchProcess, probe: Path) -> None:
    """Make sure everything written before now has been handled: touch a file the watch
    reports, and wait for that report (events are handled in order)."""
    probe.write_text(f"probe {time.monotonic()}\n", encoding="utf-8")
    watch.wait_for(rf"{re.escape(probe.name)} changed")
