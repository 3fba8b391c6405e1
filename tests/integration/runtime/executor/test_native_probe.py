"""What a container started by NativeExecutor really gets, as reported by the probe from inside."""

from __future__ import annotations

import errno
import os

from runtime.executor import caps
from tests.integration.runtime.executor.probe_util import mount_devices, mounts, probe

DEFAULT_CAPS = f"{caps.mask(list(caps.DOCKER_DEFAULT)):016x}"


def test_default_container_isolation_and_docker_defaults(native, probe_path):
    info = probe(native, probe_path, {"Hostname": "probe-host", "Domainname": "example.test", "Env": ["FOO=bar"]})
    assert info["hostname"] == "probe-host" and info["domainname"] == "example.test"
    assert (info["uid"], info["gid"]) == (0, 0)
    assert info["CapEff"] == info["CapPrm"] == info["CapBnd"] == DEFAULT_CAPS
    assert info["CapInh"] == info["CapAmb"] == "0000000000000000"
    assert info["Seccomp"] == "2" and info["NoNewPrivs"] == "0"
    assert info["unshare_user_errno"] == errno.EPERM  # Docker's profile denies it without CAP_SYS_ADMIN
    assert info["SigIgn"] == "0000000000000000" and info["SigBlk"] == "0000000000000000"
    assert info["fds"] == [0, 1, 2]
    assert info["pid"] == 1 and info["pids_visible"] == [1]  # host processes invisible
    assert info["interfaces"] == ["lo"]  # host interfaces invisible
    assert all(size <= 0 for size in info["masked"].values()), info["masked"]
    assert info["sys_readonly"] == 1 and info["proc_sys_readonly"] == 1 and info["sysrq_writable"] == 0
    assert info["root_readonly"] == 0
    assert info["hosts"] == "127.0.0.1 localhost\n" and info["resolv_conf"] == "nameserver 127.0.0.53\n"
    assert info["etc_hostname"] == "probe-host\n"
    assert "FOO=bar" in info["env"] and "HOME=/root" in info["env"] and "HOSTNAME=probe-host" in info["env"]
    assert any(e.startswith("PATH=/usr/local/sbin") for e in info["env"])
    m = mounts(info)
    assert m["/"][0] == "overlay"
    assert m["/proc"][0] == "proc" and m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1].split(",")
    assert m["/dev"][0] == "tmpfs" and m["/dev/pts"][0] == "devpts"
    with open("/proc/self/mountinfo") as f:
        host_pts = {line.split()[2] for line in f if line.split()[4] == "/dev/pts"}
    assert mount_devices(info)["/dev/pts"] not in host_pts  # its own devpts instance
    assert m["/dev/shm"][0] == "tmpfs" and "size=65536k" in m["/dev/shm"][2]
    assert m["/dev/mqueue"][0] == "mqueue"
    assert "/etc/hostname" in m and "/etc/hosts" in m and "/etc/resolv.conf" in m  # per-container files, bound in
    assert not any(p.startswith(("/work", "/tmp/sy-", "/root")) for p in m), sorted(m)  # no host mounts leak in
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"):
        assert name in info["devices"]


def test_user_by_name_groups_and_workdir_created(native, probe_path):
    info = probe(native, probe_path, {"User": "alice", "WorkingDir": "/srv/new/dir",
                                      "HostConfig": {"GroupAdd": ["audio", "4242"]}})
    assert (info["uid"], info["gid"]) == (1000, 1000)
    assert sorted(info["groups"]) == sorted([1000, 50, 29, 4242])
    assert info["cwd"] == "/srv/new/dir"
    assert info["CapEff"] == "0000000000000000" and info["CapBnd"] == DEFAULT_CAPS
    assert "HOME=/home/alice" in info["env"]


def test_unknown_user_is_refused_with_dockers_text(native, probe_path):
    import pytest

    from runtime import errdefs
    with pytest.raises(errdefs.InvalidArgument, match="unable to find user carol: no matching entries in passwd file"):
        probe(native, probe_path, {"User": "carol"})


