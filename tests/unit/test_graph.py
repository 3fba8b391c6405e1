"""graph: services, their networks and volumes, dependency edges and start/stop waves."""

from __future__ import annotations

import pytest

from orchestrator.graph import (DependencyCycleError, build_graph, dependencies, dependents,
                                network_node, start_waves, stop_waves, volume_node)
from orchestrator.loader import LoadOptions, load_stack
from orchestrator.model import Condition, Dependency, FrozenMap, Service, Stack

STACK = """
name: demo
services:
  db:
    image: postgres
    volumes: [data:/var/lib/postgresql/data]
    networks: [back]
  cache:
    image: redis
    networks: [back]
  web:
    image: app
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
    networks: [front, back]
  sidecar:
    image: busybox
    network_mode: service:web
  shell:
    image: busybox
    links: ["cache:redis"]
    volumes_from: ["db:ro"]
    ipc: service:web
    pid: service:sidecar
  lone:
    image: busybox
networks:
  front: {}
  back: {}
volumes:
  data: {}
"""


def _load(tmp_path, text: str = STACK) -> Stack:
    (tmp_path / "compose.yaml").write_text(text)
    result = load_stack(LoadOptions(cwd=str(tmp_path), environ={}))
    assert result.stack is not None
    return result.stack


def test_build_graph_nodes_have_kinds(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    kinds = dict(graph.nodes(data="kind"))
    assert kinds["web"] == "service"
    assert kinds[network_node("front")] == "network"
    assert kinds[volume_node("data")] == "volume"
    assert graph.nodes[network_node("back")]["name"] == "back"
    assert graph.has_edge(volume_node("data"), "db")
    assert graph.has_edge(network_node("back"), "web")
    assert graph.edges[network_node("default"), "lone"]["via"] == "networks"


def test_build_graph_depends_on_edges_carry_condition(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    edge = graph.edges["db", "web"]
    assert edge == {"via": "depends_on", "condition": Condition.HEALTHY, "required": True,
                    "restart": True}
    assert graph.edges["cache", "web"]["required"] is False


@pytest.mark.parametrize("source, target, via", [
    ("web", "sidecar", "network_mode"),
    ("cache", "shell", "links"),
    ("db", "shell", "volumes_from"),
    ("web", "shell", "ipc"),
    ("sidecar", "shell", "pid"),
])
def test_build_graph_implicit_edges_wait_for_started(tmp_path, source, target, via) -> None:
    edge = build_graph(_load(tmp_path)).edges[source, target]
    assert edge["via"] == via
    assert edge["condition"] is Condition.STARTED
    assert edge["required"] is True and edge["restart"] is False


def test_build_graph_one_edge_per_pair_prefers_depends_on(tmp_path) -> None:
    stack = _load(tmp_path, """
services:
  db: {image: postgres}
  web:
    image: app
    links: [db]
    depends_on: {db: {condition: service_healthy, required: false}}
""")
    edge = build_graph(stack).edges["db", "web"]
    assert edge["via"] == "depends_on" and edge["condition"] is Condition.HEALTHY
    assert edge["required"] is True  # the link needs db whatever depends_on says


def test_start_waves_dependencies_first(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    assert start_waves(graph) == [["cache", "db", "lone"], ["web"], ["sidecar"], ["shell"]]


def test_start_waves_selection_adds_transitive_dependencies(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    assert start_waves(graph, ["sidecar"]) == [["cache", "db"], ["web"], ["sidecar"]]
    assert start_waves(graph, ["lone"]) == [["lone"]]
    with pytest.raises(KeyError):
        start_waves(graph, ["nope"])


def test_stop_waves_reverse_and_selection_adds_dependents(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    assert stop_waves(graph) == [["shell"], ["sidecar"], ["web"], ["cache", "db", "lone"]]
    assert stop_waves(graph, ["web"]) == [["shell"], ["sidecar"], ["web"]]


def test_dependents_and_dependencies_are_transitive(tmp_path) -> None:
    graph = build_graph(_load(tmp_path))
    assert dependents(graph, "db") == {"web", "sidecar", "shell"}
    assert dependents(graph, "lone") == set()
    assert dependencies(graph, "sidecar") == {"web", "db", "cache"}
    with pytest.raises(KeyError):
        dependents(graph, network_node("front"))


def test_build_graph_rejects_cycles_in_hand_built_stack() -> None:
    services = FrozenMap({
        "a": Service(name="a", depends_on=FrozenMap({"b": Dependency()})),
        "b": Service(name="b", links=("c",)),
        "c": Service(name="c", network_mode="service:a"),
    })
    with pytest.raises(DependencyCycleError) as info:
        build_graph(Stack(name="x", project_dir="/x", services=services))
    assert str(info.value) == "dependency cycle detected: a -> c -> b -> a"
    assert info.value.cycle == ["a", "c", "b"]


def test_build_graph_skips_optional_dependency_on_absent_service() -> None:
    services = FrozenMap({
        "web": Service(name="web", depends_on=FrozenMap({"dbg": Dependency(required=False)})),
    })
    graph = build_graph(Stack(name="x", project_dir="/x", services=services))
    assert start_waves(graph) == [["web"]]
