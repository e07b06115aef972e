"""Reconcile time for 1,000 and 5,000 services against a synthetic observed state.

    .venv/bin/python bench/plan.py [--sizes 1000 5000] [--repeat 5]

Each stack is applied once to the in-memory engine (the executor `up` uses, over FakeEngine),
so the observed state is what stackup itself would have made: every container labelled with
its applied spec. Then `reconcile` (pure: no I/O) is timed on the unchanged stack, and on the
same stack with every service's environment changed (every container recreated, every field
diff computed). Aim: 1,000 services in <= 0.5 s, 5,000 in <= 5.5x that (linear).

Then the offline review diff (`stackup diff --against BASE`, `review.plan_between`): the base
stack is applied to the in-memory engine by the executor and the changed stack is planned
against it, so this times the executor too. Aim: 1,000 services in <= 1.5 s, 5,000 in <= 5.5x
that (linear).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median_of, seconds, synthetic_stack, table
from stackup.engine.fake import FakeEngine
from stackup.engine.observed import Observed
from stackup.loading.loader import load_text
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.reconcile import reconcile
from stackup.review import plan_between
from stackup.targets.engine.execute import ExecuteOptions, execute

BUSYBOX_ID = "sha256:" + "b0" * 32


def measure(services: int, repeat: int) -> dict[str, float]:
    text = synthetic_stack(services)
    loaded = load_text(text, working_dir=Path("/srv/bench"))
    changed = load_text(
        text.replace("MODE: bench", "MODE: changed"), working_dir=Path("/srv/bench")
    )
    graph = build_graph(loaded.stack, loaded.source)
    changed_graph = build_graph(changed.stack, changed.source)
    options = ReconcileOptions(salt="bench")
    engine = FakeEngine({"busybox:latest": BUSYBOX_ID})
    first = reconcile(loaded.stack, graph, engine.observe("bench"), options)
    outcome = execute(first, engine, options=ExecuteOptions(parallel=8, poll_interval=0.0))
    if not outcome.ok:
        raise SystemExit(f"could not build the observed state: {outcome.failed}")
    observed: Observed = engine.observe("bench")
    assert len(observed.containers) == services

    def noop() -> None:
        plan = reconcile(loaded.stack, graph, observed, options)
        assert not plan.changes

    def all_changed() -> None:
        plan = reconcile(changed.stack, changed_graph, observed, options)
        assert len(plan.operations) == services

    def offline_diff() -> None:
        plan = plan_between(loaded, changed, ReconcileOptions(salt="bench"))
        assert len(plan.operations) == services

    noop_time, noop_all = median_of(repeat, noop)
    changed_time, changed_all = median_of(repeat, all_changed)
    offline_time, offline_all = median_of(max(1, repeat // 2), offline_diff)
    # The minimum too: on a busy machine it is the better estimate of the work itself.
    return {
        "noop": noop_time,
        "changed": changed_time,
        "noop_min": min(noop_all),
        "changed_min": min(changed_all),
        "offline": offline_time,
        "offline_min": min(offline_all),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {n: measure(n, args.repeat) for n in args.sizes}
    rows = [
        [
            "services",
            "unchanged: median",
            "min",
            "all changed: median",
            "min",
            "offline diff: median",
            "min",
        ]
    ]
    for n, r in results.items():
        rows.append(
            [
                f"{n:,}",
                seconds(r["noop"]),
                seconds(r["noop_min"]),
                seconds(r["changed"]),
                seconds(r["changed_min"]),
                seconds(r["offline"]),
                seconds(r["offline_min"]),
            ]
        )
    print(f"reconcile, median of {args.repeat} runs (Python {sys.version.split()[0]})")
    print(table(rows))
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        factor = large / small
        for kind in ("noop", "changed", "noop_min", "changed_min", "offline", "offline_min"):
            ratio = results[large][kind] / results[small][kind]
            verdict = "linear" if ratio <= factor * 1.1 else "SUPER-LINEAR"
            print(
                f"{kind:>11}: {large:,} / {small:,} services = {ratio:.2f}x "
                f"(aim <= {factor * 1.1:.1f}x: {verdict})"
            )
    if 1000 in results:
        t = results[1000]["noop"]
        print(
            f"1,000 services unchanged: {seconds(t)} (aim <= 0.500 s: {'ok' if t <= 0.5 else 'SLOW'})"
        )
        t = results[1000]["offline"]
        print(
            f"1,000 services offline diff: {seconds(t)} "
            f"(aim <= 1.500 s: {'ok' if t <= 1.5 else 'SLOW'})"
        )


if __name__ == "__main__":
    main()
