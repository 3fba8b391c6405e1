import pytest

from runtime import errdefs
from runtime.containers import state as st
from runtime.containers.timefmt import ZERO_TIME, format_ns, parse_ns

T0 = 1_800_000_000_000_000_000


def test_state_created_to_running_sets_pid_and_started_at():
    s = st.on_started(st.ContainerState(), pid=42, now=T0)
    assert s.status is st.Status.RUNNING and s.pid == 42
    assert s.started_at == format_ns(T0) and s.finished_at == ZERO_TIME
    assert st.docker_state(s)["Running"] is True


def test_state_start_twice_conflicts():
    s = st.on_started(st.ContainerState(), pid=42, now=T0)
    with pytest.raises(errdefs.Conflict):
        st.on_started(s, pid=43, now=T0)


def test_state_exit_records_code_time_and_clears_pid():
    s = st.on_started(st.ContainerState(), pid=42, now=T0)
    s = st.on_exited(s, exit_code=3, oom_killed=True, now=T0 + 5)
    d = st.docker_state(s)
    assert (d["Status"], d["Pid"], d["ExitCode"], d["OOMKilled"]) == ("exited", 0, 3, True)
    assert parse_ns(d["FinishedAt"]) == T0 + 5


def test_state_policy_restart_counts_but_user_start_does_not():
    s = st.on_exited(st.on_started(st.ContainerState(), pid=1, now=T0), exit_code=1, oom_killed=False, now=T0)
    assert st.on_started(st.on_restarting(s), pid=2, now=T0, restart=True).restart_count == 1
    assert st.on_started(s, pid=2, now=T0).restart_count == 0


def test_state_pause_unpause_only_from_running():
    with pytest.raises(errdefs.Conflict, match="not running"):
        st.on_paused(st.ContainerState())
    s = st.on_paused(st.on_started(st.ContainerState(), pid=1, now=T0))
    assert st.docker_state(s)["Paused"] and st.docker_state(s)["Running"]
    with pytest.raises(errdefs.Conflict, match="already paused"):
        st.on_paused(s)
    assert st.on_unpaused(s).status is st.Status.RUNNING
    with pytest.raises(errdefs.Conflict, match="not paused"):
        st.on_unpaused(st.on_unpaused(s))


def test_state_remove_running_needs_force():
    s = st.on_started(st.ContainerState(), pid=1, now=T0)
    with pytest.raises(errdefs.Conflict, match="cannot remove a running container"):
        st.on_removing(s, force=False)
    assert st.on_removing(s, force=True).status is st.Status.REMOVING


def test_state_roundtrips_through_json():
    s = st.on_stop_requested(st.on_started(st.ContainerState(health={}), pid=9, now=T0))
    assert st.ContainerState.from_json(s.to_json()) == s
    assert s.health == {"Status": "starting", "FailingStreak": 0, "Log": []}


def test_status_text_like_docker_ps():
    s = st.on_started(st.ContainerState(), pid=1, now=T0)
    assert st.status_text(s, now=T0 + 3 * 10**9, started_ns=T0, finished_ns=None) == "Up 3 seconds"
    s = st.on_exited(s, exit_code=2, oom_killed=False, now=T0)
    assert st.status_text(s, now=T0 + 120 * 10**9, started_ns=T0, finished_ns=T0) == "Exited (2) 2 minutes ago"


def test_time_format_roundtrip_and_api_times():
    from runtime.containers.timefmt import parse_api_time
    assert format_ns(T0 + 5) == "2027-01-15T08:00:00.000000005Z"
    assert parse_ns(format_ns(T0 + 123)) == T0 + 123
    assert parse_ns("2027-01-15T09:00:00.5+01:00") == T0 + 500_000_000
    assert parse_api_time("1800000000.25") == T0 + 250_000_000
    assert parse_api_time("0") is None
    with pytest.raises(errdefs.InvalidArgument):
        parse_ns("yesterday")
