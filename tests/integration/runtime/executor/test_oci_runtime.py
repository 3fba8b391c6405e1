"""OciRuntimeExecutor with crun (hybrid-cgroup workaround) and runc: start, errors, exec, limits, cleanup."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from runtime import errdefs
from tests.integration.runtime.executor.harness import Runner
from tests.integration.runtime.rootfs import missing_requirement


@pytest.fixture(params=["crun", "runc"])
def oci(request, tmp_path):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    from runtime.executor.oci_runtime import OciRuntimeExecutor
    runner = Runner(OciRuntimeExecutor(request.param, state_dir=str(tmp_path / "state")))
    try:
        yield runner
    finally:
        runner.close()


def test_oci_exit_code_stdio_and_exec_errors(oci):
    r = oci.run({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 5"]})
    assert (r.status, r.stdout, r.stderr) == (5, "out\n", "err\n")
    with pytest.raises(errdefs.NotFound, match="nosuch"):
        oci.run({"Cmd": ["nosuch"]})


def test_oci_oom_is_detected(oci):
    r = oci.run({"Cmd": ["tail", "/dev/zero"], "HostConfig": {"Memory": 32 << 20}})
    assert r.status == -signal.SIGKILL and r.oom_killed


def test_oci_exec_and_kill_all(oci):
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


def test_oci_cycles_leave_no_mounts_or_bundles(oci):
    for _ in range(10):
        assert oci.run({"Cmd": ["true"]}).status == 0
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if str(oci.executor.state_dir) in line or str(oci.base) in line] == []
    assert os.listdir(oci.executor.state_dir / "bundles") == []


def test_oci_privileged_gets_all_caps_and_host_devices(oci):
    r = oci.run({"Cmd": ["sh", "-c", "grep CapEff /proc/self/status; ls /dev"], "HostConfig": {"Privileged": True}})
    assert r.status == 0, r.stderr
    assert "kmsg" in r.stdout.split() or not os.path.exists("/dev/kmsg")
