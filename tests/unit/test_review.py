"""Code review without an engine: `diff --against FILE` and `diff --base REV`, and the example
GitHub workflow's exact command run in a temporary git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackup.loading.loader import load_text
from stackup.planning.plan import Action
from stackup.review import plan_between

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ci-review"
# Not `.yml`: tests/unit/test_schema.py validates every examples/**/*.yml as a stack file.
WORKFLOW = EXAMPLE / "stackup-plan.yml.example"
VENV_BIN = Path(sys.executable).parent


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _plan_step() -> tuple[str, str]:
    """The workflow's diff command and the directory it runs in, read from the YAML."""
    job = _workflow()["jobs"]["plan"]
    [step] = [s for s in job["steps"] if "stackup diff" in str(s.get("run", ""))]
    directory = step.get("working-directory") or job["defaults"]["run"]["working-directory"]
    return str(step["run"]).strip(), str(directory)


def _repo_with_example(tmp_path: Path) -> tuple[Path, Path]:
    """A git repository holding the example at the same path as in this one, committed on
    `main` and known as `origin/main` (as after `actions/checkout` with fetch-depth: 0), with
    a feature branch checked out."""
    repo = tmp_path / "repo"
    repo.mkdir()
    command_dir = _plan_step()[1]
    shutil.copytree(EXAMPLE, repo / command_dir)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "branch", "-M", "main")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "checkout", "-q", "-b", "feature")
    return repo, repo / command_dir


def _run_workflow_command(cwd: Path) -> subprocess.CompletedProcess[str]:
    command, _ = _plan_step()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("DOCKER_HOST", None)
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # prove no engine is needed
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_workflow_command_is_the_documented_one() -> None:
    command, directory = _plan_step()
    assert command == "stackup diff --base origin/main --format markdown > plan.md"
    assert directory == "examples/ci-review"
    checkout = _workflow()["jobs"]["plan"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0


def test_workflow_command_in_a_git_repository(tmp_path: Path) -> None:
    repo, cwd = _repo_with_example(tmp_path)
    stack = cwd / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(
        text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug").replace(
            "QUEUE: default", "QUEUE: urgent"
        ),
        encoding="utf-8",
    )
    _git(repo, "commit", "-q", "-am", "debug logs, urgent queue")

    result = _run_workflow_command(cwd)
    assert result.returncode == 0, result.stderr
    md = (cwd / "plan.md").read_text(encoding="utf-8")
    assert md.startswith("### stackup plan for `ci-review`")
    assert "**Plan:** 0 to create, 0 to update, 2 to recreate, 0 to remove." in md
    assert "| `-/+` | container | `ci-review-api-1` | changed: environment.LOG_LEVEL |" in md
    assert "| `-/+` | container | `ci-review-worker-1` | changed: environment.QUEUE |" in md
    assert '- environment.LOG_LEVEL: "info"\n+ environment.LOG_LEVEL: "debug"' in md


def test_workflow_command_without_changes(tmp_path: Path) -> None:
    _, cwd = _repo_with_example(tmp_path)
    result = _run_workflow_command(cwd)
    assert result.returncode == 0, result.stderr
    assert (cwd / "plan.md").read_text(encoding="utf-8") == (
        "### stackup plan for `ci-review`\n\nNo changes.\n"
    )


def test_base_reads_env_files_at_the_revision(tmp_path: Path) -> None:
    repo, cwd = _repo_with_example(tmp_path)
    (cwd / "api.env").write_text("FEATURE_X=off\n", encoding="utf-8")
    stack = cwd / "stack.yaml"
    stack.write_text(
        stack.read_text(encoding="utf-8").replace(
            "    environment:\n      LOG_LEVEL: info\n",
            "    env_file: [api.env]\n    environment:\n      LOG_LEVEL: info\n",
        ),
        encoding="utf-8",
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "api.env")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    (cwd / "api.env").write_text("FEATURE_X=on\n", encoding="utf-8")  # not even committed
    result = _run_workflow_command(cwd)
    assert result.returncode == 0, result.stderr
    md = (cwd / "plan.md").read_text(encoding="utf-8")
    assert "changed: environment.FEATURE_X" in md
    assert '- environment.FEATURE_X: "off"\n+ environment.FEATURE_X: "on"' in md


