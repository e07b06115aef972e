"""`stackup lint` as users run it: exit codes 0 / 3 / 1 and the three formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLEAN = """\
name: t
services:
  web:
    image: nginx
    user: "101"
    read_only: true
    security_opt: ["no-new-privileges:true"]
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 100
    healthcheck: {test: ["CMD", "true"]}
"""
LOW_ONLY = CLEAN.replace("    pids_limit: 100\n", "")
HIGH = CLEAN + "    privileged: true\n    environment:\n      API_TOKEN: hunter2\n"


def stackup(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "stack.yaml").write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "stackup", "lint", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_clean_stack_exits_0(tmp_path: Path) -> None:
    result = stackup(tmp_path, CLEAN, "--severity", "low")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no findings at or above low\n"


def test_findings_below_the_threshold_exit_0(tmp_path: Path) -> None:
    result = stackup(tmp_path, LOW_ONLY)
    assert result.returncode == 0, result.stderr
    assert "1 below the threshold" in result.stdout
    assert stackup(tmp_path, LOW_ONLY, "--severity", "low").returncode == 3


def test_findings_exit_3_and_never_print_the_secret(tmp_path: Path) -> None:
    result = stackup(tmp_path, HIGH)
    assert result.returncode == 3, result.stderr
    assert "stack.yaml:12:5: SU001 [high] web:" in result.stdout
    assert "API_TOKEN" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_json_format(tmp_path: Path) -> None:
    result = stackup(tmp_path, HIGH, "--format", "json", "--severity", "high")
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert [f["rule"] for f in doc["findings"]] == ["SU001", "SU010"]
    assert doc["findings"][0]["location"] == {"file": "stack.yaml", "line": 12, "column": 5}


def test_sarif_format(tmp_path: Path) -> None:
    result = stackup(tmp_path, HIGH, "--format", "sarif")
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert doc["version"] == "2.1.0"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in doc["runs"][0]["results"]
    }
    assert uris == {"stack.yaml"}


def test_service_selection(tmp_path: Path) -> None:
    text = CLEAN + "  other:\n    image: app\n    privileged: true\n"
    assert stackup(tmp_path, text, "web").returncode == 0
    assert stackup(tmp_path, text, "other").returncode == 3


def test_errors_exit_1(tmp_path: Path) -> None:
    bad = stackup(tmp_path, "name: t\nservices:\n  web:\n    image: [\n")
    assert bad.returncode == 1
    assert "error:" in bad.stderr and "Traceback" not in bad.stderr
    unknown = stackup(tmp_path, CLEAN, "nope")
    assert unknown.returncode == 1
    assert "no such service: nope" in unknown.stderr
    usage = stackup(tmp_path, CLEAN, "--severity", "critical")
    assert usage.returncode != 0 and usage.returncode != 3
