"""Rendering of a container's /etc/resolv.conf and /etc/hosts (pure).

Called by `manager.resolv_conf` / `manager.hosts_file`, whose text the container manager
writes into the container's state directory and bind-mounts. The embedded DNS on the
gateways of the container's networks are the nameservers unless the service set `dns`.
After a connect or disconnect the networks façade (runtime/services/networks.py) edits the
existing files with `replace_nameservers`, `hosts_with` and `hosts_without`.
"""

from __future__ import annotations

import ipaddress

from runtime import errdefs

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf."""
    servers, search, options = [], [], []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver" and values:
            servers.append(values[0])
        elif key in ("search", "domain"):
            search = values
        elif key == "options":
            options.extend(values)
    return servers, search, options


def render_resolv_conf(nameservers, search=(), options=()) -> str:
    for server in nameservers:
        try:
            ipaddress.ip_address(server)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"dns: {server!r} is not an IP address") from exc
    lines = [f"nameserver {s}" for s in nameservers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def non_loopback_servers(servers) -> list[str]:
    """Host nameservers a container can reach: loopback ones live in the host's namespace."""
    return [s for s in servers if not ipaddress.ip_address(s.split("%")[0]).is_loopback]


def parse_extra_host(entry, host_gateway: str | None) -> tuple[str, str]:
    """`name:ip`, `name=ip` or (name, ip); `host-gateway` → the first network's gateway."""
    if isinstance(entry, (tuple, list)):
        name, addr = entry
    else:
        sep = "=" if "=" in entry else ":"
        if sep not in entry:
            raise errdefs.InvalidArgument(f"extra_hosts: {entry!r} is not name:address")
        name, addr = entry.split(sep, 1)
    name, addr = name.strip(), addr.strip().strip("[]")
    if addr == "host-gateway":
        if host_gateway is None:
            raise errdefs.InvalidArgument(f"extra_hosts: {entry!r}: host-gateway needs a network with a gateway")
        addr = host_gateway
    try:
        ipaddress.ip_address(addr)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"extra_hosts: {entry!r}: {addr!r} is not an IP address") from exc
    if not name:
        raise errdefs.InvalidArgument(f"extra_hosts: {entry!r}: empty host name")
    return name, addr


def render_hosts(hostname: str, own_addresses, extra_hosts=(), host_gateway: str | None = None,
                 aliases=()) -> str:
    lines = [HOSTS_HEADER.rstrip("\n")]
    for entry in extra_hosts:
        name, addr = parse_extra_host(entry, host_gateway)
        lines.append(f"{addr}\t{name}")
    names = " ".join(dict.fromkeys([hostname, *aliases]))
    for addr in own_addresses:
        lines.append(f"{addr}\t{names}")
    return "\n".join(lines) + "\n"


def replace_nameservers(text: str, servers) -> str:
    """`text` (a resolv.conf) with its nameserver lines replaced by `servers`, put where the
    first one was; search, options and comments are kept as they are."""
    render_resolv_conf(servers)  # validates the addresses
    out, placed = [], False
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "nameserver":
            if not placed:
                out += [f"nameserver {s}" for s in servers]
                placed = True
            continue
        out.append(line)
    if not placed:
        comments = 0
        while comments < len(out) and out[comments].lstrip().startswith(("#", ";")):
            comments += 1
        out[comments:comments] = [f"nameserver {s}" for s in servers]
    return "\n".join(out) + "\n" if out else ""


def _record(line: str) -> tuple[str, tuple[str, ...]] | None:
    fields = line.split("#", 1)[0].split()
    return (fields[0], tuple(fields[1:])) if len(fields) > 1 else None


def hosts_with(text: str, addresses, names) -> str:
    """/etc/hosts `text` with an `address names…` line for each address it lacks (what Docker
    adds when a container joins another network)."""
    names = tuple(dict.fromkeys(names))
    have = {_record(line) for line in text.splitlines()}
    lines = text.splitlines()
    for addr in addresses:
        if (addr, names) not in have:
            lines.append(f"{addr}\t{' '.join(names)}")
    return "\n".join(lines) + "\n" if lines else ""


def hosts_without(text: str, addresses, names) -> str:
    """/etc/hosts `text` without the `address names…` lines of `addresses` (a network the
    container left); the user's own lines for those addresses stay."""
    drop = {(a, tuple(dict.fromkeys(names))) for a in addresses}
    lines = [line for line in text.splitlines() if _record(line) not in drop]
    return "\n".join(lines) + "\n" if lines else ""
