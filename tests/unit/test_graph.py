"""The resource graph: edges, start waves, cycle errors with their path and location, and the
text / DOT / Mermaid renderings (also through `stackup graph`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackup.errors import DependencyCycleError
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning import graph as G

STACK = """
name: g
services:
  web:
    image: nginx:1.25
    depends_on:
      api: {condition: service_healthy}
    networks: [front]
  api:
    image: busybox:latest
    depends_on: [db]
    networks: [front, back]
    secrets: [token]
  db:
    image: busybox:latest
    volumes: ["data:/data"]
    networks: [back]
  sidecar:
    image: busybox:latest
    network_mode: service:api
  backup:
    image: busybox:latest
    volumes_from: [db]
    depends_on:
      db: {condition: service_started, required: false}
networks:
  front: {}
  back: {}
volumes:
  data: {}
secrets:
  token:
    content: abc
"""


def load(text: str, directory: Path = Path("/srv/g")) -> LoadedStack:
    return load_text(textwrap.dedent(text).lstrip(), working_dir=directory)


def test_edges_and_order() -> None:
    loaded = load(STACK)
    g = G.build_graph(loaded.stack, loaded.source)
    assert G.start_waves(g) == [["db"], ["api", "backup"], ["sidecar", "web"]]
    assert G.start_order(g) == ["db", "api", "backup", "sidecar", "web"]
    assert [(d, e.via, e.condition) for d, e in G.dependencies(g, "web")] == [
        ("api", "depends_on", "service_healthy")
    ]
    assert [(d, e.via, e.restart) for d, e in G.dependents(g, "api")] == [
        ("sidecar", "network_mode", True),
        ("web", "depends_on", False),
    ]
    # depends_on and volumes_from on the same pair: one edge that keeps the depends_on
    # condition (for the wait) and says it shares a namespace (for recreates).
    assert dict(G.dependencies(g, "backup"))["db"] == G.ServiceEdge(
        "depends_on", "service_started", restart=False, required=False, shares="volumes_from"
    )
    assert g.has_edge("network:back", "service:api")
    assert g.has_edge("volume:data", "service:db")
    assert g.has_edge("secret:token", "service:api")
    assert G.with_dependencies(g, ["web"]) == {"web", "api", "db"}


CYCLE = """
name: c
services:
  web:
    image: nginx:1.25
    depends_on: [api]
  api:
    image: busybox:latest
    depends_on:
      worker:
        condition: service_started
  worker:
    image: busybox:latest
    depends_on: [web]
