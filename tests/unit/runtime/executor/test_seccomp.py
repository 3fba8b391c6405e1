"""Seccomp: Docker profile conversion rules, compile + cache, refusal without libseccomp."""

import sys

import pytest

from runtime import errdefs
from runtime.executor import caps, seccomp, seccomp_profile

PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                                                          "subArchitectures": ["SCMP_ARCH_X86"]}],
           "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
                         "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                        {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}]}


def test_to_oci_filters_by_caps_and_arch():
    out = seccomp_profile.to_oci(PROFILE, ["CAP_CHOWN"])
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in out["syscalls"]] == [["read", "write"], ["clone"]]
    out = seccomp_profile.to_oci(PROFILE, ["CAP_SYS_ADMIN"])
    assert [r["names"] for r in out["syscalls"]] == [["read", "write"], ["mount"]]


def test_to_oci_rejects_a_profile_without_default_action():
    with pytest.raises(errdefs.InvalidArgument, match="defaultAction"):
        seccomp_profile.to_oci({"syscalls": []}, [])


def test_docker_default_compiles_once_and_is_cached():
    section = seccomp_profile.to_oci(seccomp_profile.docker_default_profile(), list(caps.DOCKER_DEFAULT))
    bpf = seccomp.compile_bpf(section)
    assert bpf and len(bpf) % 8 == 0 and len(bpf) // 8 > 500
    assert seccomp.compile_bpf(section) is bpf
    assert seccomp.compile_bpf(None) is None


def test_without_libseccomp_starting_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import fails as if libseccomp were missing
    monkeypatch.setattr(seccomp, "_CACHE", {})
    with pytest.raises(errdefs.FailedPrecondition, match="seccomp=unconfined"):
        seccomp.compile_bpf({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})
