"""The stack as a dependency graph: who must exist, start or be healthy before whom.

Nodes are `kind:name` strings (`service:web`, `network:front`, `volume:data`, `secret:key`,
`config:site`); an edge runs from a dependency to its dependent, so a topological order is a
start order and its reverse is a stop order.

The graph is plain dictionaries rather than a networkx DiGraph: every `diff` and `up` builds
one, and importing networkx (285 modules, with its backend discovery) cost 0.13-0.2 s of a
0.5-0.8 s no-op run, more than planning itself. The few operations needed (Kahn's order and
waves, ancestors, one cycle) are below; tests/unit/test_graph.py checks each against networkx
on random graphs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from stackup.errors import DependencyCycleError
from stackup.escape import dot_string, mermaid_label, terminal
from stackup.gcpause import collector_paused
from stackup.loading.source import SourceMap
from stackup.model.spec import Stack

EdgeData = dict[str, Any]


class ResourceGraph:
    """A directed graph of `kind:name` nodes, each edge carrying a small dict (`via`, or
    `edge` for a ServiceEdge). The method names follow networkx's DiGraph."""

    __slots__ = ("_nodes", "_pred", "_succ")

    def __init__(self) -> None:
        self._nodes: dict[str, dict[str, str]] = {}
        self._succ: dict[str, dict[str, EdgeData]] = {}
        self._pred: dict[str, dict[str, EdgeData]] = {}

    def add_node(self, n: str, **attrs: str) -> None:
        if n not in self._nodes:
            self._nodes[n] = {}
            self._succ[n] = {}
            self._pred[n] = {}
        self._nodes[n].update(attrs)

    def add_edge(self, u: str, v: str, **data: Any) -> None:
        """Adds missing nodes; a second edge between u and v updates the first's data."""
        for n in (u, v):
            if n not in self._nodes:
                kind, name = split(n)
                self.add_node(n, kind=kind, name=name)
        edge = self._succ[u].get(v)
        if edge is None:
            edge = self._succ[u][v] = self._pred[v][u] = {}
        edge.update(data)

    @property
    def nodes(self) -> dict[str, dict[str, str]]:
        return self._nodes

    @property
    def edges(self) -> dict[tuple[str, str], EdgeData]:
        return {(u, v): data for u, out in self._succ.items() for v, data in out.items()}

    def has_edge(self, u: str, v: str) -> bool:
        return v in self._succ.get(u, {})

    def get_edge_data(self, u: str, v: str) -> EdgeData | None:
        return self._succ.get(u, {}).get(v)

    def predecessors(self, n: str) -> Iterator[str]:
        return iter(self._pred[n])

    def successors(self, n: str) -> Iterator[str]:
        return iter(self._succ[n])

    def services(self) -> ResourceGraph:
        """Only the services and the edges between them."""
        sub = ResourceGraph()
        for n, attrs in self._nodes.items():
            if n.startswith("service:"):
                sub.add_node(n, **attrs)
        for u in sub._nodes:
            for v, data in self._succ[u].items():
                if v in sub._nodes:
                    sub._succ[u][v] = sub._pred[v][u] = data
        return sub


