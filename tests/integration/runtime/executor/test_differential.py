"""The same spec under NativeExecutor and under crun/runc (OciRuntimeExecutor): the probe must see the same.

Differences that are known and allowed are listed in ALLOWED with the reason.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.runtime.executor.harness import Runner
from tests.integration.runtime.executor.probe_util import mounts, probe
from tests.integration.runtime.rootfs import missing_requirement

CREATE = {"User": "alice", "Hostname": "diff", "Env": ["FOO=1"], "WorkingDir": "/home/alice",
          "HostConfig": {"Memory": 64 << 20, "PidsLimit": 50, "NanoCpus": 500_000_000, "GroupAdd": ["audio"],
                         "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"], "Tmpfs": {"/scratch": "size=1m"},
                         "Ulimits": [{"Name": "nofile", "Soft": 1000, "Hard": 2000}]}}
KEYS = ("hostname", "uid", "gid", "euid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
        "SigIgn", "SigBlk", "cwd", "unshare_user_errno", "fds", "sys_readonly", "proc_sys_readonly", "root_readonly",
        "sysrq_writable", "memory_limit", "pids_max", "cpu_quota", "interfaces", "pids_visible", "hosts",
        "resolv_conf", "etc_hostname")


def view(info: dict) -> dict:
    out = {k: info[k] for k in KEYS}
    out["groups"] = sorted(info["groups"])
    out["env"] = sorted(info["env"])
    out["masked_hidden"] = {p: size <= 0 for p, size in info["masked"].items()}
    # /sys/fs/cgroup internals differ by design (crun runs with cgroup2 hidden: RUNTIME-NOTES workaround).
    # Masked files are /dev/null binds: the host's (crun, devtmpfs) or the container's own (native, tmpfs).
    out["mounts"] = sorted((p, "masked" if p in info["masked"] else m[0]) for p, m in mounts(info).items()
                           if not p.startswith("/sys/fs/cgroup/"))
    out["nofile"] = next(x for x in info["limits"].splitlines() if x.startswith("Max open files")).split()[3:5]
    out["devices"] = sorted(set(info["devices"]) - {"core"})  # runc 1.1 makes no /dev/core link
    return out


@pytest.mark.parametrize("binary", ["crun", "runc"])
def test_probe_sees_the_same_under_native_and_oci_runtime(binary, probe_path, tmp_path):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed")
    from runtime.executor.native import NativeExecutor
    from runtime.executor.oci_runtime import OciRuntimeExecutor
    native = Runner(NativeExecutor())
    oci = Runner(OciRuntimeExecutor(binary, state_dir=str(tmp_path / "state")))
    try:
        a = view(probe(native, probe_path, CREATE))
        b = view(probe(oci, probe_path, CREATE))
    finally:
        native.close()
        oci.close()
    diffs = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert diffs == {}, json.dumps(diffs)
