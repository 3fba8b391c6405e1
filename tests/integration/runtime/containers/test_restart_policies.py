import time

from tests.integration.runtime.containers.conftest import wait_for


def test_on_failure_2_restarts_twice_then_stays_exited(env):
    m = env.manager
    cid = env.run(["sh", "-c", "echo run; exit 1"], HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    wait_for(lambda: m.inspect(cid)["RestartCount"] == 2 and m.inspect(cid)["State"]["Status"] == "exited")
    time.sleep(1.0)  # nothing more happens: the policy is exhausted
    info = m.inspect(cid)
    assert (info["RestartCount"], info["State"]["Status"], info["State"]["ExitCode"]) == (2, "exited", 1)
    assert [line for _, line in m.logs(cid)] == [b"run\n"] * 3
    assert m.wait(cid)["StatusCode"] == 1


def test_always_restarts_with_doubling_backoff(env):
    m = env.manager
    cid = env.run(["sh", "-c", "exit 0"], HostConfig={"RestartPolicy": {"Name": "always"}})
    starts = []
    events = m.events(timeout=20)
    deadline = time.monotonic() + 10
    for event in events:
        if event["Actor"]["ID"] == cid and event["Action"] in ("start", "restart"):
            starts.append(time.monotonic())
        if len(starts) >= 5 or time.monotonic() > deadline:
            break
    events.close()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 0.2, 0.4, 0.8 s between restarts (plus start time): each gap about doubles.
    assert len(gaps) == 4
    assert gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5 and gaps[3] > gaps[2] * 1.5
    assert 0.6 < gaps[3] < 2.5
    m.stop(cid, timeout=1)
    count = m.inspect(cid)["RestartCount"]
    assert m.inspect(cid)["State"]["Status"] == "exited"
    time.sleep(0.5)
    assert m.inspect(cid)["RestartCount"] == count  # a stop wins over `always`


def test_unless_stopped_not_restarted_after_stop(env):
    m = env.manager
    cid = env.run(["sleep", "60"], HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    m.stop(cid, timeout=0)
    time.sleep(0.5)
    info = m.inspect(cid)
    assert (info["State"]["Status"], info["RestartCount"]) == ("exited", 0)
    # And a kill from outside (not through the API) is restarted.
    m.start(cid)
    pid = info2 = m.inspect(cid)["State"]["Pid"]
    import os
    os.kill(pid, 9)
    wait_for(lambda: m.inspect(cid)["RestartCount"] == 1 and m.inspect(cid)["State"]["Running"])
    del info2
