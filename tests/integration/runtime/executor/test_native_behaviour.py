"""NativeExecutor behaviour users notice: limits enforced, exec, pause, stop/kill, init, volumes, errors."""

from __future__ import annotations

import os
import signal
import time

import pytest

from runtime import errdefs
from tests.integration.runtime.executor.harness import TEST_PARENT


def test_exec_errors_carry_dockers_text_and_leave_nothing(native):
    before = _stackyard_cgroups()
    with pytest.raises(errdefs.NotFound, match=r'exec: "nosuch": executable file not found in \$PATH'):
        native.run({"Cmd": ["nosuch"]})
    with pytest.raises(errdefs.NotFound, match=r'exec: "/no/such": stat /no/such: no such file or directory'):
        native.run({"Cmd": ["/no/such"]})
    with pytest.raises(errdefs.PermissionDenied, match=r'exec: "/etc/passwd": permission denied'):
        native.run({"Cmd": ["/etc/passwd"]})
    assert _stackyard_cgroups() == before


def test_missing_bind_source_is_refused_before_anything_runs(native, tmp_path):
    before = _stackyard_cgroups()
    with pytest.raises(errdefs.InvalidArgument, match="bind source path does not exist: .*/nope"):
        native.run({"Cmd": ["true"], "HostConfig": {"Mounts": [{"Type": "bind", "Source": str(tmp_path / "nope"),
                                                                "Target": "/x"}]}})
    assert _stackyard_cgroups() == before


def test_a_broken_rootfs_mount_is_reported_with_the_step(native):
    spec, overlay = native.spec({"Cmd": ["true"]})
    spec["annotations"]["io.stackyard.rootfs-mounts"] = '[{"type": "overlay", "source": "overlay", "options": ["lowerdir=/no/such/dir"]}]'
    null = os.open("/dev/null", os.O_RDWR)
    try:
        with pytest.raises(errdefs.NotFound, match="mount_rootfs"):
            native.executor.start(spec, stdin=null, stdout=null, stderr=null)
    finally:
        os.close(null)
        overlay.remove()