def test_caps_nnp_and_seccomp_options(native, probe_path):
    info = probe(native, probe_path, {"HostConfig": {"CapAdd": ["SYS_ADMIN"], "CapDrop": ["NET_RAW", "MKNOD"],
                                                     "SecurityOpt": ["no-new-privileges:true"]}})
    expected = caps.mask([c for c in caps.DOCKER_DEFAULT if c not in ("CAP_NET_RAW", "CAP_MKNOD")] + ["CAP_SYS_ADMIN"])
    assert int(info["CapEff"], 16) == expected
    assert info["NoNewPrivs"] == "1" and info["Seccomp"] == "2"
    assert info["unshare_user_errno"] == 0  # with CAP_SYS_ADMIN the profile allows it, as Docker's does
    info = probe(native, probe_path, {"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}})
    assert info["Seccomp"] == "0"


def test_privileged_has_all_caps_and_no_masks(native, probe_path):
    info = probe(native, probe_path, {"HostConfig": {"Privileged": True}})
    assert int(info["CapEff"], 16) == caps.mask(sorted(caps.CAPABILITIES)) & int(info["CapBnd"], 16)
    assert info["Seccomp"] == "0" and info["sys_readonly"] == 0
    assert info["masked"]["/proc/keys"] > 0 or info["masked"]["/proc/timer_list"] > 0
    import stat
    host_devices = {e.name for e in os.scandir("/dev")
                    if stat.S_ISCHR(e.stat(follow_symlinks=False).st_mode) or stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)}
    assert host_devices <= set(info["devices"])  # Docker gives a privileged container the host's devices


def test_readonly_root_tmpfs_ulimits_sysctls_shm(native, probe_path):
    info = probe(native, probe_path, {"HostConfig": {
        "ReadonlyRootfs": True, "Tmpfs": {"/scratch": "size=1m"}, "ShmSize": 2 << 20,
        "Ulimits": [{"Name": "nofile", "Soft": 1000, "Hard": 2000}], "Sysctls": {"net.ipv4.ip_forward": "1"}}})
    assert info["root_readonly"] == 1
    m = mounts(info)
    assert m["/scratch"][0] == "tmpfs" and "size=1024k" in m["/scratch"][2]
    assert "size=2048k" in m["/dev/shm"][2]
    line = next(x for x in info["limits"].splitlines() if x.startswith("Max open files"))
    assert line.split()[3:5] == ["1000", "2000"]


def test_sysctl_is_applied_inside(native):
    with open("/proc/sys/kernel/shmmni") as f:
        host_before = f.read().strip()
    wanted = "1001" if host_before != "1001" else "1002"
    r = native.run({"Cmd": ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmni"],
                    "HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmni": wanted}}})
    assert r.status == 0, r.stderr
    assert r.stdout.split() == ["1", wanted]
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read().strip() == host_before  # the host keeps its own value (IPC namespace)


def test_cgroup_limits_visible_inside(native, probe_path):
    info = probe(native, probe_path, {"HostConfig": {"Memory": 64 << 20, "PidsLimit": 20, "NanoCpus": 500_000_000}})
    if info["memory_limit"] is not None:  # v1/hybrid layout inside
        assert int(info["memory_limit"]) == 64 << 20
        assert info["pids_max"] == "20" and info["cpu_quota"] == "50000"
    else:
        assert int(info["memory_max_v2"]) == 64 << 20
    assert all(line.endswith(":/") for line in info["proc_cgroup"].splitlines())  # cgroup namespace root


def test_netns_path_is_joined(native, probe_path, tmp_path):
    import subprocess
    ns = tmp_path / "netns"
    ns.touch()
    subprocess.run(["unshare", f"--net={ns}", "true"], check=True)
    try:
        subprocess.run(["nsenter", f"--net={ns}", "ip", "link", "add", "syva0", "type", "veth", "peer", "name", "syvb0"], check=True)
        info = probe(native, probe_path, {}, netns_path=str(ns))
        assert sorted(info["interfaces"]) == ["lo", "syva0", "syvb0"]
        started, spec, overlay = native.start({"Cmd": ["sleep", "30"]}, netns_path=str(ns))
        try:
            networks = native.executor.stats(started.cgroup)["networks"]
            assert sorted(networks) == ["syva0", "syvb0"] and "rx_bytes" in networks["syva0"]
        finally:
            native.release(started)
    finally:
        subprocess.run(["umount", str(ns)], check=False)


def test_host_pid_and_network(native, probe_path):
    info = probe(native, probe_path, {"HostConfig": {"PidMode": "host", "NetworkMode": "host"}}, netns_path="host")
    assert info["pid"] != 1 and len(info["pids_visible"]) > 1
    import socket
    # Other tests add and remove sy*/veth interfaces concurrently: compare the stable ones.
    stable = {n for _, n in socket.if_nameindex() if not n.startswith(("sy", "veth", "docker", "br-"))}
    assert stable <= set(info["interfaces"]) and "lo" in stable
