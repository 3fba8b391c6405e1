"""cgroups: layout detection and the files written for limits (pure parts), v1 and v2."""

from runtime.executor import cgroups
from runtime.executor.plan import cgroup_mounts, mount_flags
from runtime.executor import syscalls as sc

HYBRID = """\
24 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
"""
V2 = "30 25 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def test_detect_hybrid_v1_and_v2():
    layout = cgroups.detect(HYBRID)
    assert layout.mode == "hybrid"
    assert layout.v1["memory"] == ("/sys/fs/cgroup/memory", "/")
    assert layout.v1["cpu"] == layout.v1["cpuacct"] == ("/sys/fs/cgroup/cpu,cpuacct", "/")
    assert layout.unified == ("/sys/fs/cgroup/unified", "/")
    assert cgroups.detect(V2).mode == "v2"
    v1_only = "\n".join(line for line in HYBRID.splitlines() if "cgroup2" not in line)
    assert cgroups.detect(v1_only).mode == "v1"


def test_this_host_layout_is_detected_not_assumed():
    layout, own = cgroups.host_layout()
    assert layout.mode in ("v1", "hybrid", "v2")
    assert ("" in own) == (layout.unified is not None) or layout.mode == "v1"


def test_own_paths_nest_under_where_we_run():
    own = cgroups.own_paths("4:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/user.slice\n")
    assert own == {"memory": "/process_api/abc", "cpu": "/", "cpuacct": "/", "": "/user.slice"}
    assert cgroups._join(("/sys/fs/cgroup/memory", "/"), own["memory"], "stackyard/x") == \
        "/sys/fs/cgroup/memory/process_api/abc/stackyard/x"
    # Inside a cgroup namespace the mount root is a prefix of the path.
    assert cgroups._join(("/sys/fs/cgroup/memory", "/process_api"), "/process_api/abc", "s") == "/sys/fs/cgroup/memory/abc/s"


RES = {"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
       "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0-1"}, "pids": {"limit": 20},
       "blockIO": {"weight": 500}}


def test_v1_files_for_limits():
    files = cgroups.v1_files(RES, device_rules=["c 1:3 rwm"])
    assert files["memory"] == [("memory.limit_in_bytes", str(64 << 20)), ("memory.memsw.limit_in_bytes", str(128 << 20)),
                               ("memory.soft_limit_in_bytes", str(32 << 20))]
    assert files["cpu"] == [("cpu.shares", "512"), ("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000")]
    assert files["pids"] == [("pids.max", "20")] and files["cpuset"] == [("cpuset.cpus", "0-1")]
    assert files["devices"] == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm")]
    assert "devices" not in cgroups.v1_files(RES, device_rules=None)


def test_v2_files_convert_like_runc():
    files = dict(cgroups.v2_files(RES))
    assert files["memory.max"] == str(64 << 20)
    assert files["memory.swap.max"] == str(64 << 20)  # v2 swap excludes memory
    assert files["memory.low"] == str(32 << 20)
    assert files["cpu.max"] == "50000 100000"
    assert files["cpu.weight"] == str(1 + ((512 - 2) * 9999) // 262142)
    assert files["pids.max"] == "20" and files["io.weight"] == str(1 + (500 - 10) * 9999 // 990)
    assert dict(cgroups.v2_files({"memory": {"limit": 10, "swap": -1}}))["memory.swap.max"] == "max"


def test_cgroup_mounts_inside_by_mode():
    assert cgroup_mounts("v2", []) == [("", "cgroup2", "")]
    assert cgroup_mounts("hybrid", ["cpu", "memory"]) == [("cpu", "cgroup", "cpu"), ("memory", "cgroup", "memory"),
                                                          ("unified", "cgroup2", "")]


def test_mount_flags():
    flags, prop, data = mount_flags(["nosuid", "noexec", "ro", "rbind", "rslave", "mode=755", "size=65536k"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_RDONLY | sc.MS_BIND | sc.MS_REC
    assert prop == sc.MS_SLAVE | sc.MS_REC and data == "mode=755,size=65536k"
    assert mount_flags(["ro", "rw"])[0] == 0