def test_exit_code_and_stdio(native):
    r = native.run({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 7"]})
    assert (r.status, r.stdout, r.stderr) == (7, "out\n", "err\n")


def test_memory_limit_oom_kill_is_detected(native):
    r = native.run({"Cmd": ["tail", "/dev/zero"], "HostConfig": {"Memory": 32 << 20}})
    assert r.status == -signal.SIGKILL and r.oom_killed


def test_no_oom_reported_for_a_normal_exit(native):
    r = native.run({"Cmd": ["true"], "HostConfig": {"Memory": 32 << 20}})
    assert r.status == 0 and not r.oom_killed


def test_pids_limit_stops_a_fork_loop(native):
    # The loop runs in a subshell (busybox sh exits when a fork fails); builtins only after it:
    # with the cgroup full, not even `cat` could start.
    script = "(i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); done); read n < /sys/fs/cgroup/pids/pids.current; echo $n"
    r = native.run({"Cmd": ["sh", "-c", script], "HostConfig": {"PidsLimit": 20}})
    assert 18 <= int(r.stdout.split()[-1]) <= 20
    assert "can't fork" in r.stderr


def test_cpu_quota_half_a_core(native):
    started, spec, overlay = native.start({"Cmd": ["sh", "-c", "while :; do :; done"],
                                           "HostConfig": {"NanoCpus": 500_000_000}})
    try:
        time.sleep(0.2)
        u0, t0 = _cpu(native, started), time.monotonic()
        time.sleep(1.0)
        ratio = (_cpu(native, started) - u0) / ((time.monotonic() - t0) * 1e9)
        # At most half a core (the quota); the lower bound only shows it ran on a busy machine.
        assert 0.2 < ratio < 0.6, ratio
        throttling = native.executor.stats(started.cgroup)["cpu_stats"]["throttling_data"]
        assert throttling["throttled_periods"] > 0  # the CFS quota is what held it back
    finally:
        native.release(started)


def test_pause_resume_and_stats(native):
    started, spec, overlay = native.start({"Cmd": ["sh", "-c", "while :; do :; done"]})
    try:
        native.executor.pause(started.cgroup)
        u0 = _cpu(native, started)
        time.sleep(0.3)
        assert _cpu(native, started) - u0 < 5_000_000  # frozen: < 5 ms of CPU in 300 ms
        native.executor.resume(started.cgroup)
        time.sleep(0.2)
        stats = native.executor.stats(started.cgroup)
        assert stats["cpu_stats"]["cpu_usage"]["total_usage"] - u0 > 50_000_000
        assert stats["pids_stats"]["current"] >= 1 and stats["memory_stats"]["usage"] > 0
        assert native.executor.top(started.cgroup) == [started.pid]
    finally:
        native.release(started)


def test_exec_into_a_paused_container_is_a_conflict(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        native.executor.pause(started.cgroup)
        with pytest.raises(errdefs.Conflict, match="paused"):
            native.executor.exec(started.pid, started.cgroup, {"args": ["true"]}, stdin=0, stdout=1, stderr=2,
                                 spec=spec)
        native.executor.kill(started.cgroup, signal.SIGKILL, all_processes=True)  # works while paused
        assert native.wait(started, overlay, timeout=5).status == -signal.SIGKILL
        assert not started.cgroup.is_frozen()
    finally:
        native.release(started)


def test_pid_namespace_init_ignores_sigterm_and_cgroup_kill_stops_it(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        native.executor.kill(started.cgroup, signal.SIGTERM)
        time.sleep(0.2)
        assert os.waitpid(started.pid, os.WNOHANG) == (0, 0)  # pitfall 3: PID 1 ignores SIGTERM
        native.executor.kill(started.cgroup, signal.SIGKILL, all_processes=True)
        r = native.wait(started, overlay, timeout=5)
        assert r.status == -signal.SIGKILL
    finally:
        native.release(started)


@pytest.mark.parametrize("init_path", ["/usr/bin/tini-static", None], ids=["tini", "builtin"])
def test_init_forwards_sigterm_and_reaps(native, init_path):
    if init_path and not os.path.exists(init_path):
        pytest.skip(f"{init_path} missing (Debian tini)")
    started, spec, overlay = native.start({"Cmd": ["sh", "-c", "sleep 0.1 & sleep 30"], "HostConfig": {"Init": True}},
                                          init_path=init_path)
    try:
        time.sleep(0.3)
        native.executor.kill(started.cgroup, signal.SIGTERM)
        r = native.wait(started, overlay, timeout=5)
        assert r.status in (143, -signal.SIGTERM)
    finally:
        native.release(started)


def test_stop_signal_annotation(native):
    spec, overlay = native.spec({"StopSignal": "SIGQUIT"})
    overlay.remove()
    from runtime.executor.spec import stop_signal
    assert stop_signal(spec) == "SIGQUIT"


def test_named_volume_populated_from_image_then_kept(native):
    vol = native.volume("data")
    r = native.run({"Cmd": ["sh", "-c", "cat /data/seed.txt; echo more > /data/new.txt"],
                    "HostConfig": {"Binds": ["data:/data"]}})
    assert r.status == 0 and r.stdout == "from-image\n"
    assert sorted(os.listdir(vol)) == ["new.txt", "seed.txt"]
    with open(os.path.join(vol, "seed.txt"), "w") as f:
        f.write("changed\n")
    r = native.run({"Cmd": ["cat", "/data/seed.txt"], "HostConfig": {"Binds": ["data:/data"]}})
    assert r.stdout == "changed\n"  # not populated again: the volume was no longer empty


def test_bind_mounts_ro_rw_and_create_host_path(native, tmp_path):
    src = tmp_path / "src"
    made = tmp_path / "made" / "here"
    src.mkdir()
    (src / "f").write_text("host\n")
    r = native.run({"Cmd": ["sh", "-c", "cat /ro/f; echo x > /ro/g; echo $?; echo y > /made/z"],
                    "HostConfig": {"Binds": [f"{src}:/ro:ro", f"{made}:/made"]}})
    assert r.stdout.splitlines()[0] == "host" and r.stdout.splitlines()[1] != "0"
    assert "Read-only file system" in r.stderr
    assert (made / "z").read_text() == "y\n"


def test_devices_added_and_devices_cgroup_denies_others(native):
    from tests.integration.runtime.executor.test_cgroup_v2 import kmsg_case
    r = native.run({"Cmd": ["sh", "-c", "echo hi > /dev/mynull && echo ok"],
                    "HostConfig": {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                                                "CgroupPermissions": "rwm"}]}})
    assert r.stdout == "ok\n"
    if not os.path.exists("/dev/kmsg"):
        pytest.skip("no /dev/kmsg on this host")
    out, err = kmsg_case(native, allowed=False)
    assert out == ["mknod-ok"] and "Operation not permitted" in err  # the devices cgroup refuses it
    out, err = kmsg_case(native, allowed=True)
    assert out == ["mknod-ok", "open-ok"], err


def test_exec_joins_namespaces_env_user_cwd_and_cgroup(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"], "Hostname": "execme", "Env": ["FOO=bar"],
                                           "WorkingDir": "/tmp"})
    out = overlay.base / "exec.out"
    try:
        with open(out, "wb") as f:
            process = {"args": ["sh", "-c", "id -u; pwd; echo $FOO; hostname; cat /proc/self/cgroup | head -1; "
                                            "ls /proc | grep -c '^[0-9]'; exit 3"],
                       "env": spec["process"]["env"], "cwd": "/tmp", "user": {"username": "alice"}}
            pid = native.executor.exec(started.pid, started.cgroup, process, stdin=f.fileno(), stdout=f.fileno(),
                                       stderr=f.fileno(), spec=spec)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
        lines = out.read_text().splitlines()
        assert lines[:4] == ["1000", "/tmp", "bar", "execme"]
        assert lines[4].endswith(":/")  # inside the container's cgroup namespace
        assert int(lines[5]) <= 4  # sleep (pid 1), sh, ls, grep — no host processes
    finally:
        native.release(started)


def test_exec_defaults_to_the_containers_user(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"], "User": "bob"})
    out = overlay.base / "exec.out"
    try:
        with open(out, "wb") as f:
            process = {**spec["process"], "args": ["id"]}  # what a healthcheck exec sends
            pid = native.executor.exec(started.pid, started.cgroup, process, stdin=f.fileno(), stdout=f.fileno(),
                                       stderr=f.fileno(), spec=spec)
        os.waitpid(pid, 0)
        assert out.read_text().startswith("uid=1001(bob) gid=1001(bob)")
    finally:
        native.release(started)


def test_exec_with_a_tty(native):
    import pty
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        master, slave = pty.openpty()
        process = {"args": ["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty"], "env": spec["process"]["env"],
                   "cwd": "/", "terminal": True}
        pid = native.executor.exec(started.pid, started.cgroup, process, stdin=slave, stdout=slave, stderr=slave,
                                   tty_fd=slave, spec=spec)
        os.close(slave)
        _, status = os.waitpid(pid, 0)
        data = b""
        try:
            while chunk := os.read(master, 4096):
                data += chunk
        except OSError:
            pass
        os.close(master)
        assert os.waitstatus_to_exitcode(status) == 0 and b"is-a-tty" in data
    finally:
        native.release(started)


def test_exec_with_a_pty_from_the_containers_devpts(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        master, slave = native.executor.open_pty(started.pid)
        process = {"args": ["tty"], "env": spec["process"]["env"], "cwd": "/", "terminal": True}
        pid = native.executor.exec(started.pid, started.cgroup, process, stdin=slave, stdout=slave, stderr=slave,
                                   tty_fd=slave, spec=spec)
        os.close(slave)
        _, status = os.waitpid(pid, 0)
        data = b""
        try:
            while chunk := os.read(master, 4096):
                data += chunk
        except OSError:
            pass
        os.close(master)
        assert os.waitstatus_to_exitcode(status) == 0 and data.strip() == b"/dev/pts/0"
    finally:
        native.release(started)


def test_exec_into_a_gone_container_is_a_conflict(native):
    started, spec, overlay = native.start({"Cmd": ["true"]})
    native.wait(started, overlay)
    with pytest.raises(errdefs.Conflict):
        native.executor.exec(started.pid, started.cgroup, {"args": ["true"]}, stdin=0, stdout=1, stderr=2, spec=spec)
    native.release(started)


def test_adopt_finds_a_running_container_by_its_cgroup(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        cid = spec["annotations"]["io.stackyard.container-id"]
        handle = native.executor.adopt(cid, cgroup_parent=TEST_PARENT)
        assert handle is not None and handle.pids() == [started.pid]
        assert native.executor.adopt("nosuchcontainer") is None
        # Found without being told the parent: the test parent nests under "stackyard".
        assert native.executor.adopt(cid).pids() == [started.pid]
    finally:
        native.release(started)


def test_200_start_stop_cycles_leave_nothing_behind(native):
    cgroups_before = _stackyard_cgroups()
    children_before = _children()  # e.g. a session dockerd started by another test
    t0 = time.monotonic()
    for _ in range(200):
        r = native.run({"Cmd": ["true"]})
        assert r.status == 0
    elapsed = time.monotonic() - t0
    assert _our_mounts(native) == []
    assert _stackyard_cgroups() == cgroups_before
    assert _children() == children_before
    assert [p for p in os.listdir(native.base) if p.startswith("t")] == []
    assert elapsed < 60


def _cpu(native, started) -> int:
    return native.executor.stats(started.cgroup)["cpu_stats"]["cpu_usage"]["total_usage"]


def _our_mounts(native) -> list[str]:
    """Host mounts that mention our dirs (other helpers mount things concurrently; ignore those)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(native.base) in line or str(native.lower) in line]


def _stackyard_cgroups() -> list[str]:
    from runtime.executor.cgroups import container_dirs
    out = []
    for path in container_dirs(TEST_PARENT).paths.values():
        if os.path.isdir(path):
            out += [os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
    return sorted(out)


def _children() -> list[int]:
    me = str(os.getpid())
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        kids.append(int(p))
            except OSError:
                pass
    return kids


def test_start_with_a_tty_gets_a_controlling_terminal_and_console(native):
    import pty
    master, slave = pty.openpty()
    try:
        started, spec, overlay = native.start({"Cmd": ["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty-ok; "
                                                        "[ -c /dev/console ] && echo console-ok; echo $TERM"],
                                               "Tty": True}, tty_fd=slave)
        os.close(slave)
        slave = -1
        r = native.wait(started, overlay)
        data = b""
        try:
            while chunk := os.read(master, 4096):
                data += chunk
        except OSError:
            pass
        native.release(started)
        assert r.status == 0
        assert data.split() == [b"tty-ok", b"console-ok", b"xterm"]
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_start_with_a_terminal_in_the_containers_devpts(native):
    started, spec, overlay = native.start({"Cmd": ["sh", "-c", "tty; [ -c /dev/console ] && echo console-ok"],
                                           "Tty": True})
    master = started.console_fd
    assert master is not None
    try:
        r = native.wait(started, overlay)
        data = b""
        try:
            while chunk := os.read(master, 4096):
                data += chunk
        except OSError:
            pass
        native.release(started)
        assert r.status == 0 and data.split() == [b"/dev/pts/0", b"console-ok"]
    finally:
        os.close(master)


def test_custom_seccomp_profile_is_applied(native):
    import json
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    r = native.run({"Cmd": ["sh", "-c", "mkdir /tmp/x; echo $?"],
                    "HostConfig": {"SecurityOpt": [f"seccomp={json.dumps(profile)}"]}})
    assert r.stdout.strip() != "0" and "Operation not permitted" in r.stderr


def test_exec_of_a_missing_command_is_not_found(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        with pytest.raises(errdefs.NotFound, match=r'exec: "nosuch": executable file not found in \$PATH'):
            native.executor.exec(started.pid, started.cgroup, {"args": ["nosuch"]}, stdin=0, stdout=1, stderr=2,
                                 spec=spec)
    finally:
        native.release(started)


def test_bind_propagation_rslave_sees_later_host_mounts(native, tmp_path):
    import subprocess
    src = tmp_path / "shared"
    src.mkdir()
    subprocess.run(["mount", "--bind", "--make-shared", str(src), str(src)], check=True)
    try:
        started, spec, overlay = native.start({"Cmd": ["sh", "-c", "sleep 0.4; ls /mnt/sub"],
                                               "HostConfig": {"Binds": [f"{src}:/mnt:rslave"]}})
        (src / "sub").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(src / "sub")], check=True)
        (src / "sub" / "seen").write_text("x")
        r = native.wait(started, overlay)
        native.release(started)
        assert r.stdout.split() == ["seen"]
    finally:
        subprocess.run(["umount", "-R", str(src)], check=False)


def test_every_limit_lands_in_the_containers_cgroup(native):
    started, spec, overlay = native.start({"Cmd": ["sleep", "30"], "HostConfig": {
        "Memory": 64 << 20, "MemorySwap": 96 << 20, "MemoryReservation": 32 << 20, "CpuShares": 512,
        "CpusetCpus": "0", "PidsLimit": 33, "BlkioWeight": 300, "NanoCpus": 250_000_000}})
    try:
        paths = started.cgroup.paths
        if started.cgroup.mode == "v2":
            pytest.skip("v1 file names; the v2 files are covered by test_cgroup_v2 and the unit tests")

        def read(ctrl, name):
            with open(os.path.join(paths[ctrl], name)) as f:
                return f.read().strip()
        assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
        if os.path.exists(os.path.join(paths["memory"], "memory.memsw.limit_in_bytes")):
            assert read("memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
        assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
        assert read("cpu", "cpu.shares") == "512" and read("cpu", "cpu.cfs_quota_us") == "25000"
        assert read("cpuset", "cpuset.cpus") == "0" and read("pids", "pids.max") == "33"
        assert started.pid in started.cgroup.pids()
        with open(f"/proc/{started.pid}/status") as f:
            assert next(x for x in f if x.startswith("Cpus_allowed_list")).split()[1] == "0"
    finally:
        native.release(started)