def node(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def split(node_id: str) -> tuple[str, str]:
    kind, _, name = node_id.partition(":")
    return kind, name


@dataclass(frozen=True, slots=True)
class ServiceEdge:
    """Why one service waits for another."""

    via: str  # depends_on, network_mode, volumes_from, links
    condition: str = "service_started"
    restart: bool = False
    required: bool = True
    # Set on a depends_on edge when the dependent also shares the dependency's namespace
    # ("network_mode" or "volumes_from"): the wait keeps the depends_on condition, and a
    # recreate of the dependency recreates the dependent.
    shares: str | None = None


def _share(g: ResourceGraph, dependency: str, dependent: str, via: str) -> None:
    """An edge for `network_mode: service:x` or `volumes_from: [x]`, merged into a depends_on
    edge between the same services rather than replacing it (and its condition)."""
    data = g.get_edge_data(dependency, dependent)
    existing = data.get("edge") if data else None
    if isinstance(existing, ServiceEdge) and existing.via == "depends_on":
        g.add_edge(dependency, dependent, edge=replace(existing, shares=existing.shares or via))
    elif existing is None:
        g.add_edge(dependency, dependent, edge=ServiceEdge(via, restart=True))


def build_graph(stack: Stack, source: SourceMap | None = None) -> ResourceGraph:
    """Every resource of the stack and every edge between them; a service cycle is an error."""
    with collector_paused():  # stackup.gcpause: linear in the stack's size
        return _build_graph(stack, source)


def _build_graph(stack: Stack, source: SourceMap | None) -> ResourceGraph:
    g = ResourceGraph()
    for kind, names in (
        ("network", stack.networks),
        ("volume", stack.volumes),
        ("secret", stack.secrets),
        ("config", stack.configs),
    ):
        for name in names:
            g.add_node(node(kind, name), kind=kind, name=name)
    for name in stack.services:
        g.add_node(node("service", name), kind="service", name=name)
    for name, service in stack.services.items():
        me = node("service", name)
        for net in service.networks:
            g.add_edge(node("network", net), me, via="networks")
        for vol in service.volumes:
            if vol.type == "volume" and vol.source and vol.source in stack.volumes:
                g.add_edge(node("volume", vol.source), me, via="volumes")
        for ref in service.secrets:
            g.add_edge(node("secret", ref.source), me, via="secrets")
        for ref in service.configs:
            g.add_edge(node("config", ref.source), me, via="configs")
        for dep, cond in service.depends_on.items():
            if dep in stack.services:
                g.add_edge(
                    node("service", dep),
                    me,
                    edge=ServiceEdge("depends_on", cond.condition, cond.restart, cond.required),
                )
        mode = service.network_mode or ""
        if mode.startswith("service:"):
            _share(g, node("service", mode[8:]), me, "network_mode")
        for ref in service.volumes_from:
            other = ref.split(":")[0]
            if other in stack.services:
                _share(g, node("service", other), me, "volumes_from")
        for link in service.links:
            other = link.split(":")[0]
            if other in stack.services and not g.has_edge(node("service", other), me):
                g.add_edge(node("service", other), me, edge=ServiceEdge("links"))
    _refuse_cycles(g, source)
    return g


def find_cycle(g: ResourceGraph) -> list[str] | None:
    """One cycle as its nodes in edge direction (each an edge to the next, the last to the
    first), or None. Depth-first from each node in insertion order, iteratively: a long
    depends_on chain must not hit Python's recursion limit."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in g.nodes:
        if root in state:
            continue
        path = [root]
        state[root] = 1
        stack = [iter(g.successors(root))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(g.successors(child)))
    return None


def _refuse_cycles(g: ResourceGraph, source: SourceMap | None) -> None:
    services = g.services()
    cycle = find_cycle(services)
    if cycle is None:
        return
    # Printed in depends_on direction ("web -> api": web depends on api), starting at the
    # alphabetically first service, for a stable message.
    names = [split(u)[1] for u in cycle][::-1]
    first = names.index(min(names))
    names = names[first:] + names[:first]
    path = " -> ".join([*names, names[0]])
    mark = None
    where: str | None = None
    for dependent, dep in zip(names, names[1:] + names[:1], strict=True):
        data = services.get_edge_data(node("service", dep), node("service", dependent))
        assert data is not None
        edge: ServiceEdge = data["edge"]
        # The dependent names its dependency, so the entry is written under the dependent.
        key = {
            "depends_on": ("services", dependent, "depends_on", dep),
            "network_mode": ("services", dependent, "network_mode"),
            "volumes_from": ("services", dependent, "volumes_from"),
            "links": ("services", dependent, "links"),
        }[edge.via]
        found = source.key(key) if source is not None else None
        if where is None or found is not None:
            where = ".".join(key)
        if found is not None:
            mark = found
            break
    raise DependencyCycleError(
        f"dependency cycle: {path}",
        file=mark.file if mark else None,
        line=mark.line if mark else None,
        column=mark.column if mark else None,
        path=where,
        hint="a service cannot wait for itself; remove one depends_on entry of the cycle",
    )


def service_graph(g: ResourceGraph) -> ResourceGraph:
    """Only the services and the edges between them."""
    return g.services()


def dependencies(g: ResourceGraph, service: str) -> list[tuple[str, ServiceEdge]]:
    """The services `service` waits for, by name."""
    out = []
    for pred in g.predecessors(node("service", service)):
        kind, name = split(pred)
        if kind == "service":
            out.append((name, g._pred[node("service", service)][pred]["edge"]))
    return sorted(out, key=lambda pair: pair[0])


def dependents(g: ResourceGraph, service: str) -> list[tuple[str, ServiceEdge]]:
    out = []
    for succ in g.successors(node("service", service)):
        kind, name = split(succ)
        if kind == "service":
            out.append((name, g._succ[node("service", service)][succ]["edge"]))
    return sorted(out, key=lambda pair: pair[0])


def _waiting(services: ResourceGraph) -> dict[str, int]:
    return {n: sum(1 for _ in services.predecessors(n)) for n in services.nodes}


def start_waves(g: ResourceGraph) -> list[list[str]]:
    """Services grouped into waves: each wave needs only services of earlier waves."""
    services = g.services()
    waiting = _waiting(services)
    wave = [n for n, count in waiting.items() if count == 0]
    waves = []
    while wave:
        waves.append(sorted(split(n)[1] for n in wave))
        ready = []
        for n in wave:
            for succ in services.successors(n):
                waiting[succ] -= 1
                if waiting[succ] == 0:
                    ready.append(succ)
        wave = ready
    return waves


def waves_text(g: ResourceGraph) -> str:
    """The start waves as `stackup graph` prints them (`wave 1: db, cache`, then `web (after
    db healthy)`), names with their controls escaped: the CLI prints it, the page shows it."""
    lines = []
    for i, wave in enumerate(start_waves(g), start=1):
        parts = []
        for name in wave:
            deps = dependencies(g, name)
            if deps:
                after = ", ".join(_dependency_text(d, e) for d, e in deps)
                parts.append(f"{terminal(name)} (after {after})")
            else:
                parts.append(terminal(name))
        lines.append(f"wave {i}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def _dependency_text(name: str, edge: ServiceEdge) -> str:
    name = terminal(name)
    if edge.via == "depends_on" and edge.condition != "service_started":
        return f"{name} {edge.condition.removeprefix('service_')}"
    if edge.via != "depends_on":
        return f"{name} via {edge.via}"
    return name


def start_order(g: ResourceGraph) -> list[str]:
    """One stable topological order of the services: of those ready, the first by name
    (networkx's lexicographical_topological_sort)."""
    services = g.services()
    waiting = _waiting(services)
    ready = [n for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(split(n)[1])
        for succ in services.successors(n):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                heapq.heappush(ready, succ)
    return order


def ancestors(g: ResourceGraph, start: str) -> set[str]:
    """Every node with a path to `start`."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for pred in g.predecessors(todo.pop()):
            if pred not in seen:
                seen.add(pred)
                todo.append(pred)
    return seen


def with_dependencies(g: ResourceGraph, selected: Iterable[str]) -> set[str]:
    """The selected services plus everything they transitively depend on (as `up web` does)."""
    out: set[str] = set()
    services = g.services()
    for name in selected:
        out.add(name)
        out.update(split(n)[1] for n in ancestors(services, node("service", name)))
    return out


def to_dot(g: ResourceGraph, project: str) -> str:
    """Graphviz DOT: services as boxes, networks as ellipses, volumes as cylinders."""
    shapes = {
        "service": "box",
        "network": "ellipse",
        "volume": "cylinder",
        "secret": "note",
        "config": "note",
    }
    lines = [
        f'digraph "{dot_string(project)}" {{',
        "  rankdir=LR;",
        '  node [fontname="Helvetica"];',
    ]
    for n in sorted(g.nodes):
        kind, name = split(n)
        lines.append(
            f'  "{dot_string(n)}" [label="{dot_string(name)}", shape={shapes.get(kind, "box")}];'
        )
    # `g.edges` builds its dictionary on each access: once, not once per edge (quadratic).
    edges = g.edges
    for u, v in sorted(edges):
        edge = edges[u, v].get("edge")
        attrs = ""
        if isinstance(edge, ServiceEdge):
            label = edge.condition.replace("service_", "") if edge.via == "depends_on" else edge.via
            attrs = f' [label="{label}"{", style=dashed" if not edge.required else ""}]'
        else:
            attrs = " [style=dotted, arrowhead=none]"
        lines.append(f'  "{dot_string(u)}" -> "{dot_string(v)}"{attrs};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: ResourceGraph) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    shape = {
        "service": ("[", "]"),
        "network": ("((", "))"),
        "volume": ("[(", ")]"),
        "secret": ("[/", "/]"),
        "config": ("[/", "/]"),
    }
    lines = ["graph LR"]
    for n in sorted(g.nodes):
        kind, name = split(n)
        left, right = shape.get(kind, ("[", "]"))
        lines.append(f'  {ids[n]}{left}"{kind}: {mermaid_label(name)}"{right}')
    edges = g.edges
    for u, v in sorted(edges):
        edge = edges[u, v].get("edge")
        if isinstance(edge, ServiceEdge):
            label = edge.condition.replace("service_", "") if edge.via == "depends_on" else edge.via
            lines.append(f"  {ids[u]} -->|{label}| {ids[v]}")
        else:
            lines.append(f"  {ids[u]} -.- {ids[v]}")
    return "\n".join(lines) + "\n"
