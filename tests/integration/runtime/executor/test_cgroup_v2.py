"""The cgroup v2 code path, run for real on this host's cgroup2 hierarchy.

On a hybrid host (/sys/fs/cgroup/unified) cgroup2 has no memory/cpu/pids controllers, so we force
the v2 layout there: tracking, cgroup.kill, cgroup.freeze, cpu.stat and the container's own
cgroup2 mount work; asking for a limit the hierarchy cannot enforce is refused clearly
(FailedPrecondition), never silently ignored. On a pure v2 host this is the normal layout.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from runtime import errdefs
from runtime.executor import cgroups


@pytest.fixture
def v2_native(native, monkeypatch):
    layout, own = cgroups.host_layout()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    monkeypatch.setattr(cgroups, "host_layout", lambda: (cgroups.Layout("v2", {}, layout.unified), own))
    return native


def test_v2_layout_start_freeze_kill_stats(v2_native):
    started, spec, overlay = v2_native.start({"Cmd": ["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup; sleep 30"]})
    try:
        assert set(started.cgroup.paths) == {cgroups.UNIFIED}
        deadline = time.monotonic() + 5
        while "cgroup.procs" not in (overlay.base / "stdout").read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        ex = v2_native.executor
        assert ex.top(started.cgroup) and started.pid in ex.top(started.cgroup)
        ex.pause(started.cgroup)
        assert "frozen 1" in open(os.path.join(started.cgroup.paths[cgroups.UNIFIED], "cgroup.events")).read()
        ex.resume(started.cgroup)
        stats = ex.stats(started.cgroup)
        assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
        ex.kill(started.cgroup, signal.SIGKILL, all_processes=True)  # cgroup.kill
        r = v2_native.wait(started, overlay, timeout=5)
        assert r.status == -signal.SIGKILL
        lines = r.stdout.splitlines()
        assert "0::/" in lines  # the container's cgroup namespace root (v2 line)
        assert "cgroup.procs" in lines  # cgroup2 mounted at /sys/fs/cgroup inside
    finally:
        v2_native.release(started)


def test_v2_limit_without_the_controller_is_refused(v2_native):
    layout, own = cgroups.host_layout()
    controllers = open(os.path.join(layout.unified[0], "cgroup.controllers")).read().split()
    if "memory" in controllers:
        pytest.skip("this cgroup2 hierarchy has the memory controller")
    before = time.monotonic()
    with pytest.raises(errdefs.FailedPrecondition, match="memory.max"):
        v2_native.run({"Cmd": ["true"], "HostConfig": {"Memory": 64 << 20}})
    assert time.monotonic() - before < 5


OPEN_KMSG = "mknod /tmp/kmsg c 1 11 && echo mknod-ok; (exec 3</tmp/kmsg) && echo open-ok; true"


def kmsg_case(runner, *, allowed: bool):
    """Open /dev/kmsg's node with CAP_SYSLOG: only the device rules decide (mknod is always allowed)."""
    host = {"CapAdd": ["SYSLOG"]}
    if allowed:
        host["Devices"] = [{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg", "CgroupPermissions": "rw"}]
    r = runner.run({"Cmd": ["sh", "-c", OPEN_KMSG], "HostConfig": host})
    return r.stdout.split(), r.stderr


def test_v2_device_filter_denies_unlisted_devices(v2_native):
    if not os.path.exists("/dev/kmsg"):
        pytest.skip("no /dev/kmsg on this host")
    out, err = kmsg_case(v2_native, allowed=False)
    assert out == ["mknod-ok"] and "Operation not permitted" in err
    out, err = kmsg_case(v2_native, allowed=True)
    assert out == ["mknod-ok", "open-ok"], err
