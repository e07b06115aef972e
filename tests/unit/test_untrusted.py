"""The untrusted mode (stackup.loading.hostpaths): files outside the repository are refused,
located, before anything looks at them; interpolation reads only the repository's .env and env
files and `--env NAME`; `--base` follows no committed link out of the repository. And, in any
mode, a file that is not a stack file is never quoted."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackup.cli import cli
from stackup.errors import StackFileError, StackupError
from stackup.loading.hostpaths import HostPaths
from stackup.loading.loader import LoadedStack, LoadOptions, load

HEAD = "name: t\nservices:\n  web:\n    image: nginx:1.27\n"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """`repo/` (the project) beside `outside/`, which holds what must never be read."""
    (tmp_path / "repo").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.env").write_text("FOO=from-outside\n")
    (outside / "base.yaml").write_text("services:\n  base:\n    image: busybox\n")
    (outside / "secret.txt").write_text("s3cret\n")
    return tmp_path / "repo"


@pytest.fixture
def touched(layout: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths under `outside/` that anything stats, lstats or opens."""
    outside = str(layout.parent / "outside")
    seen: list[str] = []
    for name in ("stat", "lstat", "open", "readlink"):
        real = getattr(os, name)

        def spy(path: object, *args: object, _real: object = real, **kw: object) -> object:
            if isinstance(path, str | os.PathLike) and os.fspath(path).startswith(outside):
                seen.append(os.fspath(path))  # type: ignore[arg-type]
            return _real(path, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(os, name, spy)
    yield seen


def _load(repo: Path, stack: str, **options: object) -> LoadedStack:
    (repo / "stack.yaml").write_text(stack)
    return load(LoadOptions(working_dir=repo, **options))  # type: ignore[arg-type]


def _refusal(repo: Path, stack: str) -> str:
    with pytest.raises(StackupError) as caught:
        _load(repo, stack, untrusted=True, environ={})
    return str(caught.value)


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        ("    env_file: ../outside/app.env\n", "5:15: services.web.env_file[0]", "env file"),
        (
            "    env_file:\n      - path: ../outside/app.env\n        required: false\n",
            "6:15: services.web.env_file[0]",
            "env file",
        ),
        ("    label_file: ../outside/app.env\n", "5:17: services.web.label_file[0]", "label file"),
        (
            "    extends:\n      file: ../outside/base.yaml\n      service: base\n",
            "6:7: services.web.extends",
            "extended file",
        ),
        (
            "    secrets: [db]\nsecrets:\n  db:\n    file: ../outside/secret.txt\n",
            "8:11: secrets.db.file",
            "secret file",
        ),
        (
            "    configs: [c]\nconfigs:\n  c:\n    file: ../outside/secret.txt\n",
            "8:11: configs.c.file",
            "config file",
        ),
    ],
)
def test_a_file_outside_the_repository_is_refused_located_and_never_touched(
    layout: Path, touched: list[str], body: str, where: str, what: str
) -> None:
    message = _refusal(layout, HEAD + body)
    assert f"stack.yaml:{where}: {what} " in message
    assert f"is outside the repository {layout}" in message
    assert touched == []


def test_includes_and_their_env_files_are_refused(layout: Path, touched: list[str]) -> None:
    message = _refusal(layout, "include:\n  - ../outside/base.yaml\n" + HEAD)
    assert "stack.yaml:2:5: include[0]: included file" in message
    (layout / "inc.yaml").write_text("services:\n  inc:\n    image: busybox\n")
    message = _refusal(
        layout, "include:\n  - path: inc.yaml\n    env_file: ../outside/app.env\n" + HEAD
    )
    assert "include[0]: env file" in message and "outside the repository" in message
    assert touched == []


def test_a_link_out_of_the_repository_is_refused_a_link_inside_followed(
    layout: Path, touched: list[str]
) -> None:
    (layout / "out.env").symlink_to("../outside/app.env")
    (layout / "conf").symlink_to("../outside")
    (layout / "in.env").write_text("A=inside\n")
    (layout / "alias.env").symlink_to("in.env")
    for target in ("out.env", "conf/app.env"):
        message = _refusal(layout, HEAD + f"    env_file: {target}\n")
        assert f"env file {target} leads by a symbolic link out of the repository" in message
    loaded = _load(layout, HEAD + "    env_file: alias.env\n", untrusted=True, environ={})
    assert loaded.stack.services["web"].environment == {"A": "inside"}
    assert touched == []


