"""IpcMode / PidMode `container:<id|name>` (what Compose's `ipc: service:x` / `pid: service:x`
become): the second container joins the first's namespace, re-resolved at every start."""

from __future__ import annotations

import pytest

from runtime import errdefs
from tests.integration.runtime.containers.conftest import wait_for

SHOW_IPC = ["sh", "-c", "readlink /proc/self/ns/ipc; sleep 30"]


def _line(m, cid, n: int = 1) -> str:
    """The n-th line of the container's log, once it is there (the pumps write asynchronously)."""
    wait_for(lambda: b"".join(d for _, d in m.logs(cid)).count(b"\n") >= n)
    return b"".join(d for _, d in m.logs(cid)).decode().splitlines()[n - 1]


def test_ipc_of_another_container_is_shared_and_followed_across_its_restart(env):
    m = env.manager
    a = env.run(SHOW_IPC, name="ipc-a", HostConfig={"IpcMode": "shareable"})
    b = env.run(["readlink", "/proc/self/ns/ipc"], HostConfig={"IpcMode": "container:ipc-a"})
    assert m.wait(b)["StatusCode"] == 0
    a_ns = _line(m, a)
    assert a_ns.startswith("ipc:[")
    assert _line(m, b) == a_ns
    c = env.run(["readlink", "/proc/self/ns/ipc"], HostConfig={"IpcMode": f"container:{a}"})  # by id too
    m.wait(c)
    assert _line(m, c) == a_ns
    # The donor restarts (new init pid, new IPC namespace): the next start of b follows it (the
    # create-time path /proc/<old pid>/ns/ipc is gone; nsfs may recycle the inode number).
    old_pid = m.inspect(a)["State"]["Pid"]
    m.restart(a, timeout=0)
    assert m.inspect(a)["State"]["Pid"] != old_pid
    a_ns2 = _line(m, a, 2)
    m.start(b)
    m.wait(b)
    assert _line(m, b, 2) == a_ns2


def test_pid_namespace_of_another_container_shows_its_processes(env):
    m = env.manager
    env.run(["sleep", "30"], name="pid-a")
    b = env.run(["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/1/ns/pid; readlink /proc/self/ns/pid"],
                HostConfig={"PidMode": "container:pid-a"})
    assert m.wait(b)["StatusCode"] == 0, list(m.logs(b))
    wait_for(lambda: b"".join(d for _, d in m.logs(b)).count(b"\n") >= 3)
    lines = b"".join(d for _, d in m.logs(b)).decode().splitlines()
    assert lines[0].strip() == "sleep 30"  # PID 1 there is the first container's command
    assert lines[1] == lines[2]


def test_joining_a_stopped_or_missing_container_is_refused(env):
    m = env.manager
    a = env.create(["sleep", "30"], name="not-running")
    b = env.create(["true"], HostConfig={"IpcMode": "container:not-running"})
    with pytest.raises(errdefs.Conflict, match=f"cannot join IPC of a non running container: {a}"):
        m.start(b)
    p = env.create(["true"], HostConfig={"PidMode": "container:not-running"})
    with pytest.raises(errdefs.Conflict, match=f"cannot join PID of a non running container: {a}"):
        m.start(p)
    with pytest.raises(errdefs.NotFound, match="HostConfig.IpcMode: No such container: nowhere"):
        env.create(["true"], HostConfig={"IpcMode": "container:nowhere"})
