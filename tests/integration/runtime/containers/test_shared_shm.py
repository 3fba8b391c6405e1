"""POSIX shared memory across containers: IpcMode shareable puts /dev/shm on a host tmpfs
(<run_root>/containers/<id>/shm, sized by ShmSize) that a `container:<x>` joiner binds too, as
Docker does; joining a donor that is not shareable is refused with Docker's message; nothing
stays mounted under the run root after the containers stop and are removed."""

from __future__ import annotations

import os

import pytest

from runtime import errdefs
from tests.integration.runtime.containers.conftest import mounts_under, wait_for


def _out(m, cid) -> str:
    return b"".join(d for _, d in m.logs(cid)).decode()


def _shm_of(env, cid) -> str:
    return os.path.join(env.run_root, "containers", cid, "shm")


def test_shareable_shm_is_seen_by_the_joiner_and_released(env):
    m = env.manager
    a = env.run(["sh", "-c", "echo hello-from-a > /dev/shm/x; df -k /dev/shm; sleep 30"], name="shm-a",
                HostConfig={"IpcMode": "shareable", "ShmSize": 8 << 20})
    wait_for(lambda: "shm" in _out(m, a) or "tmpfs" in _out(m, a))
    # The size is ShmSize (8 MiB = 8192 KiB), as `df` inside the donor shows.
    assert any(line.split()[1] == "8192" for line in _out(m, a).splitlines()[1:]), _out(m, a)
    assert _shm_of(env, a) in mounts_under(env.run_root)
    b = env.run(["sh", "-c", "cat /dev/shm/x && echo from-b > /dev/shm/y"],
                HostConfig={"IpcMode": "container:shm-a"})
    assert m.wait(b)["StatusCode"] == 0, _out(m, b)
    wait_for(lambda: "hello-from-a" in _out(m, b))
    # Both ways: what the joiner wrote is in the donor's /dev/shm (the host tmpfs).
    with open(os.path.join(_shm_of(env, a), "y")) as f:
        assert f.read() == "from-b\n"
    m.stop(a, timeout=0)
    assert mounts_under(env.run_root) == []  # stopped for good: the tmpfs is gone
    m.remove(b)
    m.remove(a)
    assert mounts_under(env.run_root) == []
    assert not os.path.exists(os.path.join(env.run_root, "containers", a))


def test_joining_a_private_donor_is_refused_like_docker(env):
    m = env.manager
    env.run(["sleep", "30"], name="private-a")  # default IpcMode: private
    b = env.create(["true"], HostConfig={"IpcMode": "container:private-a"})
    with pytest.raises(errdefs.Conflict, match=r"non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)"):
        m.start(b)
    assert mounts_under(env.run_root) == []


def test_private_and_host_ipc_keep_their_own_shm(env):
    m = env.manager
    p = env.run(["sh", "-c", "echo p > /dev/shm/p; grep ' /dev/shm ' /proc/mounts"], HostConfig={"ShmSize": 4 << 20})
    assert m.wait(p)["StatusCode"] == 0
    wait_for(lambda: "/dev/shm" in _out(m, p))
    assert "tmpfs" in _out(m, p) and "size=4096k" in _out(m, p), _out(m, p)
    assert mounts_under(env.run_root) == []  # a private /dev/shm lives only in its mount namespace


def test_five_start_stop_cycles_leave_no_mount(env):
    m = env.manager
    a = env.create(["sleep", "30"], name="cyc-a", HostConfig={"IpcMode": "shareable"})
    b = env.create(["sh", "-c", "cat /dev/shm/n"], HostConfig={"IpcMode": "container:cyc-a"})
    for i in range(5):
        m.start(a)
        with open(os.path.join(_shm_of(env, a), "n"), "w") as f:
            f.write(f"round-{i}\n")
        m.start(b)
        assert m.wait(b)["StatusCode"] == 0
        wait_for(lambda: f"round-{i}" in _out(m, b))
        m.stop(a, timeout=0)
        assert mounts_under(env.run_root) == []
    m.remove(b)
    m.remove(a)
    assert mounts_under(env.run_root) == []


def test_shm_survives_a_supervisor_restart_and_is_released_after(env):
    import signal
    m = env.manager
    a = env.run(["sh", "-c", "echo kept > /dev/shm/k; sleep 30"], name="adopt-a", HostConfig={"IpcMode": "shareable"})
    wait_for(lambda: os.path.exists(os.path.join(_shm_of(env, a), "k")))
    env.stop_supervisor(env.pids[0], signal.SIGKILL)
    env.start_supervisor()
    # Re-adopted: the donor's tmpfs is still mounted with its content; a new joiner sees it.
    assert _shm_of(env, a) in mounts_under(env.run_root)
    b = env.run(["cat", "/dev/shm/k"], HostConfig={"IpcMode": "container:adopt-a"})
    assert m.wait(b)["StatusCode"] == 0
    wait_for(lambda: "kept" in _out(m, b))
    m.stop(a, timeout=0)
    assert mounts_under(env.run_root) == []
