"""IP address management (pure): default pools, subnet choice, address allocation.

Called by `manager.create_network` (subnet choice, validation of the user's IPAM config) and
`manager.connect` (one address per endpoint). Nothing here touches the kernel: the routed
subnets of the host are read by the caller (`read_host_routes`) and passed in, so every
decision is testable with plain data.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Iterable

from runtime import errdefs

Net = ipaddress.IPv4Network | ipaddress.IPv6Network

# Docker's default address pools: 172.17-31 as /16s, then 192.168.0.0/16 cut into /20s.
DEFAULT_POOLS: tuple[tuple[str, int], ...] = tuple(
    [(f"172.{n}.0.0/16", 16) for n in range(17, 32)] + [("192.168.0.0/16", 20)])


def parse_pools(pools) -> list[tuple[Net, int]]:
    """Accept [("172.17.0.0/16", 16)] or Docker's [{"base": ..., "size": ...}]."""
    out = []
    for pool in pools:
        base, size = (pool["base"], pool["size"]) if isinstance(pool, dict) else pool
        try:
            net = ipaddress.ip_network(base)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"default address pool {base!r}: {exc}") from exc
        if not net.prefixlen <= int(size) <= net.max_prefixlen:
            raise errdefs.InvalidArgument(
                f"default address pool {base}: size /{size} must be between /{net.prefixlen} "
                f"and /{net.max_prefixlen}")
        out.append((net, int(size)))
    return out


def parse_routes_v4(text: str) -> list[ipaddress.IPv4Network]:
    """Destinations of /proc/net/route (little-endian hex), default route excluded."""
    nets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = int(fields[1], 16).to_bytes(4, "little")
        mask = int(fields[7], 16).to_bytes(4, "little")
        prefix = bin(int.from_bytes(mask, "big")).count("1")
        if prefix == 0:
            continue
        nets.append(ipaddress.IPv4Network((ipaddress.IPv4Address(dest), prefix), strict=False))
    return nets


def parse_routes_v6(text: str) -> list[ipaddress.IPv6Network]:
    """Destinations of /proc/net/ipv6_route, default route and link-local/multicast excluded."""
    nets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        prefix = int(fields[1], 16)
        if prefix == 0:
            continue
        net = ipaddress.IPv6Network((ipaddress.IPv6Address(bytes.fromhex(fields[0])), prefix),
                                    strict=False)
        if net.is_link_local or net.is_multicast or net.prefixlen == 128:
            continue
        nets.append(net)
    return nets


def read_host_routes() -> list[Net]:
    """Subnets the host already routes (the impure edge of this module)."""
    nets: list[Net] = []
    for path, parse in (("/proc/net/route", parse_routes_v4), ("/proc/net/ipv6_route", parse_routes_v6)):
        try:
            with open(path) as f:
                nets.extend(parse(f.read()))
        except OSError:
            pass
    return nets


def select_subnet(pools: Iterable[tuple[Net, int]], taken: Iterable[Net]) -> Net:
    """The first subnet of the pools that overlaps nothing already taken (host routes and
    other networks' subnets)."""
    taken = list(taken)
    for base, size in pools:
        for candidate in base.subnets(new_prefix=size):
            if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
                return candidate
    raise errdefs.FailedPrecondition(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to "
        "assign to the network")


def ula_subnet(network_id: str, taken: Iterable[Net] = ()) -> ipaddress.IPv6Network:
    """A /64 in fd00::/8 derived from the network id (RFC 4193 style, stable per network)."""
    taken = [t for t in taken if t.version == 6]
    digest = hashlib.sha256(network_id.encode()).digest()
    for attempt in range(16):
        global_id = digest[attempt : attempt + 5]
        net = ipaddress.IPv6Network((b"\xfd" + global_id + b"\x00\x00" + bytes(8), 64))
        if not any(net.overlaps(t) for t in taken):
            return net
    raise errdefs.FailedPrecondition("could not find a free IPv6 ULA subnet for the network")


def _get(cfg: dict, *keys):
    for key in keys:
        if key in cfg and cfg[key] not in (None, ""):
            return cfg[key]
    return None