"""


def test_cycle_error_names_the_path_and_where() -> None:
    loaded = load(CYCLE)
    with pytest.raises(DependencyCycleError) as info:
        G.build_graph(loaded.stack, loaded.source)
    err = info.value
    # Read as "api depends on worker, which depends on web, which depends on api".
    assert err.message == "dependency cycle: api -> worker -> web -> api"
    assert (err.file, err.line, err.column) == ("stack.yaml", 9, 7)
    assert err.path == "services.api.depends_on.worker"
    assert str(err).startswith(
        "stack.yaml:9:7: services.api.depends_on.worker: dependency cycle: api -> worker -> web"
    )


def test_cycle_through_network_mode() -> None:
    loaded = load(
        """
        name: c
        services:
          a:
            image: busybox:latest
            network_mode: service:b
          b:
            image: busybox:latest
            depends_on: [a]
        """
    )
    with pytest.raises(DependencyCycleError) as info:
        G.build_graph(loaded.stack, loaded.source)
    assert info.value.message == "dependency cycle: a -> b -> a"
    assert info.value.path == "services.a.network_mode"
    assert info.value.line == 5


def test_self_dependency_is_a_cycle() -> None:
    loaded = load("name: c\nservices:\n  a:\n    image: busybox:latest\n    depends_on: [a]\n")
    with pytest.raises(DependencyCycleError) as info:
        G.build_graph(loaded.stack, loaded.source)
    assert info.value.message == "dependency cycle: a -> a"
    assert info.value.line == 5


def test_dot_output() -> None:
    loaded = load(STACK)
    dot = G.to_dot(G.build_graph(loaded.stack, loaded.source), "g")
    assert dot.startswith('digraph "g" {\n')
    assert '  "service:api" -> "service:web" [label="healthy"];' in dot
    assert '  "service:api" -> "service:sidecar" [label="network_mode"];' in dot
    assert '  "volume:data" [label="data", shape=cylinder];' in dot
    assert '  "network:front" -> "service:web" [style=dotted, arrowhead=none];' in dot
    assert '"service:db" -> "service:backup" [label="started", style=dashed]' in dot
    assert dot.rstrip().endswith("}")


def test_mermaid_output() -> None:
    loaded = load(STACK)
    text = G.to_mermaid(G.build_graph(loaded.stack, loaded.source))
    lines = text.splitlines()
    assert lines[0] == "graph LR"
    ids = {}
    for line in lines[1:]:
        if '"' in line:
            ids[line.split('"')[1]] = line.strip().split("[")[0].split("(")[0]
    assert f"  {ids['service: api']} -->|healthy| {ids['service: web']}" in lines
    assert f"  {ids['network: back']} -.- {ids['service: db']}" in lines


def test_renderings_are_stable() -> None:
    a = load(STACK)
    shuffled = STACK.replace("  front: {}\n  back: {}\n", "  back: {}\n  front: {}\n")
    b = load(shuffled)
    ga, gb = G.build_graph(a.stack, a.source), G.build_graph(b.stack, b.source)
    assert G.to_dot(ga, "g") == G.to_dot(gb, "g")
    assert G.to_mermaid(ga) == G.to_mermaid(gb)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackup", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


def test_graph_command_text_dot_mermaid(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(textwrap.dedent(STACK), encoding="utf-8")
    text = _cli("graph", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout == (
        "wave 1: db\n"
        "wave 2: api (after db), backup (after db)\n"
        "wave 3: sidecar (after api via network_mode), web (after api healthy)\n"
    )
    dot = _cli("graph", "--format", "dot", cwd=tmp_path)
    assert dot.stdout.startswith('digraph "g"')
    mermaid = _cli("graph", "--format", "mermaid", cwd=tmp_path)
    assert mermaid.stdout.startswith("graph LR\n")
    written = _cli("graph", "-o", "g.mmd", cwd=tmp_path)
    assert written.returncode == 0
    assert (tmp_path / "g.mmd").read_text(encoding="utf-8") == mermaid.stdout


def test_graph_command_cycle_exit_1(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(textwrap.dedent(CYCLE).lstrip(), encoding="utf-8")
    result = _cli("graph", cwd=tmp_path)
    assert result.returncode == 1
    assert "stack.yaml:9:7" in result.stderr
    assert "api -> worker -> web -> api" in result.stderr
    assert "Traceback" not in result.stderr


def test_graph_svg_without_graphviz_says_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(textwrap.dedent(STACK), encoding="utf-8")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "stackup", "graph", "-o", "g.svg"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"NO_COLOR": "1", "PATH": str(empty)},
    )
    assert result.returncode == 1
    assert "apt-get install graphviz" in result.stderr


# networkx is the oracle: stackup.planning.graph keeps its own small graph (networkx's import
# cost a fifth of a no-op `up`), and each operation must agree with networkx's on any graph.
_edges = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 11)).filter(lambda e: e[0] != e[1]),
    max_size=30,
)


def _both(nodes: int, edges: list[tuple[int, int]]) -> tuple[G.ResourceGraph, nx.DiGraph[str]]:
    ours, theirs = G.ResourceGraph(), nx.DiGraph()
    for i in range(nodes):
        ours.add_node(f"service:s{i:02d}", kind="service", name=f"s{i:02d}")
        theirs.add_node(f"service:s{i:02d}")
    ours.add_node("network:net", kind="network", name="net")  # not a service: left out
    for u, v in edges:
        ours.add_edge(f"service:s{u:02d}", f"service:s{v:02d}", edge=G.ServiceEdge("depends_on"))
        ours.add_edge("network:net", f"service:s{v:02d}", via="networks")
        theirs.add_edge(f"service:s{u:02d}", f"service:s{v:02d}")
    return ours, theirs


@settings(max_examples=300, deadline=None)
@given(_edges)
def test_orders_ancestors_and_cycles_agree_with_networkx(edges: list[tuple[int, int]]) -> None:
    ours, theirs = _both(12, edges)
    cycle = G.find_cycle(ours.services())
    if not nx.is_directed_acyclic_graph(theirs):
        assert cycle is not None
        # A real cycle: every node has an edge to the next, the last to the first.
        assert all(theirs.has_edge(u, v) for u, v in zip(cycle, cycle[1:] + cycle[:1], strict=True))
        return
    assert cycle is None
    assert G.start_order(ours) == [n[8:] for n in nx.lexicographical_topological_sort(theirs)]
    assert G.start_waves(ours) == [
        sorted(n[8:] for n in w) for w in nx.topological_generations(theirs)
    ]
    for n in theirs.nodes:
        assert G.ancestors(ours.services(), n) == nx.ancestors(theirs, n)
    assert set(ours.services().edges) == set(theirs.edges)


def test_a_long_chain_is_no_recursion_problem() -> None:
    g = G.ResourceGraph()
    for i in range(5000):
        g.add_edge(f"service:s{i:05d}", f"service:s{i + 1:05d}", edge=G.ServiceEdge("depends_on"))
    assert G.find_cycle(g) is None
    assert G.start_order(g)[:2] == ["s00000", "s00001"]
    g.add_edge("service:s05000", "service:s00000", edge=G.ServiceEdge("depends_on"))
    cycle = G.find_cycle(g)
    assert cycle is not None and len(cycle) == 5001
