"""`plan_down` and `plan_lifecycle`: which containers, in which order, with which cause."""

from orchestrator.loader import LoadOptions, load_stack
from orchestrator.observed import ObservedContainer, ObservedNetwork, ObservedStack, ObservedVolume
from orchestrator.planner import DownOptions, OpType, plan_down, plan_lifecycle


def _stack(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "name: demo\nservices:\n  db: {image: x}\n  web: {image: x, depends_on: [db]}\n"
        "  worker: {image: x, depends_on: [db]}\nvolumes:\n  data: {}\n")
    return load_stack(LoadOptions(cwd=str(tmp_path), environ={})).stack


def _container(service, state="running"):
    return ObservedContainer(id=f"id-{service}", name=f"demo-{service}-1", service=service, number=1,
                             config_hash="v1:x", state=state)


OBSERVED = ObservedStack(
    name="demo",
    containers=(_container("db"), _container("web"), _container("worker", "exited"), _container("old")),
    networks=(ObservedNetwork(id="n1", name="demo_default", key="default", config_hash=None),),
    volumes=(ObservedVolume(name="demo_data", key="data", config_hash=None),))


def test_plan_down_removes_dependents_before_dependencies_then_networks(tmp_path):
    plan = plan_down(OBSERVED, _stack(tmp_path), DownOptions(remove_orphans=True))
    ops = {op.target: op for op in plan.operations}
    assert set(ops["demo-db-1"].depends_on) == {"remove-container:demo-web-1", "remove-container:demo-worker-1"}
    assert ops["demo-old-1"].cause == "service no longer declared"
    assert ops["demo_default"].type is OpType.REMOVE_NETWORK
    assert "demo_data" not in ops
    with_volumes = plan_down(OBSERVED, _stack(tmp_path), DownOptions(volumes=True, remove_orphans=True))
    assert any(op.type is OpType.REMOVE_VOLUME and op.target == "demo_data" for op in with_volumes.operations)


def test_plan_lifecycle_only_touches_containers_the_verb_applies_to(tmp_path):
    stack = _stack(tmp_path)
    stop = plan_lifecycle(OpType.STOP_CONTAINER, OBSERVED, stack)
    assert {op.target for op in stop.operations} == {"demo-db-1", "demo-web-1", "demo-old-1"}
    start = plan_lifecycle(OpType.START_CONTAINER, OBSERVED, stack, ("worker",))
    assert [op.render() for op in start.operations] == ["start demo-worker-1: asked to start"]


def test_plan_down_keeps_orphans_and_their_networks_unless_asked(tmp_path):
    orphan = ObservedContainer(id="id-old", name="demo-old-1", service="old", number=1, config_hash=None,
                               state="running", networks=("demo_default",))
    observed = ObservedStack(name="demo", containers=(_container("db"), orphan), networks=OBSERVED.networks)
    plan = plan_down(observed, _stack(tmp_path))
    assert [op.target for op in plan.operations] == ["demo-db-1"]
    assert plan.warnings == ("network demo_default is still used by containers of services no longer declared; "
                             "remove them with --remove-orphans",)


def test_plan_down_removes_images_only_when_asked_and_only_those_held(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "name: demo\nservices:\n  db: {image: 'pg:16'}\n  app: {build: .}\n"
        "  tagged: {build: ., image: 'me/tagged:1'}\n  gone: {image: 'not-pulled:1'}\n")
    stack = load_stack(LoadOptions(cwd=str(tmp_path), environ={})).stack
    from orchestrator.frozen import FrozenMap
    observed = ObservedStack(name="demo", containers=(_container("db"),), images=FrozenMap(
        {"pg:16": "sha256:1", "demo-app": "sha256:2", "me/tagged:1": "sha256:3"}))
    assert not [op for op in plan_down(observed, stack).operations if op.type is OpType.REMOVE_IMAGE]
    every = plan_down(observed, stack, DownOptions(rmi="all"))
    images = [op for op in every.operations if op.type is OpType.REMOVE_IMAGE]
    assert [op.render() for op in images] == [
        "remove image demo-app: stack taken down (--rmi all)",
        "remove image me/tagged:1: stack taken down (--rmi all)",
        "remove image pg:16: stack taken down (--rmi all)"]
    assert all(op.depends_on == ("remove-container:demo-db-1",) for op in images)
    local = plan_down(observed, stack, DownOptions(rmi="local"))
    assert [op.render() for op in local.operations if op.type is OpType.REMOVE_IMAGE] == [
        "remove image demo-app: built by the stack (--rmi local)"]
