"""develop.watch's file sync, without I/O to the engine: the tar of changed files placed
under the rule's target, the container paths of files that are gone, and the walk of a
watched tree that skips what the rule ignores."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from stackup.model.parts import WatchRule
from stackup.watch.reload import ignored, is_noise


def sync_archive(
    rule: WatchRule, paths: Sequence[Path], target: str
) -> tuple[bytes, list[str], int]:
    """A tar of the changed files (placed under `target`, extracted at `/`), the container
    paths of the files that are gone, and how many files the tar holds."""
    root = Path(rule.path)
    buffer = io.BytesIO()
    deleted: list[str] = []
    count = 0
    base = target.strip("/")
    added: set[Path] = set()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(set(paths)):
            if ignored(rule, path):
                continue
            rel = path.relative_to(root).as_posix() if path != root else ""
            name = f"{base}/{rel}" if rel else base
            # A new directory goes over whole: what was written in it before its own watch
            # was set up produced no event.
            files = (
                [path] if path.is_file() else list(files_under(rule, path)) if path.is_dir() else []
            )
            for f in files:
                if f not in added:
                    added.add(f)
                    tar.add(f, arcname=f"{base}/{f.relative_to(root).as_posix()}", recursive=False)
                    count += 1
            if not path.exists():
                deleted.append("/" + name)
    return buffer.getvalue(), deleted, count


def files_under(rule: WatchRule, top: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not ignored(rule, Path(root) / d))
        for f in sorted(files):
            path = Path(root) / f
            if not ignored(rule, path) and not is_noise(path):
                yield path
