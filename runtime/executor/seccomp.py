"""Compile an OCI `linux.seccomp` section to raw BPF with libseccomp (pyseccomp), cached.

Called by the executors in the supervisor before forking: compiling Docker's profile costs
~11 ms, loading the result in the child 0.75 ms. The cache key is the section's canonical JSON
(it already reflects the container's capabilities). libseccomp missing → errdefs.FailedPrecondition:
the caller refuses to start anything but `seccomp=unconfined` containers.
"""

from __future__ import annotations

import errno
import hashlib
import json
import tempfile

from runtime import errdefs

_CACHE: dict[str, bytes] = {}
_ERRNO_DEFAULT = errno.EPERM


def _lib():
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:
        raise errdefs.FailedPrecondition(f"seccomp: libseccomp is not available ({exc}); "
                                         "only containers with security_opt seccomp=unconfined can start") from exc
    return pyseccomp


def _action(s, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return s.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return s.ERRNO(errno_ret if errno_ret is not None else _ERRNO_DEFAULT)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return s.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return s.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return s.TRAP
    if name == "SCMP_ACT_LOG":
        return s.LOG
    if name == "SCMP_ACT_TRACE":
        return s.TRACE(errno_ret or 0)
    raise errdefs.InvalidArgument(f"linux.seccomp: unsupported action {name!r}")


_OPS = {"SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ", "SCMP_CMP_GE": "GE",
        "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}
_ARCHES = {"SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X32": "X32",
           "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_ARM": "ARM"}


def _compile(section: dict) -> bytes:
    s = _lib()
    default = _action(s, section["defaultAction"], section.get("defaultErrnoRet"))
    filt = s.SyscallFilter(default)
    for arch in section.get("architectures") or []:
        a = getattr(s.Arch, _ARCHES.get(arch, ""), None)
        if a is not None and not filt.exist_arch(a):
            try:
                filt.add_arch(a)
            except OSError:
                pass
    for rule in section.get("syscalls") or []:
        action = _action(s, rule["action"], rule.get("errnoRet"))
        if action == default:
            continue  # libseccomp refuses rules equal to the default action
        args = rule.get("args") or []
        conds = [s.Arg(a["index"], getattr(s, _OPS[a["op"]]), a["value"], a.get("valueTwo", 0)) for a in args]
        counts = [a["index"] for a in args]
        # Two conditions on one argument cannot be ANDed by libseccomp: one rule each (runc does this).
        groups = [[c] for c in conds] if len(set(counts)) != len(counts) else [conds]
        for name in rule["names"]:
            try:
                s.resolve_syscall(s.Arch.NATIVE, name)
            except Exception:  # noqa: BLE001 - a syscall this libseccomp does not know: skip, as runc does
                continue
            for g in groups:
                try:
                    filt.add_rule(action, name, *g)
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.EACCES):
                        raise errdefs.InvalidArgument(f"linux.seccomp: {name}: {exc}") from exc
    with tempfile.TemporaryFile() as f:
        filt.export_bpf(f)
        f.seek(0)
        return f.read()


def compile_bpf(section: dict | None) -> bytes | None:
    """Raw BPF for the section (None → None). Raises errdefs.FailedPrecondition without libseccomp."""
    if not section:
        return None
    key = hashlib.sha256(json.dumps(section, sort_keys=True).encode()).hexdigest()
    bpf = _CACHE.get(key)
    if bpf is None:
        bpf = _CACHE[key] = _compile(section)
    return bpf
