"""The executor's `build-image` operation on a fake engine: the context goes to the engine,
its lines become progress, a failed build skips what depends on it (the real builder is
exercised by tests/integration/test_build_dockerd.py)."""

from __future__ import annotations

from orchestrator.engine_spec import BuildRequest, ContainerSpec
from orchestrator.executor import execute
from orchestrator.model import Stack
from orchestrator.planner import Operation, OpType, Plan
from orchestrator.progress import ListSink, Status

IMAGE_ID = "sha256:" + "a" * 64


class FakeBuilder:
    """An engine whose `/build` answers `messages`, and records what it was sent."""

    def __init__(self, messages):
        self.messages = messages
        self.sent: list[tuple[bytes, dict]] = []
        self.created: list[str] = []

    def build_image(self, chunks, *, params, registry_config=None):
        self.sent.append((b"".join(chunks), params))
        messages = self.messages

        class Stream:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return None

            def __iter__(self):
                return iter(messages)

        return Stream()

    def create_container(self, body, *, name=None):
        self.created.append(name)
        return {"Id": "c1"}

    def start_container(self, id):
        pass


def _plan(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    build = Operation(id="build-image:web", type=OpType.BUILD_IMAGE, target="web", cause="image demo-web not present",
                      service="web")
    create = Operation(id="create-container:demo-web-1", type=OpType.CREATE_CONTAINER, target="demo-web-1",
                       cause="not present", service="web", number=1, depends_on=(build.id,))
    return Plan(stack="demo", operations=(build, create))


def _build_for(tmp_path):
    return lambda op: BuildRequest(service=op.target, tag="demo-web", extra_tags=(), context=str(tmp_path),
                                   remote=False, dockerfile="Dockerfile", dockerfile_inline=None,
                                   params={"rm": True}, warnings=("a warning",))


def _run(tmp_path, engine):
    sink = ListSink()
    outcome = execute(_plan(tmp_path), engine=engine, stack=Stack(name="demo", project_dir=str(tmp_path)),
                      spec_for=lambda op: ContainerSpec(op.target, {"Image": "demo-web"}, ()), sink=sink,
                      build_for=_build_for(tmp_path))
    return outcome, [(e.target, e.status, e.text, e.detail) for e in sink.events]


def test_build_then_create(tmp_path) -> None:
    engine = FakeBuilder([{"stream": "Step 1/1 : FROM x\n"}, {"aux": {"ID": IMAGE_ID}}])
    outcome, events = _run(tmp_path, engine)
    assert outcome.ok and engine.created == ["demo-web-1"]
    body, params = engine.sent[0]
    assert b"Dockerfile" in body and params["t"] == ["demo-web"] and params["dockerfile"] == "Dockerfile"
    assert ("build web", Status.WARNING, "Warning", "a warning") in events
    assert ("build web", Status.WORKING, "Building", "Step 1/1 : FROM x") in events
    assert ("build web", Status.DONE, "Built", "demo-web sha256:aaaaaaaaaaaa") in events


def test_failed_build_skips_its_containers(tmp_path) -> None:
    engine = FakeBuilder([{"stream": "Step 1/1 : RUN false\n"},
                          {"errorDetail": {"message": "returned a non-zero code: 1"}}])
    outcome, events = _run(tmp_path, engine)
    assert outcome.failed == {
        "build-image:web": 'failed: building service "web" failed at step 1/1 (RUN false): returned a non-zero code: 1',
        "create-container:demo-web-1": "skipped: build-image:web did not succeed"}
    assert engine.created == []
