import pytest

from runtime import errdefs
from runtime.containers.restart import (RestartPolicy, boot_restart_reason, next_backoff,
                                        parse_restart_policy, restart_reason)


def test_parse_restart_policy_forms():
    assert parse_restart_policy(None) == RestartPolicy("no")
    assert parse_restart_policy({"Name": "", "MaximumRetryCount": 0}) == RestartPolicy("no")
    assert parse_restart_policy("on-failure:2") == RestartPolicy("on-failure", 2)
    assert parse_restart_policy({"Name": "unless-stopped"}) == RestartPolicy("unless-stopped")


@pytest.mark.parametrize("bad", ["sometimes", "on-failure:x", {"Name": "always", "MaximumRetryCount": 3},
                                 {"Name": "on-failure", "MaximumRetryCount": -1}])
def test_parse_restart_policy_rejects(bad):
    with pytest.raises(errdefs.InvalidArgument, match="restart policy"):
        parse_restart_policy(bad)


def test_on_failure_restarts_until_the_maximum():
    p = RestartPolicy("on-failure", 2)
    assert restart_reason(p, exit_code=1, restart_count=0, manually_stopped=False)
    assert restart_reason(p, exit_code=1, restart_count=1, manually_stopped=False)
    assert restart_reason(p, exit_code=1, restart_count=2, manually_stopped=False) is None
    assert restart_reason(p, exit_code=0, restart_count=0, manually_stopped=False) is None
    assert restart_reason(RestartPolicy("on-failure"), exit_code=1, restart_count=99, manually_stopped=False)


def test_always_restarts_on_success_but_never_after_a_stop():
    for name in ("always", "unless-stopped"):
        p = RestartPolicy(name)
        assert restart_reason(p, exit_code=0, restart_count=5, manually_stopped=False)
        assert restart_reason(p, exit_code=0, restart_count=5, manually_stopped=True) is None
    assert restart_reason(RestartPolicy("no"), exit_code=1, restart_count=0, manually_stopped=False) is None


def test_boot_unless_stopped_stays_down_after_a_stop():
    assert boot_restart_reason(RestartPolicy("unless-stopped"), manually_stopped=True) is None
    assert boot_restart_reason(RestartPolicy("unless-stopped"), manually_stopped=False)
    assert boot_restart_reason(RestartPolicy("always"), manually_stopped=True)


def test_backoff_doubles_from_100ms_caps_and_resets_after_10s():
    delays, d = [], None
    for _ in range(12):
        d = next_backoff(d, uptime=0.5)
        delays.append(d)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0
    assert next_backoff(60.0, uptime=10.0) == 0.1
