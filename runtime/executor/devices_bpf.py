"""cgroup v2 device access control: the eBPF program that replaces v1's devices.allow/deny.

Called by cgroups.create on pure cgroup2 hosts (on v1/hybrid the devices controller is used).
`program(rules)` is pure: it turns the same rule strings as v1 ("c 1:3 rwm", "b *:* m") into
BPF_PROG_TYPE_CGROUP_DEVICE instructions (runc's devicefilter shape: the first matching allow
rule returns 1, otherwise 0 = EPERM). `attach` loads it and attaches it to a cgroup directory;
the kernel keeps it until the cgroup is removed.
"""

from __future__ import annotations

import ctypes
import os
import struct

_SYS_BPF = 321
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_PROG_TYPE_CGROUP_DEVICE = 15
_ATTACH_CGROUP_DEVICE = 6
_F_ALLOW_MULTI = 2
_TYPES = {"b": 1, "c": 2}                       # BPF_DEVCG_DEV_BLOCK / CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}              # BPF_DEVCG_ACC_MKNOD / READ / WRITE

# opcodes
_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_AND_K = 0x57      # dst &= imm
_RSH_K = 0x77      # dst >>= imm
_MOV_X = 0xBF      # dst = src
_MOV_K = 0xB7      # dst = imm
_JNE_K = 0x55      # if dst != imm: pc += off
_JNE_X = 0x5D      # if dst != src: pc += off
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def parse_rule(rule: str) -> tuple[int | None, int | None, int | None, int]:
    """'c 1:3 rwm' → (type, major, minor, access mask); None = any."""
    kind, numbers, access = rule.split()
    major, _, minor = numbers.partition(":")
    mask = 0
    for ch in access:
        mask |= _ACCESS[ch]
    return (None if kind == "a" else _TYPES[kind], None if major == "*" else int(major),
            None if minor == "*" else int(minor), mask)


def program(rules: list[str]) -> bytes:
    """The eBPF bytecode allowing exactly `rules` (pure)."""
    head = [_insn(_LDX_W, 2, 1, 0), _insn(_AND_K, 2, imm=0xFFFF),      # r2 = type
            _insn(_LDX_W, 3, 1, 0), _insn(_RSH_K, 3, imm=16),          # r3 = requested access
            _insn(_LDX_W, 4, 1, 4), _insn(_LDX_W, 5, 1, 8)]            # r4 = major, r5 = minor
    body: list[bytes] = []
    for rule in rules:
        kind, major, minor, mask = parse_rule(rule)
        checks: list[list[bytes]] = []
        if kind is not None:
            checks.append([_insn(_JNE_K, 2, imm=kind)])
        if mask != 0b111:
            checks.append([_insn(_MOV_X, 1, 3), _insn(_AND_K, 1, imm=mask), _insn(_JNE_X, 1, 3)])
        if major is not None:
            checks.append([_insn(_JNE_K, 4, imm=major)])
        if minor is not None:
            checks.append([_insn(_JNE_K, 5, imm=minor)])
        block = [i for c in checks for i in c] + [_insn(_MOV_K, 0, imm=1), _insn(_EXIT)]
        # Patch each conditional jump to land just after this block (the next rule).
        patched = []
        for n, ins in enumerate(block):
            code = ins[0]
            if code in (_JNE_K, _JNE_X):
                c, regs, _off, imm = struct.unpack("<BBhi", ins)
                ins = struct.pack("<BBhi", c, regs, len(block) - n - 1, imm)
            patched.append(ins)
        body += patched
    tail = [_insn(_MOV_K, 0, imm=0), _insn(_EXIT)]
    return b"".join(head + body + tail)


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(_SYS_BPF, ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return rc


def attach(cgroup_dir: str, rules: list[str]) -> None:
    """Load the program for `rules` and attach it to `cgroup_dir`. Raises OSError."""
    code = program(rules)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, _PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                     ctypes.addressof(insns), ctypes.addressof(license_))
    prog_fd = _bpf(_BPF_PROG_LOAD, attr)
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(128)
            struct.pack_into("<IIII", attr, 0, cg_fd, prog_fd, _ATTACH_CGROUP_DEVICE, _F_ALLOW_MULTI)
            _bpf(_BPF_PROG_ATTACH, attr)
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)
