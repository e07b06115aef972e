"""What the set-up scripts print (run with a stand-in `docker`: no engine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tag_all(*tags: str) -> str:
    script = (
        '. scripts/lib.sh && . scripts/images.sh && docker() { echo "docker $*"; } && tag_all "$@"'
    )
    done = subprocess.run(
        ["bash", "-c", script, "bash", *tags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def test_a_single_tag_prints_no_empty_tagged_as_list() -> None:
    assert "as:" not in _tag_all("nginx:1.25")


def test_other_tags_are_listed_once() -> None:
    out = _tag_all("nginx:stable", "nginx:latest", "nginx:1.27")
    assert "docker tag nginx:stable nginx:latest" in out
    assert out.splitlines()[-1].endswith("tagged nginx:stable also as: nginx:latest nginx:1.27")
