"""The public API: plan a loaded stack against an engine, and apply a plan.

loaded = stackup.load(LoadOptions(files=(Path("stack.yaml"),)))
engine = DockerEngine.from_env()
plan = stackup.plan(loaded, engine)
outcome = stackup.apply(plan, engine)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import networkx as nx

from stackup import configstate
from stackup.desired import read_file_objects
from stackup.engine import Engine
from stackup.execute import Event, ExecuteOptions, Outcome, execute
from stackup.graph import build_graph
from stackup.loader import LoadedStack
from stackup.observed import Observed
from stackup.plan import Plan
from stackup.reconcile import ReconcileOptions, containers_needing_live_config, reconcile


def observe(loaded: LoadedStack, engine: Engine, options: ReconcileOptions) -> Observed:
    """One snapshot of the project, plus the live in-place-updatable settings of each of its
    service containers: `docker update` (ours, or one by hand) leaves the applied-spec label
    as it was, so only the container itself says what it runs with."""
    observed = engine.observe(loaded.stack.name)
    need = containers_needing_live_config(loaded.stack, observed, options)
    if not need:
        return observed
    live = engine.live_configs(need)
    containers = tuple(
        dataclasses.replace(c, live=live[c.id]) if c.id in live else c for c in observed.containers
    )
    return dataclasses.replace(observed, containers=containers)


def plan_options(
    loaded: LoadedStack, engine: Engine, options: ReconcileOptions | None = None
) -> ReconcileOptions:
    """Options completed with what planning must read first (secret and config contents) and
    the salt for a project that has none on the engine yet. That salt is keyed with the
    engine's ID, which never leaves the host: stable from `diff -o` to `up --plan`, yet not
    guessable from the project name alone."""
    options = options or ReconcileOptions()
    salt = options.salt
    if salt == "stackup":
        key = f"{engine.engine_id()}\0{loaded.stack.name}".encode()
        salt = hashlib.sha256(key).hexdigest()[:16]
    # The config files reloads apply (stackup.configstate): read here, so reconcile stays pure.
    configs = configstate.snapshot(loaded.stack, loaded.stack.services, loaded.project_directory)
    return dataclasses.replace(
        options, file_objects=read_file_objects(loaded.stack), salt=salt, configs=configs
    )


def plan(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions | None = None,
    graph: nx.DiGraph[str] | None = None,
) -> Plan:
    options = plan_options(loaded, engine, options)
    graph = graph if graph is not None else build_graph(loaded.stack, loaded.source)
    return reconcile(loaded.stack, graph, observe(loaded, engine, options), options)


def apply(
    plan: Plan,
    engine: Engine,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
) -> Outcome:
    return execute(plan, engine, on_event, options)
