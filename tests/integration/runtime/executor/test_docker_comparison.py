"""The probe under a real dockerd (private, tests/integration/dockerd.py) vs under NativeExecutor.

Shows that what our containers get matches what Docker gives. Known Docker 20.10 differences are
normalised with the reason next to them.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.runtime.executor.harness import Runner
from tests.integration.runtime.executor.probe_util import probe
from tests.integration.runtime.rootfs import build_busybox_rootfs, missing_requirement

KEYS = ("uid", "gid", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "SigIgn", "SigBlk",
        "unshare_user_errno", "fds", "sys_readonly", "proc_sys_readonly", "root_readonly", "sysrq_writable",
        "memory_limit", "pids_max", "cpu_quota", "interfaces", "pids_visible")


IMAGE = "sytest/sy-executor-rootfs:1"


def view(info: dict) -> dict:
    out = {k: info[k] for k in KEYS}
    out["groups"] = sorted(info["groups"])
    out["masked_hidden"] = {p: size <= 0 for p, size in info["masked"].items()}
    return out


@pytest.mark.dockerd
@pytest.mark.parametrize("user", ["", "1000"])
def test_probe_matches_docker(dockerd, probe_path, user, tmp_path):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    # The same busybox rootfs (same /etc/passwd and /etc/group) as an image in the private dockerd.
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "-H", dockerd.host, "import", "-", IMAGE], stdin=tar.stdout, check=True,
                   capture_output=True, timeout=60)
    tar.wait()
    argv = ["docker", "-H", dockerd.host, "run", "--rm", "--network", "none", "-v", f"{probe_path}:/probe:ro",
            "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"]
    if user:
        argv += ["--user", user]
    out = subprocess.run(argv + [IMAGE, "/probe"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docker = json.loads(out.stdout)
    from runtime.executor.native import NativeExecutor
    runner = Runner(NativeExecutor())
    try:
        ours = probe(runner, probe_path, {"User": user, "HostConfig": {"Memory": 64 << 20, "PidsLimit": 50,
                                                                       "NanoCpus": 500_000_000}})
    finally:
        runner.close()
    a, b = view(ours), view(docker)
    diffs = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert diffs == {}, json.dumps(diffs)
