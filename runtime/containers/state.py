"""A container's runtime state and its transitions (pure: no I/O, no clock).

The supervisor applies these on every process event and persists the result (store.py); the
manager reads it for inspect/list. Every transition takes the time as an argument, so unit
tests drive it with a fake clock. A transition that makes no sense for the current status
raises errdefs.Conflict with Docker's wording, so the API answers 409 as Docker does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from runtime import errdefs
from runtime.containers.timefmt import ZERO_TIME, format_ns
from runtime.humanize import human_duration


class Status(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


# Statuses in which the container has processes (a cgroup that is populated).
LIVE = frozenset({Status.RUNNING, Status.PAUSED})


@dataclass(frozen=True)
class ContainerState:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    # Set by an explicit stop/kill through the API: restart policies then stand down, and
    # `unless-stopped` stays down across supervisor restarts.
    manually_stopped: bool = False
    health: dict | None = None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ContainerState":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["status"] = Status(values.get("status", "created"))
        return cls(**values)


def on_started(state: ContainerState, *, pid: int, now: int, restart: bool = False) -> ContainerState:
    """The container's init is running. Raises Conflict if it already runs."""
    if state.is_live:
        raise errdefs.Conflict("container is already running")
    if state.status in (Status.REMOVING, Status.DEAD):
        raise errdefs.Conflict("container is marked for removal and cannot be started")
    health = None if state.health is None else {"Status": "starting", "FailingStreak": 0, "Log": []}
    return dataclasses.replace(
        state, status=Status.RUNNING, pid=pid, exit_code=0, error="", oom_killed=False,
        started_at=format_ns(now), restart_count=state.restart_count + (1 if restart else 0),
        manually_stopped=False, health=health)


def on_start_failed(state: ContainerState, *, error: str, now: int, exit_code: int = 128) -> ContainerState:
    """Starting failed before the command ran. Docker records the error and 127 (command not
    found), 126 (not executable) or 128; a container that never ran stays `created`."""
    return dataclasses.replace(state, status=Status.EXITED if state.started_at != ZERO_TIME else Status.CREATED,
                               pid=0, exit_code=exit_code, error=error, finished_at=format_ns(now))


def start_failure_exit_code(error: BaseException) -> int:
    """Docker's exit code for a failed start, by error category."""
    if isinstance(error, errdefs.NotFound):
        return 127
    if isinstance(error, errdefs.PermissionDenied):
        return 126
    return 128


def on_exited(state: ContainerState, *, exit_code: int, oom_killed: bool, now: int,
              error: str = "") -> ContainerState:
    """The init exited (or the cgroup emptied, for a re-adopted container)."""
    # The health log stays as the last check left it, as in Docker's inspect of a stopped container.
    health = state.health
    return dataclasses.replace(state, status=Status.EXITED, pid=0, exit_code=exit_code,
                               oom_killed=oom_killed, finished_at=format_ns(now), error=error,
                               health=health)


def on_restarting(state: ContainerState) -> ContainerState:
    """A restart policy will start the container again after a backoff."""
    return dataclasses.replace(state, status=Status.RESTARTING)


def on_paused(state: ContainerState) -> ContainerState:
    if state.status is Status.PAUSED:
        raise errdefs.Conflict("container is already paused")
    if state.status is not Status.RUNNING:
        raise errdefs.Conflict("container is not running")
    return dataclasses.replace(state, status=Status.PAUSED)


def on_unpaused(state: ContainerState) -> ContainerState:
    if state.status is not Status.PAUSED:
        raise errdefs.Conflict("container is not paused")
    return dataclasses.replace(state, status=Status.RUNNING)


def on_stop_requested(state: ContainerState) -> ContainerState:
    """An API stop: restart policies stand down (Docker's HasBeenManuallyStopped)."""
    return dataclasses.replace(state, manually_stopped=True)


def on_dead(state: ContainerState, *, error: str, now: int) -> ContainerState:
    """The supervisor could not recover the container (after its own restart)."""
    return dataclasses.replace(state, status=Status.DEAD, pid=0, error=error, finished_at=format_ns(now))


def on_removing(state: ContainerState, *, force: bool) -> ContainerState:
    if state.is_live and not force:
        verb = "paused" if state.status is Status.PAUSED else "running"
        raise errdefs.Conflict(f"cannot remove a {verb} container: stop the container before removing or force remove")
    return dataclasses.replace(state, status=Status.REMOVING)


def docker_state(state: ContainerState) -> dict:
    """The `State` object of Docker's container inspect."""
    out = {
        "Status": state.status.value,
        "Running": state.status in (Status.RUNNING, Status.PAUSED),
        "Paused": state.status is Status.PAUSED,
        "Restarting": state.status is Status.RESTARTING,
        "OOMKilled": state.oom_killed,
        "Dead": state.status is Status.DEAD,
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at,
        "FinishedAt": state.finished_at,
    }
    if state.health is not None:
        out["Health"] = state.health
    return out


def status_text(state: ContainerState, *, now: int, started_ns: int | None, finished_ns: int | None) -> str:
    """The human `Status` column of `docker ps` ("Up 3 seconds", "Exited (0) 2 minutes ago")."""
    def ago(then: int | None) -> str:
        if not then:
            return "Less than a second"
        return human_duration((now - then) / 1e9)

    if state.status is Status.RUNNING:
        health = ""
        if state.health is not None:
            health = {"starting": " (health: starting)", "healthy": " (healthy)",
                      "unhealthy": " (unhealthy)"}.get(state.health.get("Status", ""), "")
        return f"Up {ago(started_ns)}{health}"
    if state.status is Status.PAUSED:
        return f"Up {ago(started_ns)} (Paused)"
    if state.status is Status.RESTARTING:
        return f"Restarting ({state.exit_code}) {ago(finished_ns)} ago"
    if state.status is Status.EXITED:
        return f"Exited ({state.exit_code}) {ago(finished_ns)} ago"
    if state.status is Status.DEAD:
        return "Dead"
    if state.status is Status.REMOVING:
        return "Removal In Progress"
    return "Created"
