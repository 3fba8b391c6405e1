"""When to retry a registry request and how long to wait: pure decisions, no clock, no I/O.

Called by `transport` after each attempt. Retried: 429 and 5xx replies other than 501 (a
missing feature does not appear by waiting), and connections that failed or dropped before a
reply. A `Retry-After` header (seconds or an HTTP date) replaces the exponential back-off;
every wait is capped, and so is the total, so a registry asking for an hour fails the pull
with its reason instead of hanging it.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    max_delay: float = 10.0
    max_total: float = 30.0


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_delay(policy: RetryPolicy, attempt: int, *, waited: float, status: int | None = None,
                retry_after: float | None = None) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to give up.

    `attempt` counts from 1 (the attempt that just failed); `status` is None for a connection
    failure; `waited` is the back-off already spent on this request.
    """
    if attempt >= policy.attempts:
        return None
    if status is not None and not is_retryable_status(status):
        return None
    if retry_after is not None:
        delay = retry_after
        if delay > policy.max_delay or waited + delay > policy.max_total:
            return None  # the registry asks for longer than we are prepared to wait
    else:
        delay = min(policy.max_delay, policy.base * (2 ** (attempt - 1)))
    if waited + delay > policy.max_total:
        delay = policy.max_total - waited
        if delay <= 0:
            return None
    return delay
