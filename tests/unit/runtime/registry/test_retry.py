"""Retry decisions: which failures are retried, how long to wait, when to give up."""

import email.utils

from runtime.registry.retry import RetryPolicy, parse_retry_after, retry_delay

POLICY = RetryPolicy(attempts=4, base=0.5, max_delay=3.0, max_total=5.0)


def test_connection_failures_back_off_exponentially_then_give_up():
    assert [retry_delay(POLICY, n, waited=0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert retry_delay(POLICY, 4, waited=0) is None


def test_backoff_is_capped_per_wait_and_in_total():
    policy = RetryPolicy(attempts=10, base=1.0, max_delay=3.0, max_total=5.0)
    assert retry_delay(policy, 5, waited=0) == 3.0
    assert retry_delay(policy, 3, waited=4.0) == 1.0   # only what is left of the total
    assert retry_delay(policy, 3, waited=5.0) is None


def test_only_429_and_transient_5xx_are_retried():
    for status in (429, 500, 502, 503, 504, 408):
        assert retry_delay(POLICY, 1, waited=0, status=status) == 0.5
    for status in (400, 401, 403, 404, 405, 501):
        assert retry_delay(POLICY, 1, waited=0, status=status) is None


def test_retry_after_replaces_backoff_and_too_long_gives_up():
    assert retry_delay(POLICY, 1, waited=0, status=429, retry_after=2.0) == 2.0
    assert retry_delay(POLICY, 1, waited=0, status=429, retry_after=60.0) is None
    assert retry_delay(POLICY, 1, waited=4.0, status=429, retry_after=2.0) is None


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("7", now=0) == 7.0
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("soon", now=0) is None
    date = email.utils.formatdate(1000.0 + 30, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == 30.0
    assert parse_retry_after(email.utils.formatdate(10, usegmt=True), now=1000.0) == 0.0
