"""One conformance suite for every executor: NativeExecutor, and OciRuntimeExecutor with crun
(hybrid-cgroup workaround) and runc. The supervisor may be handed any of them; each must pass
all of this: start, exit codes and stdio, exec errors, OOM, exec with the container's user,
kill, pause/resume, stats/top, adopt, privileged, and leak-free cycles.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from runtime import errdefs
from tests.integration.runtime.executor.harness import Runner
from tests.integration.runtime.rootfs import missing_requirement


@pytest.fixture(params=["native", "crun", "runc"])
def oci(request, tmp_path):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    if request.param == "native":
        from runtime.executor.native import NativeExecutor
        executor = NativeExecutor()
    else:
        if shutil.which(request.param) is None:
            pytest.skip(f"{request.param} is not installed")
        from runtime.executor.oci_runtime import OciRuntimeExecutor
        executor = OciRuntimeExecutor(request.param, state_dir=str(tmp_path / "state"))
    runner = Runner(executor)
    try:
        yield runner
    finally:
        runner.close()


def test_exit_code_stdio_and_exec_errors(oci):
    r = oci.run({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 5"]})
    assert (r.status, r.stdout, r.stderr) == (5, "out\n", "err\n")
    with pytest.raises(errdefs.NotFound, match="nosuch"):
        oci.run({"Cmd": ["nosuch"]})


def test_oom_is_detected(oci):
    r = oci.run({"Cmd": ["tail", "/dev/zero"], "HostConfig": {"Memory": 32 << 20}})
    assert r.status == -signal.SIGKILL and r.oom_killed


def test_exec_and_kill_all(oci):
    started, spec, overlay = oci.start({"Cmd": ["sleep", "30"], "Env": ["FOO=bar"]})
    try:
        out = overlay.base / "exec.out"
        with open(out, "wb") as f:
            pid = oci.executor.exec(started.pid, started.cgroup, {"args": ["sh", "-c", "echo $FOO; id -u; exit 4"],
                                                                  "user": {"username": "alice"}},
                                    stdin=f.fileno(), stdout=f.fileno(), stderr=f.fileno(), spec=spec)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 4 and out.read_text().split() == ["bar", "1000"]
        assert started.pid in oci.executor.top(started.cgroup)
        oci.executor.kill(started.cgroup, signal.SIGKILL, all_processes=True)
        assert oci.wait(started, overlay, timeout=5).status == -signal.SIGKILL
    finally:
        oci.release(started)


def test_pause_resume_stats_top_and_adopt(oci):
    import time
    started, spec, overlay = oci.start({"Cmd": ["sh", "-c", "while :; do :; done"]})
    try:
        ex = oci.executor
        assert started.pid in ex.top(started.cgroup)
        ex.pause(started.cgroup)
        u0 = ex.stats(started.cgroup)["cpu_stats"]["cpu_usage"]["total_usage"]
        time.sleep(0.2)
        assert ex.stats(started.cgroup)["cpu_stats"]["cpu_usage"]["total_usage"] - u0 < 5_000_000
        ex.resume(started.cgroup)
        time.sleep(0.1)
        stats = ex.stats(started.cgroup)
        assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > u0 and stats["pids_stats"]["current"] >= 1
        cid = spec["annotations"]["io.stackyard.container-id"]
        adopted = ex.adopt(cid)
        assert adopted is not None and started.pid in adopted.pids()
    finally:
        oci.release(started)


def test_cycles_leave_no_mounts_bundles_or_cgroups(oci):
    from tests.integration.runtime.executor.test_native_behaviour import _stackyard_cgroups
    before = _stackyard_cgroups()
    for _ in range(10):
        assert oci.run({"Cmd": ["true"]}).status == 0
    ours = [str(oci.base)] + ([str(oci.executor.state_dir)] if hasattr(oci.executor, "state_dir") else [])
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if any(p in line for p in ours)] == []
    if hasattr(oci.executor, "state_dir"):
        assert os.listdir(oci.executor.state_dir / "bundles") == []
    assert _stackyard_cgroups() == before


def test_privileged_gets_all_caps_and_host_devices(oci):
    r = oci.run({"Cmd": ["sh", "-c", "grep CapEff /proc/self/status; ls /dev"], "HostConfig": {"Privileged": True}})
    assert r.status == 0, r.stderr
    assert "kmsg" in r.stdout.split() or not os.path.exists("/dev/kmsg")


def test_executors_pick_by_runtime(tmp_path):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    from runtime.executor.native import NativeExecutor
    from runtime.executor.oci_runtime import OciRuntimeExecutor
    from runtime.executor.runtimes import Executors
    ex = Executors(oci_state_dir=str(tmp_path))
    assert isinstance(ex.for_spec({"annotations": {}}), NativeExecutor)
    assert ex.get("native") is ex.get("")
    if shutil.which("crun"):
        chosen = ex.for_spec({"annotations": {"io.stackyard.runtime": "crun"}})
        assert isinstance(chosen, OciRuntimeExecutor) and chosen.name == "crun"
