"""The executor's ordering rules, on a recording engine (the real engine is exercised by
tests/integration/test_reconcile_dockerd.py)."""

import threading

from orchestrator.engine_spec import ContainerSpec
from orchestrator.executor import ExecuteOptions, execute
from orchestrator.model import FrozenMap, Network, Stack
from orchestrator.planner import Operation, OpType, Plan
from orchestrator.progress import ListSink, Status
from runtime import errdefs


class RecordingEngine:
    """Records calls; `fail` maps a method name to the error it raises."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}
        self.lock = threading.Lock()

    def __getattr__(self, name):
        def call(*args, **kwargs):
            with self.lock:
                self.calls.append((name, args))
            if name in self.fail:
                raise self.fail[name]
            return {"Id": f"new-{args[1] if len(args) > 1 else ''}"} if name == "create_container" else None
        return call


def _op(op_type, target, depends_on=(), observed_id=None):
    return Operation(id=f"{op_type.value}:{target}", type=op_type, target=target, cause="test",
                     service=target.split("-")[1] if "-" in target else None, number=1,
                     depends_on=tuple(depends_on), observed_id=observed_id)


def _spec(op):
    return ContainerSpec(op.target, {"Image": "x"}, ())


STACK = Stack(name="demo", project_dir="/demo")


def test_executor_recreate_creates_before_touching_the_old_container():
    engine = RecordingEngine()
    op = _op(OpType.RECREATE_CONTAINER, "demo-web-1", observed_id="old123")
    outcome = execute(Plan(stack="demo", operations=(op,)), engine=engine, stack=STACK, spec_for=_spec)
    assert outcome.ok
    assert [c[0] for c in engine.calls] == ["create_container", "stop_container", "remove_container",
                                           "rename_container", "start_container"]


def test_executor_failed_create_leaves_the_old_container_running():
    engine = RecordingEngine(fail={"create_container": errdefs.Conflict("name in use")})
    op = _op(OpType.RECREATE_CONTAINER, "demo-web-1", observed_id="old123")
    outcome = execute(Plan(stack="demo", operations=(op,)), engine=engine, stack=STACK, spec_for=_spec)
    assert outcome.failed == {op.id: "failed: name in use"}
    assert [c[0] for c in engine.calls] == ["create_container"]


def test_executor_skips_dependents_of_a_failed_operation_with_a_cause():
    engine = RecordingEngine(fail={"create_container": errdefs.InvalidArgument("bad image")})
    db = _op(OpType.CREATE_CONTAINER, "demo-db-1")
    web = _op(OpType.CREATE_CONTAINER, "demo-web-1", depends_on=[db.id])
    sink = ListSink()
    outcome = execute(Plan(stack="demo", operations=(db, web)), engine=engine, stack=STACK,
                      spec_for=_spec, sink=sink)
    assert outcome.results[web.id] == f"skipped: {db.id} did not succeed"
    assert any(e.status is Status.SKIPPED and e.target == "container demo-web-1" for e in sink.events)
    assert len([c for c in engine.calls if c[0] == "create_container"]) == 1


def test_executor_runs_independent_operations_and_respects_order():
    engine = RecordingEngine()
    net = Operation(id="create-network:demo_default", type=OpType.CREATE_NETWORK, target="demo_default",
                    cause="declared", resource="default")
    ops = [_op(OpType.START_CONTAINER, f"demo-s{i}-1", depends_on=[net.id], observed_id=f"c{i}") for i in range(5)]
    stack = Stack(name="demo", project_dir="/demo",
                  networks=FrozenMap({"default": Network(name="demo_default")}))
    outcome = execute(Plan(stack="demo", operations=(net, *ops)), engine=engine, stack=stack,
                      spec_for=_spec, options=ExecuteOptions(parallel=3))
    assert outcome.ok
    assert engine.calls[0][0] == "create_network"
    assert sorted(c[1][0] for c in engine.calls[1:]) == [f"c{i}" for i in range(5)]


class StartGate(RecordingEngine):
    """`start_container(first)` returns only once `create_container(second)` was called (or
    after a timeout), so the test tells whether a dependent was created early."""

    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second
        self.second_created = threading.Event()

    def __getattr__(self, name):
        call = super().__getattr__(name)
        if name == "create_container":
            def create(body, name=None):
                if name == self.second:
                    self.second_created.set()
                return call(body, name)
            return create
        if name == "start_container":
            def start(container):
                if container == f"new-{self.first}":
                    self.second_created.wait(timeout=2)
                return call(container)
            return start
        return call


def _chain_stack(**dependent):
    from orchestrator.model import Service
    return Stack(name="demo", project_dir="/demo",
                 services=FrozenMap({"db": Service(name="db", image="x"),
                                     "web": Service(name="web", image="x", **dependent)}))


def _chain_ops():
    db = _op(OpType.CREATE_CONTAINER, "demo-db-1")
    web = _op(OpType.CREATE_CONTAINER, "demo-web-1", depends_on=[db.id])
    return db, web


def test_executor_creates_a_dependent_before_its_dependency_has_started():
    engine = StartGate("demo-db-1", "demo-web-1")
    db, web = _chain_ops()
    outcome = execute(Plan(stack="demo", operations=(db, web)), engine=engine, stack=_chain_stack(), spec_for=_spec)
    assert outcome.ok
    calls = [(c[0], c[1][-1]) for c in engine.calls]
    # web exists before db is started, but starts only after it.
    assert calls.index(("create_container", "demo-web-1")) < calls.index(("start_container", "new-demo-db-1"))
    assert calls.index(("start_container", "new-demo-db-1")) < calls.index(("start_container", "new-demo-web-1"))


def test_executor_creates_a_namespace_joiner_only_after_its_donor_started():
    engine = StartGate("demo-db-1", "demo-web-1")
    db, web = _chain_ops()
    outcome = execute(Plan(stack="demo", operations=(db, web)), engine=engine,
                      stack=_chain_stack(network_mode="service:db"), spec_for=_spec)
    assert outcome.ok
    calls = [(c[0], c[1][-1]) for c in engine.calls]
    assert calls.index(("start_container", "new-demo-db-1")) < calls.index(("create_container", "demo-web-1"))


def test_executor_reports_an_early_create_failure_once_and_skips_nothing_else():
    engine = RecordingEngine(fail={"create_container": errdefs.InvalidArgument("bad image")})
    db, web = _chain_ops()
    sink = ListSink()
    outcome = execute(Plan(stack="demo", operations=(db, web)), engine=engine, stack=_chain_stack(),
                      spec_for=_spec, sink=sink)
    assert outcome.results[db.id] == "failed: bad image"
    assert outcome.results[web.id] in ("failed: bad image", f"skipped: {db.id} did not succeed")
    errors = [e for e in sink.events if e.status is Status.ERROR]
    assert sorted(e.target for e in errors) == sorted({e.target for e in errors})  # one error per container


class RemoveGate(RecordingEngine):
    """`remove_container(first)` returns only once `stop_container(second)` was called (or
    after a timeout): tells whether a removal waited for its dependent's removal or only its stop."""

    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second
        self.second_stopping = threading.Event()

    def __getattr__(self, name):
        call = super().__getattr__(name)
        if name == "stop_container":
            def stop(container, **kwargs):
                if container == self.second:
                    self.second_stopping.set()
                return call(container, **kwargs)
            return stop
        if name == "remove_container":
            def remove(container, **kwargs):
                if container == self.first:
                    self.second_stopping.wait(timeout=2)
                return call(container, **kwargs)
            return remove
        return call


