"""The executor: carries a `Plan` out on the engine, in parallel waves, without judgement.

Called by the CLI (`up`, `down`, `restart`, ...) after `planner.plan()`. Every decision was
made by the planner; here we only order, wait and act:
- an operation runs once every operation in its `depends_on` succeeded; when one failed, it
  is skipped with that as its cause (and so are its own dependents);
- at most `parallel` operations run at once (httpx's pool is shared by the threads);
- before an operation starts a container, each of its `waits` is awaited by following the
  engine's `/events` for that container (never by sleeping): started, healthy (failing with
  the last healthcheck output when it turns unhealthy) or exited 0;
- a recreate is create-new, stop-old, remove-old, rename, start: a failed create leaves the
  old container running;
- a new container is created as soon as what it is built from exists (its networks, volumes,
  image, and the containers whose namespaces or volumes it shares), not after its
  dependencies have started: `depends_on` orders starts, as in Docker Compose, so a chain of
  N services costs N starts in a row, not N creates and starts;
- likewise a container being removed waits only until the containers that depend on it have
  *stopped*, not until they are removed too (networks and volumes wait for the removal).
Progress goes to an `EventSink`; nothing is printed here.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from orchestrator.engine_spec import BuildRequest, ContainerSpec, network_body, volume_body
from orchestrator.model import Condition, Stack
from orchestrator.planner import Operation, OpType, Plan, Wait
from orchestrator.progress import EventSink, NullSink, ProgressEvent, Status
from runtime import errdefs

SpecFor = Callable[[Operation], ContainerSpec]
BuildFor = Callable[[Operation], BuildRequest]


# Operations mostly wait on the engine (stop timeouts, healthchecks), not on our CPU, so the
# default is well above the core count; `--parallel` overrides it.
DEFAULT_PARALLEL = 16


@dataclass(frozen=True)
class ExecuteOptions:
    parallel: int = DEFAULT_PARALLEL
    stop_timeout: int | None = None      # seconds; None: each container's own
    wait_timeout: float = 120.0          # per awaited condition
    start: bool = True                   # False: create without starting (`up --no-start`)


@dataclass
class Outcome:
    """What happened: operation id -> "done" | "failed: …" | "skipped: …"."""

    results: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for k, v in self.results.items() if not v.startswith("done")}

    @property
    def ok(self) -> bool:
        return not self.failed


class WaitFailed(Exception):
    """A dependency did not reach its condition (exited non-zero, unhealthy, timed out)."""


class _Reported(Exception):
    """An engine error of a container create, already emitted as progress."""


_CONTAINER_UP_TYPES = frozenset(t.value for t in (OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER,
                                                  OpType.START_CONTAINER, OpType.RESTART_CONTAINER))


def _shares_with_containers(service: Any) -> bool:
    modes = (service.network_mode, service.ipc, service.pid)
    return bool(service.volumes_from) or any(
        isinstance(m, str) and m.startswith(("service:", "container:")) for m in modes)


def execute(plan: Plan, *, engine: Any, stack: Stack, spec_for: SpecFor,
            sink: EventSink | None = None, options: ExecuteOptions = ExecuteOptions(),
            auth_for: Callable[[str], dict | None] = lambda _ref: None,
            build_for: BuildFor | None = None) -> Outcome:
    """Run every operation of `plan`; returns what happened to each (never raises for one).

    `auth_for(image reference)` gives the registry credentials of a pull (read by the caller);
    `build_for(build-image operation)` the build request (default: `engine_spec.build_request`
    of the operation's service, with this process's environment for its build args).
    """
    runner = _Runner(engine, stack, spec_for, sink or NullSink(), options, auth_for)
    runner.build_for = build_for or _default_build_for(stack)
    return runner.run(plan)


def _default_build_for(stack: Stack) -> BuildFor:
    import os

    from orchestrator.engine_spec import build_request

    # Build args declared without a value (`args: [FOO]`) take this process's variable, as
    # docker compose does; the CLI passes its own `build_for` with the docker credentials.
    return lambda op: build_request(stack, stack.services[op.target], environ=os.environ)


class _Runner:
    def __init__(self, engine: Any, stack: Stack, spec_for: SpecFor, sink: EventSink,
                 options: ExecuteOptions, auth_for: Callable[[str], dict | None]):
        self.engine = engine
        self.auth_for = auth_for
        self.stack = stack
        self.spec_for = spec_for
        self.sink = sink
        self.options = options
        # Early creates (see `_early_dependencies`): create-op id -> future of the new id.
        self.precreated: dict[str, Future] = {}
        # Remove-container op id -> future set once its container has stopped.
        self.stopped: dict[str, Future] = {}
        # Containers this run has started: `service_started` holds for them without asking.
        self.started: set[str] = set()
        self.actions: dict[OpType, Callable[[Operation], None]] = {
            OpType.CREATE_NETWORK: self.create_network,
            OpType.RECREATE_NETWORK: self.recreate_network,
            OpType.REMOVE_NETWORK: self.remove_network,
            OpType.CREATE_VOLUME: self.create_volume,
            OpType.REMOVE_VOLUME: self.remove_volume,
            OpType.PULL_IMAGE: self.pull_image,
            OpType.BUILD_IMAGE: self.build_image,
            OpType.CREATE_CONTAINER: self.create_container,
            OpType.RECREATE_CONTAINER: self.recreate_container,
            OpType.START_CONTAINER: self.start_container,
            OpType.RESTART_CONTAINER: self.restart_container,
            OpType.STOP_CONTAINER: self.stop_container,
            OpType.REMOVE_CONTAINER: self.remove_container,
            OpType.REMOVE_IMAGE: self.remove_image,
        }

    # ---- scheduling --------------------------------------------------------------------

    def run(self, plan: Plan) -> Outcome:
        outcome = Outcome()
        pending = list(plan.operations)
        planned = {op.id for op in pending}
        early = {op.id: self._early_dependencies(op) for op in pending}
        early = {k: v for k, v in early.items() if v is not None}
        self.stopped = {op.id: Future() for op in pending if op.type is OpType.REMOVE_CONTAINER}

        def settled(op: Operation, dependency: str) -> bool:
            if dependency not in planned or dependency in outcome.results:
                return True
            stop = self.stopped.get(dependency)
            return op.type is OpType.REMOVE_CONTAINER and stop is not None and stop.done()

        running: dict[Future, Operation] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            while pending or running:
                for op in list(pending):
                    # An early create is submitted before the operations that will wait for
                    # it, so the pool's queue order rules out a deadlock.
                    deps = early.get(op.id)
                    if deps is None or any(d in planned and d not in outcome.results for d in deps):
                        continue
                    del early[op.id]
                    if all(outcome.results.get(d, "done").startswith("done") for d in deps):
                        self.precreated[op.id] = pool.submit(self._create, op)
                for op in list(pending):
                    # Ready once every dependency in this plan has a result (or, between
                    # removals, has stopped its container).
                    if not all(settled(op, d) for d in op.depends_on):
                        continue
                    pending.remove(op)
                    failed = [d for d in op.depends_on if not outcome.results.get(d, "done").startswith("done")]
                    if failed:
                        outcome.results[op.id] = f"skipped: {failed[0]} did not succeed"
                        self.emit(op, Status.SKIPPED, "Skipped", f"{_name(failed[0])} did not succeed")
                        continue
                    running[pool.submit(self.run_one, op)] = op
                if not running:
                    if pending:  # only a dependency cycle can leave work nobody may start
                        for op in pending:
                            outcome.results[op.id] = "skipped: circular dependency"
                        pending.clear()
                    continue
                stops = [self.stopped[op.id] for op in running.values()
                         if op.id in self.stopped and not self.stopped[op.id].done()]
                done, _ = wait(list(running) + stops, return_when=FIRST_COMPLETED)
                for future in done:
                    if future in running:
                        op = running.pop(future)
                        outcome.results[op.id] = future.result()
        return outcome

    def run_one(self, op: Operation) -> str:
        try:
            self.actions[op.type](op)
        except _Reported as exc:  # already shown by the early create
            return f"failed: {exc.__cause__}"
        except (errdefs.StackyardError, WaitFailed, ValueError) as exc:
            self.emit(op, Status.ERROR, "Error", str(exc))
            return f"failed: {exc}"
        return "done"

    def emit(self, op: Operation, status: Status, text: str, detail: str = "") -> None:
        kind = "build" if op.type is OpType.BUILD_IMAGE else op.type.value.split("-", 1)[1]
        self.sink.emit(ProgressEvent(f"{kind} {op.target}", status, text, detail))

    # ---- networks and volumes ------------------------------------------------------------

    def create_network(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Creating", op.cause)
        self._create_network(op)
        self.emit(op, Status.DONE, "Created")

    def _create_network(self, op: Operation) -> None:
        network = self.stack.networks[op.resource]
        self.engine.create_network(network_body(self.stack, op.resource, network,
                                                config_hash=op.config_hash or "", config=op.config or ""))

    def recreate_network(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Recreating", op.cause)
        try:
            info = self.engine.inspect_network(op.observed_id or op.target)
        except errdefs.NotFound:
            info = {}
        for container in (info.get("Containers") or {}):
            self.engine.disconnect_network(op.target, container, force=True)
        if info:
            self.engine.remove_network(info.get("Id") or op.target)
        self._create_network(op)
        self.emit(op, Status.DONE, "Recreated")

    def remove_image(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Removing", op.cause)
        try:
            _ignore_missing(self.engine.remove_image, op.target)
        except errdefs.Conflict as exc:  # still used outside the stack: kept, as Compose does
            self.emit(op, Status.WARNING, "Kept", str(exc))
            return
        self.emit(op, Status.DONE, "Removed")

    def remove_network(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Removing", op.cause)
        _ignore_missing(self.engine.remove_network, op.observed_id or op.target)
        self.emit(op, Status.DONE, "Removed")

    def create_volume(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Creating", op.cause)
        volume = self.stack.volumes[op.resource]
        self.engine.create_volume(volume_body(self.stack, op.resource, volume,
                                              config_hash=op.config_hash or "", config=op.config or ""))
        self.emit(op, Status.DONE, "Created")

    def remove_volume(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Removing", op.cause)
        _ignore_missing(self.engine.remove_volume, op.target)
        self.emit(op, Status.DONE, "Removed")

    def pull_image(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Pulling", op.cause)
        for progress in self.engine.pull_image(op.target, auth=self.auth_for(op.target)):
            status = progress.get("status")
            if status and progress.get("id"):
                self.sink.emit(ProgressEvent(f"image {op.target}", Status.WORKING, status, progress["id"]))
        self.emit(op, Status.DONE, "Pulled")

    def build_image(self, op: Operation) -> None:
        """Build with the engine's builder (engine/build.py); every output line is progress."""
        # Imported here: most runs build nothing, and the CLI's start-up time counts.
        from orchestrator.engine.build import build_image

        self.emit(op, Status.WORKING, "Building", op.cause)
        request = self.build_for(op)
        for warning in request.warnings:
            self.emit(op, Status.WARNING, "Warning", warning)
        image_id = build_image(self.engine, request, on_line=lambda line: self.emit(
            op, Status.WORKING, "Building", line))
        self.emit(op, Status.DONE, "Built", f"{request.tag} {image_id[:19]}")

    # ---- containers ----------------------------------------------------------------------

    def create_container(self, op: Operation) -> None:
        early = self.precreated.get(op.id)
        created = early.result() if early is not None else self._create(op)
        if self.options.start:
            self._start(op, created)

    def _create(self, op: Operation) -> str:
        self.emit(op, Status.WORKING, "Creating", op.cause)
        spec = self.spec_for(op)
        try:
            created = self.engine.create_container(spec.body, name=spec.name)
            self._connect_extra(created["Id"], spec)
        except errdefs.StackyardError as exc:
            self.emit(op, Status.ERROR, "Error", str(exc))
            raise _Reported(exc) from exc
        self.emit(op, Status.DONE, "Created")
        return created["Id"]

    def _early_dependencies(self, op: Operation) -> tuple[str, ...] | None:
        """What a new container must wait for before it can be created, when that is less
        than what it waits for before it starts; None when it is created in its turn.

        Its dependencies' containers need only exist first when it joins their namespaces or
        takes their volumes (`network_mode`/`ipc`/`pid: service:x`, `volumes_from`); then it is
        created in its turn, as are replacements (a recreate stops the old container)."""
        if op.type is not OpType.CREATE_CONTAINER or not self.options.start or not op.depends_on:
            return None
        service = self.stack.services.get(op.service or "")
        if service is None or _shares_with_containers(service):
            return None
        deps = tuple(d for d in op.depends_on if d.split(":", 1)[0] not in _CONTAINER_UP_TYPES)
        return deps if len(deps) < len(op.depends_on) else None

    def recreate_container(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Recreating", op.cause)
        spec = self.spec_for(op)
        # Create first, under a temporary name: if that fails, the old container keeps running.
        temporary = f"{(op.observed_id or 'new')[:12]}_{spec.name}"
        created = self.engine.create_container(spec.body, name=temporary)
        if op.observed_id:
            self.engine.stop_container(op.observed_id, timeout=self.options.stop_timeout)
            self.engine.remove_container(op.observed_id, force=True)
        self.engine.rename_container(created["Id"], spec.name)
        self._connect_extra(created["Id"], spec)
        self.emit(op, Status.DONE, "Recreated")
        if self.options.start:
            self._start(op, created["Id"])

    def start_container(self, op: Operation) -> None:
        self._start(op, op.observed_id or op.target)

    def restart_container(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Restarting", op.cause)
        self._await(op)
        self.engine.restart_container(op.observed_id or op.target, timeout=self.options.stop_timeout)
        self.emit(op, Status.DONE, "Restarted")

    def stop_container(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Stopping", op.cause)
        _ignore_missing(self.engine.stop_container, op.observed_id or op.target, timeout=self.options.stop_timeout)
        self.emit(op, Status.DONE, "Stopped")

    def remove_container(self, op: Operation) -> None:
        self.emit(op, Status.WORKING, "Removing", op.cause)
        target = op.observed_id or op.target
        _ignore_missing(self.engine.stop_container, target, timeout=self.options.stop_timeout)
        self.stopped[op.id].set_result(True)
        _ignore_missing(self.engine.remove_container, target, force=True)
        self.emit(op, Status.DONE, "Removed")

    def _start(self, op: Operation, container: str) -> None:
        self._await(op)
        self.emit(op, Status.WORKING, "Starting")
        self.engine.start_container(container)
        self.started.add(op.target)
        self.emit(op, Status.DONE, "Started")

    def _connect_extra(self, container: str, spec: ContainerSpec) -> None:
        for network, endpoint in spec.extra_networks:
            self.engine.connect_network(network, container, endpoint_config=endpoint)

    # ---- waiting on conditions -------------------------------------------------------------

    def _await(self, op: Operation) -> None:
        for condition in op.waits:
            if condition.condition is Condition.STARTED and condition.container in self.started:
                continue  # started by this run (a one-shot that already ended counts too)
            try:
                self.emit(op, Status.WORKING, f"Waiting for {condition.container}",
                          condition.condition.value)
                await_condition(self.engine, condition, timeout=self.options.wait_timeout)
            except WaitFailed as exc:
                if condition.required:
                    raise
                self.emit(op, Status.WARNING, "Dependency not ready", str(exc))


def await_condition(engine: Any, condition: Wait, *, timeout: float) -> None:
    """Return once `condition` holds for its container; follows `/events`, never sleeps.

    Raises:
        WaitFailed: it can no longer hold (exited non-zero, unhealthy, removed) or timed out.
    """
    deadline = time.time() + timeout
    # Subscribe first, then look: an event between the two cannot be missed.
    events = engine.events(filters={"type": ["container"], "container": [condition.container]},
                           since=int(time.time()) - 1, until=int(deadline) + 1)
    try:
        if _holds(engine, condition):
            return
        for _event in events:
            if _holds(engine, condition):
                return
            if time.time() > deadline:
                break
    finally:
        events.close()
    if not _holds(engine, condition):
        raise WaitFailed(f"{condition.container} did not become {_WORDS[condition.condition]} "
                         f"within {timeout:.0f}s")


_WORDS = {Condition.STARTED: "started", Condition.HEALTHY: "healthy",
          Condition.COMPLETED_SUCCESSFULLY: "completed successfully"}


def _holds(engine: Any, condition: Wait) -> bool:
    try:
        info = engine.inspect_container(condition.container)
    except errdefs.NotFound:
        raise WaitFailed(f"{condition.container} does not exist") from None
    state = info.get("State") or {}
    if condition.condition is Condition.STARTED:
        # Running, or ran and already finished (a one-shot job counts as started).
        ever_started = not str(state.get("StartedAt", "")).startswith("0001-")
        return bool(state.get("Running")) or (state.get("Status") == "exited" and ever_started)
    if condition.condition is Condition.COMPLETED_SUCCESSFULLY:
        if state.get("Status") in ("exited", "dead"):
            if state.get("ExitCode") == 0:
                return True
            raise WaitFailed(f"{condition.container} exited with code {state.get('ExitCode')}")
        return False
    health = state.get("Health") or {}
    status = health.get("Status")
    if status == "healthy":
        return True
    if status == "unhealthy":
        log = health.get("Log") or [{}]
        output = (log[-1].get("Output") or "").strip()
        raise WaitFailed(f"{condition.container} is unhealthy" + (f": {output}" if output else ""))
    if not health:
        raise WaitFailed(f"{condition.container} has no healthcheck to become healthy with")
    if state.get("Status") in ("exited", "dead"):
        raise WaitFailed(f"{condition.container} exited with code {state.get('ExitCode')} before becoming healthy")
    return False


def _ignore_missing(call: Callable, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except (errdefs.NotFound, errdefs.NotModified):
        pass


def _name(op_id: str) -> str:
    return op_id.split(":", 1)[-1]
