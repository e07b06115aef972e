"""Lint a 200-service stack and print how long it takes (aim: under 1 s).

    .venv/bin/python bench/lint.py [--services 200] [--repeat 5]

Prints the best of `--repeat` runs for loading, for linting alone, and for both, so the cost
of lint is seen apart from the loader's. Not a test; results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from stackup.lint.linter import lint
from stackup.loading.loader import LoadOptions, load


def stack_text(services: int) -> str:
    """Services of every shape lint looks at: ports, binds, env with secrets, caps."""
    lines = ["name: bench", "services:"]
    for i in range(services):
        lines += [
            f"  svc{i}:",
            "    image: nginx:1.27",
            f'    user: "{1000 + i}"',
            "    read_only: true" if i % 2 else "    read_only: false",
            "    security_opt: [no-new-privileges:true]",
            "    cap_add: [NET_BIND_SERVICE]",
            "    cap_drop: [ALL]",
            "    mem_limit: 64m",
            "    cpus: 0.5",
            "    pids_limit: 100",
            "    ports:",
            f'      - "127.0.0.1:{10000 + i}:80"',
            "    volumes:",
            "      - ./site:/usr/share/nginx/html:ro",
            f"      - ./data/{i}:/data",
            "    environment:",
            "      LOG_LEVEL: info",
            "      DB_PASSWORD: ${DB_PASSWORD}",
            f"      API_TOKEN: literal-{i}",
            "    healthcheck:",
            '      test: ["CMD", "true"]',
        ]
        if i:
            lines += ["    depends_on:", f"      svc{i - 1}: {{condition: service_started}}"]
    return "\n".join(lines) + "\n"


def best(repeat: int, fn: object) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(stack_text(args.services))
        options = LoadOptions(files=(path,), environ={"DB_PASSWORD": "x"})
        loaded = load(options)
        findings = lint(loaded)
        t_load = best(args.repeat, lambda: load(options))
        t_lint = best(args.repeat, lambda: lint(loaded))
        t_both = best(args.repeat, lambda: lint(load(options)))
    print(f"lint bench: {args.services} services, {len(findings)} findings, best of {args.repeat}")
    print(f"  load:        {t_load * 1000:8.1f} ms")
    print(f"  lint:        {t_lint * 1000:8.1f} ms")
    print(f"  load + lint: {t_both * 1000:8.1f} ms  (aim < 1000 ms)")


if __name__ == "__main__":
    main()
