import pytest

from runtime import errdefs
from runtime.containers import health as h

S = 1_000_000_000


def test_parse_cmd_shell_and_defaults():
    c = h.parse_healthcheck({"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 2 * S})
    assert c.argv == ("/bin/sh", "-c", "test -f /ok")
    assert (c.interval, c.timeout, c.retries, c.start_period, c.start_interval) == (2.0, 30.0, 3, 0.0, 5.0)


def test_parse_none_disables_and_container_overrides_image():
    assert h.parse_healthcheck({"Test": ["NONE"]}, {"Test": ["CMD", "true"]}) is None
    assert h.parse_healthcheck(None, None) is None
    c = h.parse_healthcheck({"Retries": 7}, {"Test": ["CMD", "true"], "Interval": 3 * S})
    assert (c.argv, c.interval, c.retries) == (("true",), 3.0, 7)


@pytest.mark.parametrize("bad", [{"Test": ["SHELL", "x"]}, {"Test": ["CMD"]},
                                 {"Test": ["CMD-SHELL", "a", "b"]}, {"Test": ["CMD", "x"], "Interval": -1}])
def test_parse_rejects_malformed(bad):
    with pytest.raises(errdefs.InvalidArgument, match="Healthcheck"):
        h.parse_healthcheck(bad)


def probe(cfg, health, code, uptime=100.0):
    return h.record_result(cfg, health, exit_code=code, output=f"out{code}", start="s", end="e", uptime=uptime)


def test_unhealthy_after_retries_then_healthy_resets_streak():
    cfg = h.HealthConfig(argv=("x",), retries=2)
    s = probe(cfg, h.initial_health(), 1)
    assert (s["Status"], s["FailingStreak"]) == ("starting", 1)
    s = probe(cfg, s, 1)
    assert (s["Status"], s["FailingStreak"]) == ("unhealthy", 2)
    s = probe(cfg, s, 0)
    assert (s["Status"], s["FailingStreak"]) == ("healthy", 0)
    assert s["Log"][-1] == {"Start": "s", "End": "e", "ExitCode": 0, "Output": "out0"}


def test_start_period_failures_do_not_count():
    cfg = h.HealthConfig(argv=("x",), retries=1, start_period=10)
    s = probe(cfg, h.initial_health(), 1, uptime=2)
    assert (s["Status"], s["FailingStreak"]) == ("starting", 0)
    s = probe(cfg, s, 1, uptime=11)
    assert s["Status"] == "unhealthy"


def test_log_keeps_last_five_and_truncates_output():
    cfg = h.HealthConfig(argv=("x",))
    s = h.initial_health()
    for i in range(7):
        s = h.record_result(cfg, s, exit_code=0, output=str(i) * 5000, start="s", end="e", uptime=50)
    assert [e["Output"][0] for e in s["Log"]] == ["2", "3", "4", "5", "6"]
    assert len(s["Log"][0]["Output"]) == 4096


def test_next_probe_uses_start_interval_in_start_period():
    cfg = h.HealthConfig(argv=("x",), interval=30, start_period=20, start_interval=1)
    assert h.next_probe_delay(cfg, h.initial_health(), uptime=3) == 1
    assert h.next_probe_delay(cfg, h.initial_health(), uptime=25) == 30
    assert h.next_probe_delay(cfg, {"Status": "healthy"}, uptime=3) == 30


def test_restart_on_unhealthy_label():
    assert h.restarts_on_unhealthy({"io.stackyard.restart-on-unhealthy": "true"})
    assert not h.restarts_on_unhealthy({})
