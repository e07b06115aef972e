"""Load time of a 400-service stack file (100 environment variables each), and start-up time
of `stackup --version`. Prints medians; records nothing (the numbers go to docs/benchmarks.md
by hand). Aims: load < 1 s, `--version` < 0.25 s.

    .venv/bin/python bench/load.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVICES = 400
ENV_VARS = 100


def write_stack(directory: Path) -> Path:
    lines = ["name: bench", "services:"]
    for i in range(SERVICES):
        lines += [
            f"  svc{i}:",
            f"    image: busybox:{i % 7}",
            "    command: [sleep, infinity]",
            f'    ports: ["{10000 + i}:80"]',
            "    volumes: [./data:/data:ro]",
            "    environment:",
        ]
        lines += [f"      VAR_{j}: value-{i}-{j}" for j in range(ENV_VARS)]
        if i:
            lines += ["    depends_on: [svc0]"]
    path = directory / "stack.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def median_seconds(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from stackup.loading.loader import LoadOptions, load

    with tempfile.TemporaryDirectory() as tmp:
        path = write_stack(Path(tmp))
        size_kb = path.stat().st_size / 1024
        options = LoadOptions(files=(path,), working_dir=Path(tmp), environ={})
        load(options)  # warm the imports
        load_s = median_seconds(lambda: load(options), args.runs)

    version_cmd = [sys.executable, "-m", "stackup", "--version"]
    script = Path(sys.executable).parent / "stackup"
    if script.exists():
        version_cmd = [str(script), "--version"]
    subprocess.run(version_cmd, check=True, capture_output=True)
    version_s = median_seconds(
        lambda: subprocess.run(version_cmd, check=True, capture_output=True), args.runs
    )

    print(
        f"load() of {SERVICES} services x {ENV_VARS} env vars ({size_kb:.0f} KiB): "
        f"{load_s * 1000:.0f} ms median of {args.runs} (aim < 1000 ms)"
    )
    print(
        f"`stackup --version` start-up: {version_s * 1000:.0f} ms median of {args.runs} "
        "(aim < 250 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
