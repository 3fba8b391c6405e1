
import pytest

from runtime import errdefs
from tests.integration.runtime.containers.conftest import wait_for

MS = 1_000_000


def health(m, cid):
    return m.inspect(cid)["State"]["Health"]


def test_healthcheck_starting_then_healthy_then_unhealthy(env):
    m = env.manager
    cid = env.run(["sh", "-c", "touch /ok; sleep 60"],
                  Healthcheck={"Test": ["CMD-SHELL", "cat /ok && echo fine"], "Interval": 200 * MS,
                               "Timeout": 2000 * MS, "Retries": 2})
    assert health(m, cid)["Status"] == "starting"
    events = m.events(timeout=20)
    wait_for(lambda: health(m, cid)["Status"] == "healthy")
    entry = health(m, cid)["Log"][-1]
    assert entry["ExitCode"] == 0 and entry["Output"] == "fine\n" and entry["Start"] <= entry["End"]
    exec_id = m.exec_create(cid, {"Cmd": ["rm", "/ok"]})
    list(m.exec_run(exec_id))
    wait_for(lambda: health(m, cid)["Status"] == "unhealthy")
    h = health(m, cid)
    assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 1 and len(h["Log"]) <= 5
    actions = []
    for event in events:
        if event["Actor"]["ID"] == cid and event["Action"].startswith("health_status"):
            actions.append(event["Action"])
        if "health_status: unhealthy" in actions:
            break
    events.close()
    assert actions == ["health_status: healthy", "health_status: unhealthy"]


def test_healthcheck_timeout_counts_as_failure(env):
    m = env.manager
    cid = env.run(["sleep", "60"], Healthcheck={"Test": ["CMD", "sleep", "5"], "Interval": 100 * MS,
                                                "Timeout": 200 * MS, "Retries": 1})
    wait_for(lambda: health(m, cid)["Status"] == "unhealthy")
    entry = health(m, cid)["Log"][-1]
    assert entry["ExitCode"] == -1 and "exceeded timeout" in entry["Output"]


def test_restart_on_unhealthy_label(env):
    m = env.manager
    cid = env.run(["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
                  Labels={"io.stackyard.restart-on-unhealthy": "true"},
                  Healthcheck={"Test": ["CMD", "false"], "Interval": 100 * MS, "Retries": 1})
    wait_for(lambda: m.inspect(cid)["RestartCount"] == 1 and m.inspect(cid)["State"]["Running"])
    m.stop(cid, timeout=1)


def test_exec_output_and_exit_code(env):
    m = env.manager
    cid = env.run(["sleep", "60"])
    exec_id = m.exec_create(cid, {"Cmd": ["sh", "-c", "echo out; echo err >&2; id -u; exit 4"], "User": "alice",
                                   "Env": ["X=1"]})
    out = list(m.exec_run(exec_id))
    stdout = b"".join(d for s, d in out if s == "stdout")
    stderr = b"".join(d for s, d in out if s == "stderr")
    assert stdout == b"out\n1000\n" and stderr == b"err\n"
    info = m.exec_inspect(exec_id)
    assert (info["Running"], info["ExitCode"], info["ContainerID"]) == (False, 4, cid)
    assert info["Pid"] > 0
    assert exec_id in m.inspect(cid)["ExecIDs"]
    with pytest.raises(errdefs.Conflict, match="already been started"):
        list(m.exec_run(exec_id))


def test_exec_with_tty(env):
    m = env.manager
    cid = env.run(["sleep", "60"])
    exec_id = m.exec_create(cid, {"Cmd": ["sh", "-c", "tty; test -t 0 && echo is-a-tty"], "Tty": True})
    out = b"".join(d for _, d in m.exec_run(exec_id))
    assert b"/dev/pts/" in out and b"is-a-tty" in out
    assert m.exec_inspect(exec_id)["ExitCode"] == 0


def test_exec_refused_when_not_running_or_paused(env):
    m = env.manager
    cid = env.create(["sleep", "60"])
    with pytest.raises(errdefs.Conflict, match="is not running"):
        m.exec_create(cid, {"Cmd": ["true"]})
    m.start(cid)
    m.pause(cid)
    with pytest.raises(errdefs.Conflict, match="is paused"):
        m.exec_create(cid, {"Cmd": ["true"]})
    m.unpause(cid)


def test_top_and_stats(env):
    m = env.manager
    cid = env.run(["sh", "-c", "sleep 60 & sleep 61; true"])
    wait_for(lambda: len(m.top(cid)["Processes"]) == 3)
    top = m.top(cid)
    assert top["Titles"][:3] == ["UID", "PID", "PPID"]
    assert any(row[-1] == "sleep 61" for row in top["Processes"])
    stats = m.stats(cid)
    assert stats["pids_stats"]["current"] == 3
    assert stats["memory_stats"]["usage"] > 0
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["networks"] == {}  # network_mode none: only lo, which Docker leaves out


def test_tty_container_logs_through_pty(env):
    m = env.manager
    cid = env.run(["sh", "-c", "tty; echo hi"], Tty=True)
    m.wait(cid)
    text = b"".join(l for _, l in m.logs(cid))
    assert b"/dev/pts/0" in text and b"hi" in text
    assert {s for s, _ in m.logs(cid)} == {"stdout"}


def test_oom_killed_is_reported(env):
    m = env.manager
    cid = env.run(["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' 'a'); echo survived"],
                  HostConfig={"Memory": 32 * 1024 * 1024, "MemorySwap": 32 * 1024 * 1024})
    assert m.wait(cid, timeout=60)["StatusCode"] != 0
    state = m.inspect(cid)["State"]
    assert state["OOMKilled"] is True


def test_detached_exec_runs_and_records_its_exit_code(env):
    m = env.manager
    cid = env.run(["sleep", "60"])
    exec_id = m.exec_create(cid, {"Cmd": ["sh", "-c", "echo done > /tmp/mark; exit 6"], "Tty": True})
    m.exec_start(exec_id)  # no fds: detached
    assert m.exec_wait(exec_id, timeout=10) == 6
    check = m.exec_create(cid, {"Cmd": ["cat", "/tmp/mark"]})
    assert b"".join(d for _, d in m.exec_run(check)) == b"done\n"


def test_start_interval_probes_quickly_during_the_start_period(env):
    m = env.manager
    # Interval 30 s, but StartInterval 100 ms during a 5 s start period: the file appears after
    # 0.5 s, and the container is healthy well before any 30 s interval.
    cid = env.run(["sh", "-c", "sleep 0.5; touch /ready; sleep 60"],
                  Healthcheck={"Test": ["CMD", "test", "-f", "/ready"], "Interval": 30_000 * MS,
                               "StartPeriod": 5_000 * MS, "StartInterval": 100 * MS, "Retries": 1})
    wait_for(lambda: health(m, cid)["Status"] == "healthy", timeout=4)
    h = health(m, cid)
    assert h["FailingStreak"] == 0  # failures in the start period did not count
    assert len(h["Log"]) >= 3