def test_base_outside_git_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "stack.yaml", tmp_path / "stack.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "diff", "--base", "origin/main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
    )
    assert result.returncode == 1
    assert "cannot read revision 'origin/main' with git" in result.stderr
    assert "Traceback" not in result.stderr


BASE = """
name: rev
services:
  web:
    image: nginx:1.25
    ports: ["127.0.0.1:8080:80"]
    volumes: ["cache:/cache"]
  old:
    image: busybox:latest
volumes:
  cache: {}
"""


def test_plan_between_two_files() -> None:
    base = load_text(textwrap.dedent(BASE), working_dir=Path("/srv/rev"))
    head_text = (
        textwrap.dedent(BASE)
        .replace("nginx:1.25", "nginx:1.27")
        .replace("  old:\n    image: busybox:latest\n", "  new:\n    image: busybox:latest\n")
        .replace("cache: {}", "cache:\n    driver_opts: {type: tmpfs, device: tmpfs}")
    )
    head = load_text(head_text, working_dir=Path("/srv/rev"))
    plan = plan_between(base, head)
    summary = {(op.action, op.name): op for op in plan.operations}
    volume = summary[(Action.RECREATE, "rev_cache")]
    assert volume.destroys_data
    web = summary[(Action.RECREATE, "rev-web-1")]
    # Recreated for the volume, and its own change shown as well (it was hidden).
    assert web.reason == "a volume it uses is recreated; changed: image"
    assert ("image", "nginx:1.25", "nginx:1.27") in [
        (f.path, f.before, f.after) for f in web.fields
    ]
    assert (Action.CREATE, "rev-new-1") in summary
    assert plan.warnings == (
        'orphan container rev-old-1: service "old" is no longer in the stack '
        "(--remove-orphans removes it)",
    )


def test_diff_against_cli(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(textwrap.dedent(BASE), encoding="utf-8")
    (tmp_path / "stack.yaml").write_text(
        textwrap.dedent(BASE).replace("8080:80", "8081:80"), encoding="utf-8"
    )
    env = {**os.environ, "NO_COLOR": "1", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "diff", "--against", "base.yaml", "--exit-code"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert '        ports[0].published: "8080" → "8081"' in result.stdout
    same = subprocess.run(
        [sys.executable, "-m", "stackup", "diff", "--against", "stack.yaml", "--exit-code"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert same.returncode == 0, same.stderr
    assert "No changes." in same.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_review_never_shows_a_secret(tmp_path: Path, fmt: str) -> None:
    text = textwrap.dedent(
        """
        name: sec
        services:
          db:
            image: busybox:latest
            environment:
              DB_PASSWORD: first-password-value
        """
    )
    (tmp_path / "base.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "stack.yaml").write_text(
        text.replace("first-password-value", "second-password-value"), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "diff", "--against", "base.yaml", "--format", fmt],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "environment.DB_PASSWORD" in result.stdout
    assert "first-password-value" not in result.stdout + result.stderr
    assert "second-password-value" not in result.stdout + result.stderr


def test_a_changed_secret_reads_the_same_from_run_to_run() -> None:
    """A review's salt is fresh each run, so its digests were too: a bot comparing comments
    saw a change every run. It says changed/unchanged instead."""
    from stackup.planning.render import render_markdown, render_text

    base = load_text(
        "name: rev\nservices:\n  web:\n    image: nginx:1.27\n"
        "    environment: {API_TOKEN: one, DB_PASSWORD: same}\n"
    )
    head = load_text(
        "name: rev\nservices:\n  web:\n    image: nginx:1.27\n"
        "    environment: {API_TOKEN: two, DB_PASSWORD: same}\n"
    )
    runs = [plan_between(base, head) for _ in range(2)]
    texts = [render_text(plan) for plan in runs]
    assert texts[0] == texts[1]
    assert render_markdown(runs[0]) == render_markdown(runs[1])
    assert 'environment.API_TOKEN: "(sensitive)" → "(sensitive, changed)"' in texts[0]
    assert "DB_PASSWORD" not in texts[0] and "sha256:" not in texts[0]
