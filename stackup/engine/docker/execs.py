"""The Docker adapter's calls that run commands in a container (`exec` for validation,
reload commands and `stackup exec`) and copy files into one (watch mode's sync). `DockerEngine`
holds one `DockerExecs` over its client and answers the `Engine` protocol's calls with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import docker

from stackup.engine.docker.calls import engine_errors
from stackup.engine.interface import ExecResult


class DockerExecs:
    """Commands run in containers and files copied into them, over one client (the engine
    counts the calls)."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    def exec_run(
        self,
        container: str,
        command: Sequence[str],
        *,
        user: str | None = None,
        working_dir: str | None = None,
        environment: Sequence[str] = (),
        privileged: bool = False,
    ) -> ExecResult:
        with engine_errors(f"running {' '.join(command)!r} in container {container}"):
            exec_id = self._exec_create(
                container, command, user, working_dir, environment, privileged=privileged
            )
            output = self.api.exec_start(exec_id)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        return ExecResult(exit_code=int(code if code is not None else -1), output=text)

    def _exec_create(
        self,
        container: str,
        command: Sequence[str],
        user: str | None,
        workdir: str | None,
        environment: Sequence[str],
        *,
        privileged: bool = False,
    ) -> str:
        """An exec instance with stdout and stderr attached (exec_run, exec_stream)."""
        return str(
            self.api.exec_create(
                container,
                list(command),
                stdout=True,
                stderr=True,
                user=user or "",
                workdir=workdir,
                environment=list(environment) or None,
                privileged=privileged,
            )["Id"]
        )

    def put_files(self, container: str, path: str, archive: bytes) -> None:
        """Extract a tar archive into a container at `path` (watch mode's sync)."""
        with engine_errors(f"copying files into {container}:{path}"):
            self.api.put_archive(container, path, archive)

    def exec_stream(
        self,
        container: str,
        command: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        environment: Sequence[str] = (),
        on_output: Callable[[bytes], object] | None = None,
    ) -> int:
        """Run a command in a container without a TTY, passing its output (stdout and stderr
        as they come) to `on_output`; returns its exit code (`stackup exec -T`)."""
        with engine_errors(f"running {' '.join(command)!r} in container {container}"):
            exec_id = self._exec_create(container, command, user, workdir, environment)
            for chunk in self.api.exec_start(exec_id, stream=True):
                if on_output is not None:
                    on_output(chunk)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        return int(code if code is not None else -1)
