"""Linux capability names and numbers, and Docker's default set (pure; used by spec.py and the child)."""

from __future__ import annotations

CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# moby/oci/caps/defaults.go, in Docker's order.
DOCKER_DEFAULT: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)


def normalize(name: str, field: str) -> str:
    """'net_admin' / 'CAP_NET_ADMIN' → 'CAP_NET_ADMIN'; 'ALL' stays. Raises ValueError with Docker's text."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in CAPABILITIES:
        raise ValueError(f"{field}: unknown capability: {name!r}")
    return upper


def tweak(cap_add: list[str], cap_drop: list[str], *, privileged: bool) -> list[str]:
    """Docker's TweakCapabilities: defaults + add - drop ('ALL' allowed on both sides)."""
    if privileged:
        return sorted(CAPABILITIES, key=CAPABILITIES.__getitem__)
    adds = [normalize(c, "HostConfig.CapAdd") for c in cap_add or []]
    drops = [normalize(c, "HostConfig.CapDrop") for c in cap_drop or []]
    if "ALL" in adds:
        base = list(sorted(CAPABILITIES, key=CAPABILITIES.__getitem__))
    elif "ALL" in drops:
        base = []
    else:
        base = list(DOCKER_DEFAULT)
    if "ALL" not in drops:
        base = [c for c in base if c not in drops]
    for c in adds:
        if c != "ALL" and c not in base:
            base.append(c)
    return base


def mask(names: list[str]) -> int:
    """Bit mask of capability names (for capset and /proc/self/status comparisons)."""
    value = 0
    for n in names:
        value |= 1 << CAPABILITIES[n]
    return value