def test_the_git_directory_is_not_the_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git" / "creds.env").write_text("NOTE=token\n")
    message = _refusal(tmp_path, HEAD + "    env_file: .git/creds.env\n")
    assert "is in the .git directory of the repository" in message


def test_the_boundary_is_the_git_top_level(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "shared.env").write_text("A=shared\n")
    (tmp_path / "app").mkdir()
    loaded = _load(tmp_path / "app", HEAD + "    env_file: ../shared.env\n", untrusted=True)
    assert loaded.stack.services["web"].environment == {"A": "shared"}
    assert loaded.host_paths == HostPaths(tmp_path.resolve())


def test_trusted_mode_reads_what_the_user_names(layout: Path) -> None:
    loaded = _load(layout, HEAD + "    env_file: ../outside/app.env\n")
    assert loaded.stack.services["web"].environment == {"FOO": "from-outside"}
    assert loaded.host_paths.allows(layout.parent / "outside" / "app.env")


def test_discovery_stops_at_the_repository(layout: Path) -> None:
    (layout.parent / "stack.yaml").write_text(HEAD)
    (layout / "sub").mkdir()
    with pytest.raises(StackFileError, match="no stack file found"):
        load(LoadOptions(working_dir=layout, untrusted=True))


def test_the_resolver_never_looks_past_a_link_out(
    layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (layout / "a").symlink_to("../outside")
    repo = layout.resolve()
    policy = HostPaths(repo)
    looked: list[str] = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p: looked.append(os.fspath(p)) or real(p))
    assert not policy.allows(repo / "a" / "app.env")
    assert not policy.allows(repo / ".." / "outside" / "app.env")
    assert looked == [str(repo / "a")]


# --- interpolation ---------------------------------------------------------------------------


def test_untrusted_interpolation_reads_no_environment_but_passed_names(tmp_path: Path) -> None:
    stack = HEAD + (
        "    environment:\n      A: ${GREETING}\n      B: ${FROM_DOTENV}\n"
        "      C: ${OTHER:-default}\n      D: ${PASSED}\n"
    )
    (tmp_path / ".env").write_text("FROM_DOTENV=dot\n")
    environ = {"GREETING": "hi", "OTHER": "o", "PASSED": "p", "FROM_DOTENV": "env"}
    loaded = _load(tmp_path, stack, untrusted=True, environ=environ, passed_env=("PASSED",))
    assert loaded.stack.services["web"].environment == {
        "A": "",
        "B": "dot",
        "C": "default",
        "D": "p",
    }
    assert loaded.unset_variables == ("GREETING", "OTHER")
    trusted = _load(tmp_path, stack, environ=environ)
    assert trusted.stack.services["web"].environment["A"] == "hi"
    assert trusted.unset_variables == ()


