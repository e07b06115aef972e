"""The help says what the code does."""

from __future__ import annotations

from click.testing import CliRunner

from stackup.cli import cli


def _help(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="stackup", terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_logs_help_names_the_prefix_and_the_project_option() -> None:
    text = _help("logs")
    assert "prefixed by its container's name" in text and "-p NAME" in text
    assert "Do not prefix lines with the container name" in text


def test_context_help_gives_the_discovery_order() -> None:
    # stackup.engine.docker.connect: --context, DOCKER_HOST, DOCKER_CONTEXT, the current
    # context, the default socket.
    assert (
        "DOCKER_HOST, then DOCKER_CONTEXT, then the current context (`docker context use`), "
        "then the default socket" in _help()
    )
