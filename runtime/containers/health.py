"""Healthcheck decisions (pure): configuration, when to probe next, and what a result does.

The supervisor runs the probe (an exec inside the container) and feeds each result to
`record_result`; the returned state is what Docker's inspect shows under State.Health
({Status, FailingStreak, Log[{Start, End, ExitCode, Output}]}), keeping the last 5 results.
Semantics follow Docker: failures during `start_period` do not count towards `retries` until
a probe has succeeded once; probes run every `start_interval` during the start period and every
`interval` afterwards; a probe running past `timeout` counts as a failure with exit code -1.

Our addition (Docker has none): a container labelled `io.stackyard.restart-on-unhealthy=true`
is restarted (stop signal, grace, kill, start; RestartCount + 1) when it turns unhealthy.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime import errdefs

RESTART_ON_UNHEALTHY_LABEL = "io.stackyard.restart-on-unhealthy"

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096  # bytes of probe output kept, as Docker

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_START_INTERVAL = 5.0


@dataclass(frozen=True)
class HealthConfig:
    argv: tuple[str, ...]   # the probe, already turned into an argv (CMD-SHELL → /bin/sh -c)
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL

    def to_json(self) -> dict:
        return {"argv": list(self.argv), "interval": self.interval, "timeout": self.timeout,
                "retries": self.retries, "start_period": self.start_period,
                "start_interval": self.start_interval}

    @classmethod
    def from_json(cls, data: dict) -> "HealthConfig":
        return cls(**{**data, "argv": tuple(data["argv"])})


def parse_healthcheck(container: dict | None, image: dict | None = None) -> HealthConfig | None:
    """Config.Healthcheck (durations in nanoseconds) over the image's, or None when disabled.

    Fields left zero in the container's check inherit the image's, as Docker merges them.
    Raises InvalidArgument for a malformed test or a negative duration.
    """
    merged = dict(image or {})
    for key, value in (container or {}).items():
        if value not in (None, 0, []) or key not in merged:
            merged[key] = value
    test = merged.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if not isinstance(test, list) or not all(isinstance(part, str) for part in test):
        raise errdefs.InvalidArgument(f"Healthcheck.Test must be a list of strings, got {test!r}")
    kind = test[0]
    if kind == "CMD":
        argv = tuple(test[1:])
    elif kind == "CMD-SHELL":
        if len(test) != 2:
            raise errdefs.InvalidArgument("Healthcheck.Test CMD-SHELL takes exactly one command string")
        argv = ("/bin/sh", "-c", test[1])
    else:
        raise errdefs.InvalidArgument(f"Healthcheck.Test must start with NONE, CMD or CMD-SHELL, got {kind!r}")
    if not argv:
        raise errdefs.InvalidArgument("Healthcheck.Test has no command")

    def seconds(key: str, default: float) -> float:
        value = merged.get(key) or 0
        if not isinstance(value, int) or value < 0:
            raise errdefs.InvalidArgument(f"Healthcheck.{key} must be a non-negative duration in nanoseconds, got {value!r}")
        return value / 1e9 if value else default

    retries = merged.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise errdefs.InvalidArgument(f"Healthcheck.Retries must be a non-negative integer, got {retries!r}")
    return HealthConfig(argv=argv, interval=seconds("Interval", DEFAULT_INTERVAL),
                        timeout=seconds("Timeout", DEFAULT_TIMEOUT),
                        retries=retries or DEFAULT_RETRIES,
                        start_period=seconds("StartPeriod", 0.0),
                        start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL))


def initial_health() -> dict:
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def next_probe_delay(config: HealthConfig, health: dict, *, uptime: float) -> float:
    """Seconds until the next probe: `start_interval` while still starting within the start period."""
    if health.get("Status") == STARTING and uptime < config.start_period:
        return min(config.start_interval, config.interval)
    return config.interval


def record_result(config: HealthConfig, health: dict, *, exit_code: int, output: str,
                  start: str, end: str, uptime: float) -> dict:
    """The health state after one probe. `uptime` is seconds since the container started."""
    entry = {"Start": start, "End": end, "ExitCode": exit_code, "Output": output[:MAX_OUTPUT]}
    log = (list(health.get("Log", [])) + [entry])[-MAX_LOG_ENTRIES:]
    status = health.get("Status", STARTING)
    streak = health.get("FailingStreak", 0)
    if exit_code == 0:
        return {"Status": HEALTHY, "FailingStreak": 0, "Log": log}
    if status == STARTING and uptime < config.start_period:
        # Docker: failures in the start period don't count until the first success.
        return {"Status": STARTING, "FailingStreak": streak, "Log": log}
    streak += 1
    if streak >= config.retries:
        status = UNHEALTHY
    return {"Status": status, "FailingStreak": streak, "Log": log}


def restarts_on_unhealthy(labels: dict | None) -> bool:
    return (labels or {}).get(RESTART_ON_UNHEALTHY_LABEL, "").lower() in ("true", "1", "yes")