def test_env_files_and_pass_through_names_do_not_read_the_environment(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("MSG=${GREETING}\nGREETING\n")
    stack = HEAD + "    env_file: app.env\n    environment:\n      - TOKEN_NAME\n"
    environ = {"GREETING": "hi", "TOKEN_NAME": "t"}
    loaded = _load(tmp_path, stack, untrusted=True, environ=environ)
    env = loaded.stack.services["web"].environment
    assert env.get("MSG") == "" and env.get("GREETING") in (None, "")
    assert env.get("TOKEN_NAME") in (None, "")
    assert "GREETING" in loaded.unset_variables and "TOKEN_NAME" in loaded.unset_variables


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
    finally:
        os.chdir(old)
    err = result.stderr
    if isinstance(result.exception, StackupError):  # what `main()` would print
        err += "\n".join(f"error: {r}" for r in result.exception.reports())
    return result.exit_code, result.stdout, err


def test_the_cli_warns_of_the_unset_names_and_reads_passed_ones(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(HEAD + "    environment:\n      A: ${GREETING}\n")
    (tmp_path / "base.yaml").write_text(HEAD)
    env = {"GREETING": "hello-from-ci"}
    for args, extra in (
        (("config", "--untrusted"), {}),
        (("config",), {"STACKUP_UNTRUSTED": "1"}),
        (("diff", "--against", "base.yaml"), {}),
        (("lint", "--untrusted"), {}),
        (("graph", "--untrusted"), {}),
    ):
        code, out, err = _cli(tmp_path, *args, env={**env, **extra})
        assert "hello-from-ci" not in out + err, args
        assert "these variables are unset: GREETING" in err, args
    code, out, _ = _cli(tmp_path, "config", "--untrusted", "--env", "GREETING", env=env)
    assert code == 0 and "A: hello-from-ci" in out
    code, out, _ = _cli(tmp_path, "config", env=env)
    assert code == 0 and "A: hello-from-ci" in out


# --- diff --base -------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_base_never_follows_a_committed_link_out_of_the_repository(layout: Path) -> None:
    _git(layout, "init", "-q")
    (layout / "stack.yaml").write_text(HEAD + "    env_file: link.env\n")
    (layout / "link.env").symlink_to("../outside/app.env")
    _git(layout, "add", "-A")
    _git(layout, "commit", "-q", "-m", "base")
    (layout / "link.env").unlink()
    (layout / "stack.yaml").write_text(HEAD)
    code, _out, err = _cli(layout, "diff", "--base", "HEAD")
    assert code != 0
    assert (
        "error: stack.yaml:5:15: services.web.env_file[0]: env file link.env leads by a "
        "symbolic link out of the repository"
    ) in err
    # The reader refuses too, should anything ask it directly.
    from stackup.review import GitRevision

    revision = GitRevision("HEAD", layout, follow_links=False)
    assert revision.resolve(layout / "link.env") is None
    with pytest.raises(StackFileError, match="symbolic link out of the repository at HEAD"):
        revision.read(layout / "link.env")


def test_base_follows_a_committed_link_inside_the_repository(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "stack.yaml").write_text(HEAD + "    env_file: link.env\n")
    (tmp_path / "real.env").write_text("A=1\n")
    (tmp_path / "link.env").symlink_to("real.env")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "base")
    (tmp_path / "stack.yaml").write_text(HEAD)
    code, out, err = _cli(tmp_path, "diff", "--base", "HEAD")
    assert code == 0, err
    assert 'environment.A: "1" → (unset)' in out


# --- a file that is not YAML -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "root:$6$hash-of-root:19000:0:99999:7:::\n",
        "bob:x:1000:1000:Bob hash-of-root, room: 12:/bin/sh\n",
        "hash-of-root: 1\nhash-of-root: 2\n",
        "x: !hash-of-root 1\n",
        "[hash-of-root, x\n",
    ],
)
def test_a_file_that_is_not_a_stack_file_is_never_quoted(tmp_path: Path, text: str) -> None:
    (tmp_path / "creds").write_text(text)
    with pytest.raises(StackFileError) as caught:
        load(LoadOptions(files=(Path("creds"),), working_dir=tmp_path))
    assert "hash-of-root" not in str(caught.value)
    assert "creds:" in str(caught.value) and "not a stack file" in str(caught.value)


def test_a_stack_file_with_a_mistake_is_still_told_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text("servics:\n  web: {}\n")
    with pytest.raises(StackFileError, match='unknown key "servics"'):
        load(LoadOptions(files=(Path("typo.yaml"),), working_dir=tmp_path))
    (tmp_path / "tag.yaml").write_text("services:\n  web:\n    image: !foo nginx\n")
    with pytest.raises(StackFileError, match="unsupported YAML tag !foo"):
        load(LoadOptions(files=(Path("tag.yaml"),), working_dir=tmp_path))


def test_planning_asks_the_policy_before_it_reads_a_config_source(
    layout: Path, touched: list[str]
) -> None:
    from stackup.targets.engine import configfiles

    (layout.parent / "outside" / "default.conf").write_text("server {}\n")
    stack = HEAD + "    volumes:\n      - ../outside/default.conf:/etc/nginx/conf.d/default.conf\n"
    loaded = _load(layout, stack)
    source = str(layout.parent / "outside" / "default.conf")
    trusted = configfiles.snapshot(loaded.stack, ["web"], layout, loaded.host_paths.allows)
    assert source in trusted.host
    touched.clear()
    untrusted = HostPaths(layout.resolve())
    refused = configfiles.snapshot(loaded.stack, ["web"], layout, untrusted.allows)
    assert refused.host == {} and touched == []