def normalize_pool_config(cfg: dict, where: str) -> dict:
    """One IPAM config entry (Docker or Compose spelling) → Docker's inspect shape, validated."""
    unknown = set(cfg) - {"Subnet", "subnet", "IPRange", "ip_range", "Gateway", "gateway",
                          "AuxiliaryAddresses", "aux_addresses", "AuxAddress"}
    if unknown:
        raise errdefs.InvalidArgument(f"{where}: unknown IPAM key(s) {sorted(unknown)}")
    subnet_text = _get(cfg, "Subnet", "subnet")
    if subnet_text is None:
        raise errdefs.InvalidArgument(f"{where}: an IPAM config needs a subnet")
    try:
        subnet = ipaddress.ip_network(subnet_text)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"{where}.subnet: {exc}") from exc
    if subnet.num_addresses < 4 and subnet.version == 4:
        raise errdefs.InvalidArgument(f"{where}.subnet: {subnet} is too small")

    def inside(text, key):
        try:
            addr = ipaddress.ip_address(text.split("/")[0])
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"{where}.{key}: {exc}") from exc
        if addr not in subnet:
            raise errdefs.InvalidArgument(f"{where}.{key}: {addr} is not in subnet {subnet}")
        return addr

    ip_range = _get(cfg, "IPRange", "ip_range")
    if ip_range is not None:
        try:
            rng = ipaddress.ip_network(ip_range, strict=False)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"{where}.ip_range: {exc}") from exc
        if rng.version != subnet.version or not rng.subnet_of(subnet):
            raise errdefs.InvalidArgument(f"{where}.ip_range: {rng} is not inside subnet {subnet}")
        ip_range = str(rng)
    aux = _get(cfg, "AuxiliaryAddresses", "aux_addresses", "AuxAddress") or {}
    if not isinstance(aux, dict):
        raise errdefs.InvalidArgument(f"{where}.aux_addresses: expected a mapping of name to address")
    aux = {str(k): str(inside(str(v), f"aux_addresses.{k}")) for k, v in aux.items()}
    gateway = _get(cfg, "Gateway", "gateway")
    if gateway is not None:
        gateway = str(inside(str(gateway), "gateway"))
    else:
        gateway = str(first_host(subnet))
    return {"Subnet": str(subnet), "Gateway": gateway, "IPRange": ip_range or "",
            "AuxiliaryAddresses": aux}


def first_host(subnet: Net):
    return subnet.network_address + 1


def reserved_addresses(pool: dict) -> set:
    """Addresses never handed to an endpoint: network, broadcast, gateway and aux addresses."""
    subnet = ipaddress.ip_network(pool["Subnet"])
    out = {subnet.network_address, ipaddress.ip_address(pool["Gateway"])}
    if subnet.version == 4:
        out.add(subnet.broadcast_address)
    out.update(ipaddress.ip_address(a) for a in pool.get("AuxiliaryAddresses", {}).values())
    return out


def allocate(pool: dict, in_use: Iterable[str], requested: str | None = None) -> str:
    """An address for a new endpoint: `requested` if free (it may lie outside ip_range but must
    be in the subnet, as in Docker), else the lowest free address of ip_range (or the subnet)."""
    subnet = ipaddress.ip_network(pool["Subnet"])
    used = {ipaddress.ip_address(a) for a in in_use} | reserved_addresses(pool)
    if requested:
        try:
            addr = ipaddress.ip_address(requested)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"ipv{subnet.version}_address: {exc}") from exc
        if addr not in subnet:
            raise errdefs.InvalidArgument(
                f"ipv{subnet.version}_address {addr}: not in the network's subnet {subnet}")
        if addr in used:
            raise errdefs.Conflict(f"ipv{subnet.version}_address {addr}: address already in use")
        return str(addr)
    rng = ipaddress.ip_network(pool["IPRange"]) if pool.get("IPRange") else subnet
    start = int(rng.network_address)
    end = int(rng.broadcast_address)
    if subnet.version == 6:
        end = min(end, start + (1 << 20))  # never walk a whole /64
    for value in range(start, end + 1):
        addr = ipaddress.ip_address(value)
        if addr not in used:
            return str(addr)
    raise errdefs.FailedPrecondition(f"no available IPv{subnet.version} addresses in {rng}")
