"""`logs --since/--until` values (orchestrator/cli/timespec.py): the forms the docker CLI
accepts, each turned into the Unix seconds the engine reads."""

import time
from datetime import datetime, timezone

import pytest

from orchestrator.cli.timespec import engine_timestamp, go_duration

NOW = 1_800_000_000.0


@pytest.mark.parametrize("text, seconds", [
    ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("90s", 90), ("250ms", 0.25), ("2h3m4s", 7384), ("0", 0),
])
def test_go_durations(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "m", "10", "10 m", "10d", "1h-5m", "-10m"])
def test_not_go_durations(text):
    assert go_duration(text) is None


def test_a_duration_means_that_long_ago():
    assert float(engine_timestamp("10m", now=NOW)) == pytest.approx(NOW - 600)


def test_unix_seconds_pass_through():
    assert engine_timestamp("1700000000", now=NOW) == "1700000000"
    assert engine_timestamp("1700000000.123456789", now=NOW) == "1700000000.123456789"


def test_rfc3339_with_a_zone():
    expected = datetime(2026, 11, 28, 10, 0, 5, tzinfo=timezone.utc).timestamp()
    assert float(engine_timestamp("2026-11-28T10:00:05Z", now=NOW)) == expected
    assert float(engine_timestamp("2026-11-28T12:00:05+02:00", now=NOW)) == expected
    assert float(engine_timestamp("2026-11-28T10:00:05.5Z", now=NOW)) == expected + 0.5


def test_a_time_without_a_zone_is_local_time():
    assert float(engine_timestamp("2026-11-28T10:00:05", now=NOW)) == time.mktime((2026, 11, 28, 10, 0, 5, 0, 0, -1))
    assert float(engine_timestamp("2026-11-28", now=NOW)) == time.mktime((2026, 11, 28, 0, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "2026-13-01", "-5m"])
def test_anything_else_is_refused_with_the_accepted_forms(text):
    with pytest.raises(ValueError, match="duration like 10m.*RFC 3339.*Unix seconds"):
        engine_timestamp(text, now=NOW)
