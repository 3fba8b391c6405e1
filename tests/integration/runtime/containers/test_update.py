"""ContainerManager.update (docker update) on real containers: limits land in the container's own
cgroup files and bind its processes, survive a restart, a refused update changes nothing, the
new restart policy decides the next exit; and the live write works on crun/runc containers too."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from runtime import errdefs
from runtime.executor import cgroups
from tests.integration.runtime.containers.conftest import wait_for

MB = 1024 * 1024


def cgroup_of(pid: int) -> cgroups.CgroupHandle:
    """The cgroup dirs the process is really in (from /proc/<pid>/cgroup, not from our records)."""
    from runtime.executor.oci_runtime import handle_from_pid
    return handle_from_pid(pid)


def read(handle: cgroups.CgroupHandle, ctrl: str, name: str) -> str:
    with open(os.path.join(handle.paths[ctrl], name)) as f:
        return f.read().strip()


def limits(pid: int) -> dict:
    h = cgroup_of(pid)
    out = {"memory": read(h, "memory", "memory.limit_in_bytes"), "quota": read(h, "cpu", "cpu.cfs_quota_us"),
           "period": read(h, "cpu", "cpu.cfs_period_us"), "pids": read(h, "pids", "pids.max"),
           "shares": read(h, "cpu", "cpu.shares"), "cpus": read(h, "cpuset", "cpuset.cpus")}
    if os.path.exists(os.path.join(h.paths["memory"], "memory.memsw.limit_in_bytes")):
        out["memsw"] = read(h, "memory", "memory.memsw.limit_in_bytes")
    return out


def require_v1_controllers():
    layout, _ = cgroups.host_layout()
    missing = {"memory", "cpu", "pids", "cpuset"} - set(layout.v1)
    if missing:
        pytest.skip(f"these tests read cgroup v1 files; this host lacks {sorted(missing)} on v1")


def test_update_running_container_writes_its_cgroup_and_survives_restart(env):
    require_v1_controllers()
    m = env.manager
    cid = env.run(["sleep", "300"])
    pid = m.inspect(cid)["State"]["Pid"]
    before = limits(pid)
    assert before["pids"] == "max"
    warnings = m.update(cid, {"Memory": 64 * MB, "MemorySwap": 128 * MB, "NanoCpus": 500_000_000, "PidsLimit": 50,
                              "CpuShares": 512, "CpusetCpus": "0"})
    assert warnings == []
    want = {"memory": str(64 * MB), "quota": "50000", "period": "100000", "pids": "50", "shares": "512", "cpus": "0"}
    if "memsw" in before:
        want["memsw"] = str(128 * MB)
    assert limits(pid) == want
    host = m.inspect(cid)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"], host["CpuShares"],
            host["CpusetCpus"]) == (64 * MB, 128 * MB, 500_000_000, 50, 512, "0")
    m.restart(cid, timeout=0)
    new_pid = m.inspect(cid)["State"]["Pid"]
    assert new_pid != pid and limits(new_pid) == want


def test_update_pids_limit_stops_forks_in_the_running_container(env):
    require_v1_controllers()
    m = env.manager
    cid = env.run(["sleep", "300"])
    m.update(cid, {"PidsLimit": 4})
    exec_id = m.exec_create(cid, {"Cmd": ["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 30 & done; wait"]})
    out = b"".join(data for _, data in m.exec_run(exec_id))
    assert b"can't fork" in out or b"Resource temporarily unavailable" in out, out
    m.update(cid, {"PidsLimit": -1})  # unlimited again: the cgroup says max
    assert limits(m.inspect(cid)["State"]["Pid"])["pids"] == "max"


def test_update_memory_below_usage_is_refused_and_changes_nothing(env):
    require_v1_controllers()
    m = env.manager
    # 40 MiB in /dev/shm (tmpfs, charged to the container, not reclaimable without swap).
    cid = env.run(["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; touch /tmp/ready; sleep 300"])
    pid = m.inspect(cid)["State"]["Pid"]
    wait_for(lambda: os.path.exists(f"/proc/{pid}/root/tmp/ready"))
    m.update(cid, {"Memory": 100 * MB, "MemorySwap": 200 * MB})
    record = json.dumps(m.inspect(cid)["HostConfig"], sort_keys=True)
    before = limits(pid)
    with pytest.raises(errdefs.Conflict, match=r"Cannot update container .*unable to set memory limit to 8388608 "
                                               r"\(current usage: \d+, peak usage: \d+\)"):
        # swap first (-1: unlimited), then memory fails: the swap write is put back too
        m.update(cid, {"Memory": 8 * MB, "MemorySwap": -1})
    assert limits(pid) == before
    assert json.dumps(m.inspect(cid)["HostConfig"], sort_keys=True) == record
    assert m.inspect(cid)["State"]["Running"] is True


def test_update_invalid_values_change_nothing(env):
    m = env.manager
    cid = env.create(["true"], HostConfig={"AutoRemove": True})
    config = open(m.store.path(cid, "config.json")).read()
    supervise = open(m.store.path(cid, "supervise.json")).read()
    with pytest.raises(errdefs.InvalidArgument, match="Minimum memory limit allowed is 6MB"):
        m.update(cid, {"Memory": 1024, "PidsLimit": 5})
    with pytest.raises(errdefs.InvalidArgument, match="Conflicting options: Nano CPUs and CPU Period cannot both be set"):
        m.update(cid, {"NanoCpus": 10 ** 9, "CpuPeriod": 100000})
    with pytest.raises(errdefs.Conflict, match="AutoRemove is enabled"):
        m.update(cid, {"RestartPolicy": {"Name": "always"}})
    assert open(m.store.path(cid, "config.json")).read() == config
    assert open(m.store.path(cid, "supervise.json")).read() == supervise
    with pytest.raises(errdefs.NotFound):
        m.update("no-such-container", {"Memory": 64 * MB})


def test_update_created_container_is_persisted_and_applied_at_start(env):
    require_v1_controllers()
    m = env.manager
    cid = env.create(["sleep", "300"])
    m.update(cid, {"Memory": 32 * MB, "MemorySwap": -1, "CpuQuota": 20000, "CpuPeriod": 50000})
    assert m.inspect(cid)["State"]["Status"] == "created"
    m.start(cid)
    got = limits(m.inspect(cid)["State"]["Pid"])
    assert (got["memory"], got["quota"], got["period"]) == (str(32 * MB), "20000", "50000")


def test_update_restart_policy_decides_the_next_exit(env):
    m = env.manager
    cid = env.run(["sh", "-c", "sleep 1; exit 3"])
    m.update(cid, {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    assert m.inspect(cid)["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    wait_for(lambda: m.inspect(cid)["RestartCount"] == 2 and m.inspect(cid)["State"]["Status"] == "exited", timeout=20)
    assert m.inspect(cid)["State"]["ExitCode"] == 3
    # and back to "no" while it runs: the next exit leaves it down
    m.start(cid)
    m.update(cid, {"RestartPolicy": {"Name": "no"}})
    assert m.wait(cid, timeout=20)["StatusCode"] == 3
    assert m.inspect(cid)["State"]["Status"] == "exited"


def test_update_paused_container_writes_its_cgroup(env):
    require_v1_controllers()
    m = env.manager
    cid = env.run(["sleep", "300"])
    m.pause(cid)
    try:
        m.update(cid, {"PidsLimit": 7})
        assert limits(m.inspect(cid)["State"]["Pid"])["pids"] == "7"
    finally:
        m.unpause(cid)


@pytest.mark.parametrize("runtime_name", ["native", "crun", "runc"])
def test_live_update_writes_where_each_executor_put_the_container(runtime_name, tmp_path):
    """resources.apply on the handle each executor returns: crun/runc's cgroups are their own
    (crun's path is absolute), yet the write lands in the cgroup the container's init is in."""
    from tests.integration.runtime.rootfs import missing_requirement
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    require_v1_controllers()
    if runtime_name == "native":
        from runtime.executor.native import NativeExecutor
        executor = NativeExecutor()
    else:
        if shutil.which(runtime_name) is None:
            pytest.skip(f"{runtime_name} is not installed")
        from runtime.executor.oci_runtime import OciRuntimeExecutor
        executor = OciRuntimeExecutor(runtime_name, state_dir=str(tmp_path / "state"))
    from runtime.executor import resources
    from tests.integration.runtime.executor.harness import Runner
    runner = Runner(executor)
    try:
        started, _spec, _overlay = runner.start({"Cmd": ["sleep", "30"]})
        resources.apply(started.cgroup, {"memory": {"limit": 48 * MB, "swap": 96 * MB}, "pids": {"limit": 9},
                                         "cpu": {"quota": 30000, "period": 100000}})
        got = limits(started.pid)
        assert (got["memory"], got["pids"], got["quota"]) == (str(48 * MB), "9", "30000")
    finally:
        runner.close()


def test_live_update_on_v2_without_the_controller_is_refused(monkeypatch, tmp_path):
    """Forced v2 layout on a hybrid host: cgroup2 here has no pids controller, so the update is
    refused with the file it needed (FailedPrecondition), not silently dropped."""
    from runtime.executor import resources
    layout, own = cgroups.host_layout()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    controllers = open(os.path.join(layout.unified[0], "cgroup.controllers")).read().split()
    if "pids" in controllers:
        pytest.skip("this cgroup2 hierarchy has the pids controller")
    handle = cgroups.CgroupHandle("v2", {cgroups.UNIFIED: str(tmp_path)})
    with pytest.raises(errdefs.FailedPrecondition, match="pids.max"):
        resources.apply(handle, {"pids": {"limit": 5}})


def test_update_after_a_supervisor_restart_reaches_the_readopted_container(env):
    """A re-adopted container's cgroup is found again (executor.adopt), so updates still land;
    with no supervisor at all a running container's update is refused and nothing changes."""
    import signal
    require_v1_controllers()
    m = env.manager
    cid = env.run(["sleep", "300"])
    pid = m.inspect(cid)["State"]["Pid"]
    env.stop_supervisor(env.pids[0], signal.SIGKILL)
    config = open(m.store.path(cid, "config.json")).read()
    with pytest.raises(errdefs.Unavailable):
        m.update(cid, {"PidsLimit": 11})
    assert open(m.store.path(cid, "config.json")).read() == config and limits(pid)["pids"] == "max"
    env.start_supervisor()
    m.update(cid, {"PidsLimit": 12})
    assert limits(pid)["pids"] == "12" and m.inspect(cid)["HostConfig"]["PidsLimit"] == 12
