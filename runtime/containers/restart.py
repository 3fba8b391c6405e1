"""Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`) and their backoff.

Pure decisions for the supervisor, which calls `restart_reason` when a container's init exits
and `next_backoff` to schedule the start. Semantics follow Docker's restartmanager: the delay
starts at 100 ms and doubles on each quick exit, capped at one minute; a container that ran
for at least 10 s starts again at 100 ms. An explicit stop always wins over the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime import errdefs

INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 60.0
RESET_AFTER = 10.0

POLICIES = ("no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    def to_json(self) -> dict:
        return {"Name": "" if self.name == "no" else self.name, "MaximumRetryCount": self.maximum_retry_count}


def parse_restart_policy(value: dict | str | None) -> RestartPolicy:
    """HostConfig.RestartPolicy ({"Name", "MaximumRetryCount"}) or the short "on-failure:3".

    Raises InvalidArgument naming the bad value.
    """
    if value in (None, "", {}):
        return RestartPolicy()
    if isinstance(value, str):
        name, _, count = value.partition(":")
        try:
            retries = int(count) if count else 0
        except ValueError:
            raise errdefs.InvalidArgument(f"invalid restart policy {value!r}: maximum retry count must be an integer") from None
    elif isinstance(value, dict):
        name = value.get("Name") or "no"
        retries = value.get("MaximumRetryCount") or 0
    else:
        raise errdefs.InvalidArgument(f"invalid restart policy {value!r}")
    if name not in POLICIES:
        raise errdefs.InvalidArgument(f"invalid restart policy {name!r}: expected one of {', '.join(POLICIES)}")
    if not isinstance(retries, int) or retries < 0:
        raise errdefs.InvalidArgument(f"invalid restart policy: maximum retry count {retries!r} must be a non-negative integer")
    if retries and name != "on-failure":
        raise errdefs.InvalidArgument(f"invalid restart policy: maximum retry count cannot be used with restart policy {name!r}")
    return RestartPolicy(name, retries)


def restart_reason(policy: RestartPolicy, *, exit_code: int, restart_count: int,
                   manually_stopped: bool) -> str | None:
    """Why the supervisor restarts a container whose init just exited, or None to leave it down."""
    if manually_stopped or policy.name == "no":
        return None
    if policy.name in ("always", "unless-stopped"):
        return f"restart policy {policy.name}"
    # on-failure: a zero exit is success; N caps the number of restarts (0 = unlimited).
    if exit_code == 0:
        return None
    if policy.maximum_retry_count and restart_count >= policy.maximum_retry_count:
        return None
    return f"restart policy on-failure (exit code {exit_code})"


def boot_restart_reason(policy: RestartPolicy, *, manually_stopped: bool) -> str | None:
    """Whether a container found exited when the supervisor starts should be started again.

    `always` comes back even after an explicit stop (Docker's behaviour on daemon start);
    `unless-stopped` only if it was not stopped by the user.
    """
    if policy.name == "always":
        return "restart policy always (supervisor start)"
    if policy.name == "unless-stopped" and not manually_stopped:
        return "restart policy unless-stopped (supervisor start)"
    return None


def next_backoff(previous: float | None, *, uptime: float) -> float:
    """Seconds to wait before the next start, given the last delay and how long it ran."""
    if previous is None or uptime >= RESET_AFTER:
        return INITIAL_BACKOFF
    return min(previous * 2, MAX_BACKOFF)
