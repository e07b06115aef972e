"""`stackup ui`'s bad input: a taken port or an unknown address is an error naming it (exit
1), never a traceback; nothing is served."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

STACK = "name: ui-cli\nservices:\n  web:\n    image: nginx:stable\n"


def _ui(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "stack.yaml").write_text(STACK)
    return subprocess.run(
        [sys.executable, "-m", "stackup", "ui", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _ui(tmp_path, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert result.stdout == ""


def test_an_unknown_address_is_named(tmp_path: Path) -> None:
    result = _ui(tmp_path, "--listen-address", "no-such-host.invalid")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot listen on no-such-host.invalid:0: ")
    assert "Traceback" not in result.stderr
