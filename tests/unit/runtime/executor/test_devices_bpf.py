"""The cgroup v2 device filter program, run on a tiny interpreter of the eBPF subset it uses."""

import struct

import pytest

from runtime.executor.cgroups import DEFAULT_DEVICE_RULES
from runtime.executor.devices_bpf import program


def run(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    acc = sum({"m": 1, "r": 2, "w": 4}[c] for c in access)
    ctx = struct.pack("<III", (acc << 16) | {"b": 1, "c": 2}[kind], major, minor)
    regs = [0] * 11
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    pc = 0
    while True:
        op, r, off, imm = insns[pc]
        dst, src = r & 0xF, r >> 4
        pc += 1
        if op == 0x61:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x57:
            regs[dst] &= imm & 0xFFFFFFFF
        elif op == 0x77:
            regs[dst] >>= imm
        elif op == 0xBF:
            regs[dst] = regs[src]
        elif op == 0xB7:
            regs[dst] = imm
        elif op == 0x55:
            pc += off if regs[dst] != imm else 0
        elif op == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unknown opcode {op:#x}")


@pytest.mark.parametrize("kind, major, minor, access, allowed", [
    ("c", 1, 3, "rw", 1),      # /dev/null
    ("c", 1, 9, "r", 1),       # /dev/urandom
    ("c", 136, 4, "rw", 1),    # a pty
    ("c", 1, 11, "r", 0),      # /dev/kmsg: refused
    ("b", 8, 0, "r", 0),       # /dev/sda: refused
    ("b", 8, 0, "m", 1),       # mknod of anything is allowed (Docker's "b *:* m")
    ("c", 1, 11, "m", 1),
    ("c", 1, 11, "rm", 0),     # mknod + read is more than "m"
])
def test_default_rules(kind, major, minor, access, allowed):
    assert run(program(DEFAULT_DEVICE_RULES), kind, major, minor, access) == allowed


def test_added_device_rule():
    code = program(DEFAULT_DEVICE_RULES + ["c 10:229 rw"])
    assert run(code, "c", 10, 229, "rw") == 1 and run(code, "c", 10, 229, "m") == 1
    assert run(program([]), "c", 1, 3, "r") == 0
