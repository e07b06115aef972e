"""The stack as a dependency graph: who must exist, start or be healthy before whom.

Nodes are `kind:name` strings (`service:web`, `network:front`, `volume:data`, `secret:key`,
`config:site`); an edge runs from a dependency to its dependent, so a topological order is a
start order and its reverse is a stop order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import networkx as nx

from stackup.errors import DependencyCycleError
from stackup.gcpause import collector_paused
from stackup.loading.source import SourceMap
from stackup.model.spec import Stack

ResourceGraph = nx.DiGraph  # type alias for readers; node attrs: kind, name


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


def _share(g: nx.DiGraph[str], dependency: str, dependent: str, via: str) -> None:
    """An edge for `network_mode: service:x` or `volumes_from: [x]`, merged into a depends_on
    edge between the same services rather than replacing it (and its condition)."""
    data = g.get_edge_data(dependency, dependent)
    existing = data.get("edge") if data else None
    if isinstance(existing, ServiceEdge) and existing.via == "depends_on":
        g.add_edge(dependency, dependent, edge=replace(existing, shares=existing.shares or via))
    elif existing is None:
        g.add_edge(dependency, dependent, edge=ServiceEdge(via, restart=True))


def build_graph(stack: Stack, source: SourceMap | None = None) -> nx.DiGraph[str]:
    """Every resource of the stack and every edge between them; a service cycle is an error."""
    with collector_paused():  # stackup.gcpause: linear in the stack's size
        return _build_graph(stack, source)


def _build_graph(stack: Stack, source: SourceMap | None) -> nx.DiGraph[str]:
    g: nx.DiGraph[str] = nx.DiGraph()
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


def _refuse_cycles(g: nx.DiGraph[str], source: SourceMap | None) -> None:
    services = service_graph(g)
    try:
        cycle = nx.find_cycle(services)
    except nx.NetworkXNoCycle:
        return
    # Printed in depends_on direction ("web -> api": web depends on api), starting at the
    # alphabetically first service, for a stable message.
    names = [split(u)[1] for u, _ in cycle][::-1]
    first = names.index(min(names))
    names = names[first:] + names[:first]
    path = " -> ".join([*names, names[0]])
    mark = None
    where: str | None = None
    for dependent, dep in zip(names, names[1:] + names[:1], strict=True):
        edge: ServiceEdge = services.edges[node("service", dep), node("service", dependent)]["edge"]
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


def service_graph(g: nx.DiGraph[str]) -> nx.DiGraph[str]:
    """Only the services and the edges between them."""
    keep = [n for n in g.nodes if n.startswith("service:")]
    sub: nx.DiGraph[str] = g.subgraph(keep)
    return sub


def dependencies(g: nx.DiGraph[str], service: str) -> list[tuple[str, ServiceEdge]]:
    """The services `service` waits for, by name."""
    out = []
    for pred in g.predecessors(node("service", service)):
        kind, name = split(pred)
        if kind == "service":
            out.append((name, g.edges[pred, node("service", service)]["edge"]))
    return sorted(out, key=lambda pair: pair[0])


def dependents(g: nx.DiGraph[str], service: str) -> list[tuple[str, ServiceEdge]]:
    out = []
    for succ in g.successors(node("service", service)):
        kind, name = split(succ)
        if kind == "service":
            out.append((name, g.edges[node("service", service), succ]["edge"]))
    return sorted(out, key=lambda pair: pair[0])


def start_waves(g: nx.DiGraph[str]) -> list[list[str]]:
    """Services grouped into waves: each wave needs only services of earlier waves."""
    services = service_graph(g)
    return [sorted(split(n)[1] for n in wave) for wave in nx.topological_generations(services)]


def start_order(g: nx.DiGraph[str]) -> list[str]:
    """One stable topological order of the services (ties broken by name)."""
    services = service_graph(g)
    return [split(n)[1] for n in nx.lexicographical_topological_sort(services)]


def with_dependencies(g: nx.DiGraph[str], selected: Iterable[str]) -> set[str]:
    """The selected services plus everything they transitively depend on (as `up web` does)."""
    out: set[str] = set()
    services = service_graph(g)
    for name in selected:
        out.add(name)
        out.update(split(n)[1] for n in nx.ancestors(services, node("service", name)))
    return out


def _dot(text: str) -> str:
    """Text safe inside a DOT double-quoted string."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(g: nx.DiGraph[str], project: str) -> str:
    """Graphviz DOT: services as boxes, networks as ellipses, volumes as cylinders."""
    shapes = {
        "service": "box",
        "network": "ellipse",
        "volume": "cylinder",
        "secret": "note",
        "config": "note",
    }
    lines = [f'digraph "{_dot(project)}" {{', "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in sorted(g.nodes):
        kind, name = split(n)
        lines.append(f'  "{_dot(n)}" [label="{_dot(name)}", shape={shapes.get(kind, "box")}];')
    for u, v in sorted(g.edges):
        data = g.edges[u, v]
        edge = data.get("edge")
        attrs = ""
        if isinstance(edge, ServiceEdge):
            label = edge.condition.replace("service_", "") if edge.via == "depends_on" else edge.via
            attrs = f' [label="{label}"{", style=dashed" if not edge.required else ""}]'
        else:
            attrs = " [style=dotted, arrowhead=none]"
        lines.append(f'  "{_dot(u)}" -> "{_dot(v)}"{attrs};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: nx.DiGraph[str]) -> str:
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
        safe = "".join(c if c.isprintable() and c not in '"`<>' else "_" for c in name)
        lines.append(f'  {ids[n]}{left}"{kind}: {safe}"{right}')
    for u, v in sorted(g.edges):
        edge = g.edges[u, v].get("edge")
        if isinstance(edge, ServiceEdge):
            label = edge.condition.replace("service_", "") if edge.via == "depends_on" else edge.via
            lines.append(f"  {ids[u]} -->|{label}| {ids[v]}")
        else:
            lines.append(f"  {ids[u]} -.- {ids[v]}")
    return "\n".join(lines) + "\n"
