"""Names of the kernel objects the network manager creates (pure).

Called by `manager` when it creates networks, bridges, veths and nftables tables. Every kernel
object we create is recognisable as ours (ARCHITECTURE.md): interfaces start with `sy` and fit
IFNAMSIZ (15 characters); each manager instance tags its interfaces with an alias carrying a
hash of its state directory, so two managers on one host (tests side by side) never mistake
each other's objects for leftovers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re

from runtime import errdefs

IFNAMSIZ = 15
BRIDGE_PREFIX = "sybr"
# The link group (`ip link … group`) of every bridge of every instance: the forwarding guard
# recognises other instances' bridges by it, including those renamed by the
# com.docker.network.bridge.name option (no `sybr` prefix). "SY" in ASCII.
BRIDGE_GROUP = 0x5359
VETH_PREFIX = "syv"
DEFAULT_TABLE = "stackyard"
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")
_NETWORK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def new_network_id(name: str) -> str:
    """A 64-hex id like Docker's: random, so two networks with one name over time differ."""
    return hashlib.sha256(name.encode() + os.urandom(16)).hexdigest()


def instance_tag(state_dir: str) -> str:
    """Short hash naming one manager instance (its state directory)."""
    return hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:10]


def interface_alias(tag: str) -> str:
    return f"stackyard:{tag}"


def table_name(tag: str, default: bool) -> str:
    """`stackyard` for the daemon's default root; a per-instance table otherwise (tests)."""
    return DEFAULT_TABLE if default else f"{DEFAULT_TABLE}_{tag}"


def bridge_name(network_id: str, options: dict | None = None) -> str:
    """`sybr` + 11 hex of the network id, or the `com.docker.network.bridge.name` option."""
    requested = (options or {}).get("com.docker.network.bridge.name")
    if requested:
        if not _IFNAME_RE.match(requested):
            raise errdefs.InvalidArgument(
                f"network option com.docker.network.bridge.name: {requested!r} is not a valid "
                f"interface name (1-{IFNAMSIZ} characters of [A-Za-z0-9_.-])")
        return requested
    return BRIDGE_PREFIX + network_id[: IFNAMSIZ - len(BRIDGE_PREFIX)]


def host_veth_name(container_id: str, network_id: str, serial: int) -> str:
    """Host end of a container's veth: `syv` + 12 hex of (container, network, serial).
    The serial (the endpoint's sequence number) matters: after a namespace is dropped the
    kernel removes its veths asynchronously, so a container reconnected at once would
    otherwise collide with its own previous, still-dying veth."""
    digest = hashlib.sha256(f"{container_id}/{network_id}/{serial}".encode()).hexdigest()
    return VETH_PREFIX + digest[: IFNAMSIZ - len(VETH_PREFIX)]


def container_ifname(used: set[str]) -> str:
    """The lowest free `ethN` inside a sandbox (eth0 for the first network)."""
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def mac_for_ipv4(address: str) -> str:
    """Docker's scheme: 02:42 + the four IPv4 bytes. A reused address gets the same MAC, so
    neighbours' ARP caches stay right when an address moves to a new container."""
    packed = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


def check_network_name(name: str) -> None:
    if not name or not _NETWORK_NAME_RE.match(name):
        raise errdefs.InvalidArgument(
            f"network name {name!r}: must start with a letter or digit and contain only "
            "[A-Za-z0-9_.-]")


def check_mac(mac: str) -> str:
    if not re.match(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$", mac or ""):
        raise errdefs.InvalidArgument(f"mac_address {mac!r}: expected six hex octets like 02:42:ac:11:00:02")
    if int(mac[:2], 16) & 1:
        raise errdefs.InvalidArgument(f"mac_address {mac!r}: a multicast address cannot be used")
    return mac.lower()
