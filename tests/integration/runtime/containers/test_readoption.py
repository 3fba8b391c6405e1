import signal
import time

from runtime.containers.manager import ContainerManager
from runtime.supervisor.client import SupervisorClient
from tests.integration.runtime.containers.conftest import wait_for


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for the host's init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def ticks(m, cid):
    return [int(line.split()[1]) for _, line in m.logs(cid)]


def test_supervisor_killed_container_survives_and_is_readopted(env):
    m = env.manager
    cid = env.run(["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"], name="survivor")
    short = env.run(["sh", "-c", "sleep 0.5; exit 3"], name="short")
    wait_for(lambda: len(ticks(m, cid)) >= 3)
    pid = m.inspect(cid)["State"]["Pid"]
    supervisor = env.pids[0]

    env.stop_supervisor(supervisor, signal.SIGKILL)
    time.sleep(1.0)  # the container keeps running; `short` exits while nobody watches
    assert running(pid)
    # A fresh manager (a restarted daemon) reads the persisted state: still running.
    fresh = ContainerManager(env.root, env.run_root, env.socket, image_hook=env.hook)
    assert fresh.inspect("survivor")["State"]["Running"] is True
    assert fresh.inspect("survivor")["State"]["Pid"] == pid

    env.start_supervisor()
    report = SupervisorClient(env.socket).ping()
    assert report["adopted"] == [cid]
    assert [lost["id"] for lost in report["lost"]] == [short]
    short_state = m.inspect(short)["State"]
    assert short_state["Status"] == "exited" and "exit code unknown" in short_state["Error"]

    # Output written while the supervisor was down was kept in the FIFO and is now logged:
    # the tick counter has no gap.
    count = len(ticks(m, cid))
    wait_for(lambda: len(ticks(m, cid)) > count + 5)
    seen = ticks(m, cid)
    assert seen == list(range(len(seen)))

    m.stop(cid, timeout=1)
    state = m.inspect(cid)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert not running(pid)


def test_readopted_container_exit_is_noticed(env):
    m = env.manager
    cid = env.run(["sh", "-c", "sleep 1.5; exit 5"])
    env.stop_supervisor(env.pids[0], signal.SIGKILL)
    env.start_supervisor()
    assert SupervisorClient(env.socket).ping()["adopted"] == [cid]
    result = m.wait(cid, timeout=10)
    state = m.inspect(cid)["State"]
    # The exit code of a re-adopted container cannot be observed (it is not our child).
    assert state["Status"] == "exited" and result["StatusCode"] == 255 and "exit code unknown" in state["Error"]


def test_a_second_supervisor_on_the_same_run_root_refuses(env):
    import pytest
    from runtime import errdefs
    from runtime.supervisor.client import start_supervisor
    with pytest.raises(errdefs.Unavailable, match="another supervisor holds"):
        start_supervisor(env.root, env.run_root, timeout=5)
    assert SupervisorClient(env.socket).ping()["pid"] == env.pids[0]