def test_executor_stops_a_dependency_once_its_dependent_has_stopped_not_been_removed():
    engine = RemoveGate("web-id", "db-id")
    web = _op(OpType.REMOVE_CONTAINER, "demo-web-1", observed_id="web-id")
    db = _op(OpType.REMOVE_CONTAINER, "demo-db-1", depends_on=[web.id], observed_id="db-id")
    net = Operation(id="remove-network:demo_default", type=OpType.REMOVE_NETWORK, target="demo_default",
                    cause="down", depends_on=(web.id, db.id))
    outcome = execute(Plan(stack="demo", operations=(web, db, net)), engine=engine, stack=STACK, spec_for=_spec)
    assert outcome.ok
    calls = [(c[0], c[1][0]) for c in engine.calls]
    assert calls.index(("stop_container", "web-id")) < calls.index(("stop_container", "db-id"))
    assert calls.index(("stop_container", "db-id")) < calls.index(("remove_container", "web-id"))
    # The network goes only when both containers are removed.
    assert calls[-1][0] == "remove_network"


def test_executor_keeps_a_dependency_running_when_its_dependents_stop_failed():
    engine = RecordingEngine(fail={"stop_container": errdefs.Internal("engine broke")})
    web = _op(OpType.REMOVE_CONTAINER, "demo-web-1", observed_id="web-id")
    db = _op(OpType.REMOVE_CONTAINER, "demo-db-1", depends_on=[web.id], observed_id="db-id")
    outcome = execute(Plan(stack="demo", operations=(web, db)), engine=engine, stack=STACK, spec_for=_spec)
    assert outcome.results[db.id] == f"skipped: {web.id} did not succeed"
    assert [c[1][0] for c in engine.calls if c[0] == "stop_container"] == ["web-id"]
