"""stackup.engine.docker.ssh without a server: the URL, the ssh command line, and how a
failed ssh is reported (a stand-in `ssh` on PATH plays the client)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from stackup.engine.docker import ssh
from stackup.errors import EngineUnavailableError, UsageError
from stackup.targets.engine.preflight import engine_is_local


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ssh://server", ssh.SshTarget("server")),
        ("ssh://deploy@server", ssh.SshTarget("server", "deploy")),
        ("ssh://deploy@server:2222", ssh.SshTarget("server", "deploy", 2222)),
        ("ssh://server:2222/", ssh.SshTarget("server", None, 2222)),
    ],
)
def test_parse_url(url: str, expected: ssh.SshTarget) -> None:
    assert ssh.parse_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ssh://", "ssh://server/var/run/docker.sock", "ssh://u:pw@server", "ssh://s:x"]
)
def test_parse_url_refuses_what_ssh_urls_cannot_say(url: str) -> None:
    with pytest.raises(UsageError):
        ssh.parse_url(url)


def _fake_ssh(tmp_path: Path, script: str) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ssh"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


def test_command_forwards_a_private_socket_with_the_ci_config(tmp_path: Path) -> None:
    env = {**_fake_ssh(tmp_path, "exit 0\n"), "STACKUP_SSH_CONFIG": "/ci/ssh_config"}
    cmd = ssh.ssh_command(ssh.SshTarget("server", "deploy", 2222), "/tmp/x/docker.sock", env)
    assert cmd[1:3] == ["-F", "/ci/ssh_config"]
    assert "-N" in cmd and "BatchMode=yes" in cmd and "ExitOnForwardFailure=yes" in cmd
    assert cmd[cmd.index("-L") + 1] == "/tmp/x/docker.sock:/var/run/docker.sock"
    assert cmd[-6:] == ["-l", "deploy", "-p", "2222", "--", "server"]


def test_without_ci_config_the_users_config_applies(tmp_path: Path) -> None:
    cmd = ssh.ssh_command(ssh.SshTarget("alias"), "/s", _fake_ssh(tmp_path, "exit 0\n"))
    assert "-F" not in cmd and cmd[-2:] == ["--", "alias"]


def test_a_failed_login_names_the_host_with_ssh_reason(tmp_path: Path) -> None:
    env = _fake_ssh(
        tmp_path, 'echo "deploy@10.0.0.9: Permission denied (publickey)." >&2\nexit 255\n'
    )
    tunnel = ssh.SshTunnel(ssh.parse_url("ssh://deploy@server"), env)
    with pytest.raises(EngineUnavailableError) as caught:
        tunnel.open()
    assert "ssh://deploy@server" in caught.value.message
    assert "Permission denied (publickey)" in caught.value.message
    # Nothing left behind: the private directory with the socket is gone.
    assert not Path(tunnel.directory).exists()


def test_no_ssh_client_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError, match="no `ssh` client"):
        ssh.ssh_command(ssh.SshTarget("server"), "/s", {"PATH": str(tmp_path)})


def test_a_login_whose_engine_never_answers_times_out_naming_the_host(tmp_path: Path) -> None:
    # ssh logs in (stays up) but nothing ever listens on the socket.
    tunnel = ssh.SshTunnel(ssh.parse_url("ssh://server"), _fake_ssh(tmp_path, "exec sleep 30\n"))
    with pytest.raises(EngineUnavailableError, match=r"ssh://server: logged in, but"):
        tunnel.open(timeout=0.3)
    assert not Path(tunnel.directory).exists()


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("ssh://deploy@127.0.0.1:2222", False),  # a VM or container with its own ports
        ("ssh://server", False),
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
    ],
)
def test_an_ssh_engine_is_never_this_host(url: str, local: bool) -> None:
    engine = SimpleNamespace(endpoint=SimpleNamespace(base_url=url))
    assert engine_is_local(engine) is local  # type: ignore[arg-type]


def test_directories_of_ended_commands_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh.tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "stackup-ssh-stale"  # its ssh has ended: nobody holds the lock
    live = tmp_path / "stackup-ssh-live"  # its ssh (here: this test) holds the lock
    starting = tmp_path / "stackup-ssh-starting"  # no lock yet: a command setting up
    for directory in (stale, live, starting):
        directory.mkdir()
    (stale / ssh.LOCK_NAME).touch()
    held = ssh._held_lock(str(live))
    try:
        ssh._remove_stale_directories()
        assert not stale.exists()
        assert live.exists() and starting.exists()
    finally:
        os.close(held)
    ssh._remove_stale_directories()  # once its holder has ended, it goes too
    assert not live.exists() and starting.exists()


def test_an_engine_socket_the_user_may_not_open_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logged in (the stand-in ssh makes the local socket's path and stays up), but every
    # connection through it is closed unanswered, as ssh does when sshd cannot open the
    # remote socket (no engine, or not in the docker group). Unit tests connect no socket:
    # the answer is handed in; the engine tests see the real one.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ssh"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys, time\n"
        "pathlib.Path(sys.argv[sys.argv.index('-L') + 1].rsplit(':', 1)[0]).touch()\n"
        "time.sleep(30)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(ssh, "_ping", lambda path: "closed")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    tunnel = ssh.SshTunnel(ssh.parse_url("ssh://server"), env)
    with pytest.raises(EngineUnavailableError, match=r"ssh://server: logged in, but .* refused"):
        tunnel.open(timeout=20)


# An ssh as OpenSSH's behaves for this: it closes every descriptor it inherits, then listens
# on the forwarded socket.
_CLOSING_SSH = """\
import os, socket, sys
os.closerange(3, 1024)
path = sys.argv[sys.argv.index("-L") + 1].rsplit(":", 1)[0]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
while True:
    server.accept()[0].close()
"""


def test_a_live_tunnel_is_not_swept_by_another_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh.tempfile, "tempdir", str(tmp_path))
    script = tmp_path / "closing_ssh.py"
    script.write_text(_CLOSING_SSH)
    env = _fake_ssh(tmp_path, f'exec {sys.executable} {script} "$@"\n')
    # The socket exists once the stand-in serves it (a unit test connects to no socket).
    monkeypatch.setattr(ssh, "_ping", lambda path, timeout=5.0: "ok")
    tunnel = ssh.SshTunnel(ssh.SshTarget("server"), env).open(timeout=20)
    try:
        # What another command does when it opens its own tunnel.
        ssh._remove_stale_directories()
        assert Path(tunnel.socket_path).exists()
    finally:
        tunnel.close()
    assert not Path(tunnel.directory).exists()
