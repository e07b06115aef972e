"""Helpers the benchmarks share: a synthetic stack, timing, subprocesses, a result table.

Kept small and stable (several benchmarks import it). Benchmarks are scripts, not tests:
they print numbers measured side by side in one run; docs/benchmarks.md records them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def synthetic_stack(
    services: int,
    *,
    project: str = "bench",
    networks: int = 3,
    chain: int = 10,
    image: str = "busybox:latest",
    command: Sequence[str] = ("sleep", "3600"),
) -> str:
    """A stack of `services` services spread over `networks` networks, in depends_on chains
    of `chain` services (service i depends on i-1 within a chain), each with an environment
    variable of its own. The shape of a real stack at any size, in Compose-readable YAML."""
    cmd = ", ".join(f'"{word}"' for word in command)
    lines = [f"name: {project}", "services:"]
    for i in range(services):
        lines += [
            f"  s{i:05d}:",
            f"    image: {image}",
            f"    command: [{cmd}]",
            "    stop_grace_period: 1s",
            f"    networks: [net{i % networks}]",
            "    environment:",
            f'      INDEX: "{i}"',
            "      MODE: bench",
        ]
        if chain > 1 and i % chain:
            lines.append(f"    depends_on: [s{i - 1:05d}]")
    lines.append("networks:")
    lines += [f"  net{n}: {{}}" for n in range(networks)]
    return "\n".join(lines) + "\n"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(repeat: int, fn: Callable[[], object]) -> tuple[float, list[float]]:
    """The median of `repeat` timed calls, and every time (for the record)."""
    times = [timed(fn) for _ in range(repeat)]
    return statistics.median(times), times


def stackup_cmd(*args: str) -> list[str]:
    """`python -m stackup ARGS` with the interpreter running the benchmark."""
    return [sys.executable, "-m", "stackup", *args]


def run(
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    check: bool = True,
    timeout: float = 600.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, output captured; fail loudly (with it) when asked."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def seconds(value: float) -> str:
    return f"{value:.3f} s"
