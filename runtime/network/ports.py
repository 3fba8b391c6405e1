"""Published ports: the binding type, spec parsing (pure), host port reservation and finding
who holds a port (reads /proc).

Called by `manager.publish`. Every published port is *reserved* by a socket the manager keeps
bound (not listening) for as long as the port is published, as Docker does: the DNAT rule does
the forwarding, the socket stops another program from taking the port and turns "port in use"
into an error at publish time. Random host ports (host_port 0) come from that bind.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from dataclasses import dataclass, replace

from runtime import errdefs


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    host_port: int = 0  # 0: a random free port, reported back by publish()
    host_ip: str = ""  # "": every host address
    proto: str = "tcp"
    host_port_end: int | None = None  # host range: the first free port of host_port..end

    def describe(self) -> str:
        ip = self.host_ip or "0.0.0.0"
        return f"{ip}:{self.host_port}->{self.container_port}/{self.proto}"


_SPEC = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?:(?P<host>\d*(?:-\d+)?):)?"
    r"(?P<cont>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$")


def _range(text: str, where: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    a, b = int(lo), int(hi or lo)
    if not (0 < a <= b <= 65535):
        raise errdefs.InvalidArgument(f"port spec {where!r}: invalid port range {text!r}")
    return a, b


def parse_port_spec(spec: str) -> list[PortBinding]:
    """`[host_ip:][host_port[-end]:]container_port[-end][/proto]` → bindings (ranges expanded)."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise errdefs.InvalidArgument(f"port spec {spec!r}: expected [ip:][host_port:]container_port[/proto]")
    ip = (m["ip"] or "").strip("[]")
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"port spec {spec!r}: {exc}") from exc
    proto = m["proto"] or "tcp"
    c_lo, c_hi = _range(m["cont"], spec)
    if not m["host"]:
        return [PortBinding(c, 0, ip, proto) for c in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _range(m["host"], spec)
    if c_lo == c_hi and h_hi > h_lo:
        return [PortBinding(c_lo, h_lo, ip, proto, host_port_end=h_hi)]
    if h_hi - h_lo != c_hi - c_lo:
        raise errdefs.InvalidArgument(
            f"port spec {spec!r}: host range {m['host']} and container range {m['cont']} differ in length")
    return [PortBinding(c, h_lo + i, ip, proto) for i, c in enumerate(range(c_lo, c_hi + 1))]


def normalize_binding(b: PortBinding) -> PortBinding:
    """0.0.0.0 and :: mean every host address, as "" does (IPv4 DNAT for all of them)."""
    if b.host_ip in ("0.0.0.0", "::", "[::]"):
        return replace(b, host_ip="")
    return b


def check_binding(b: PortBinding) -> None:
    if b.proto not in ("tcp", "udp"):
        raise errdefs.InvalidArgument(f"published port {b.describe()}: protocol must be tcp or udp")
    if not 0 < b.container_port <= 65535 or not 0 <= b.host_port <= 65535:
        raise errdefs.InvalidArgument(f"published port {b.describe()}: port out of range")
    if b.host_ip:
        try:
            addr = ipaddress.ip_address(b.host_ip)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"published port {b.describe()}: {exc}") from exc
        if addr.version != 4:
            raise errdefs.Unsupported(f"published port {b.describe()}: IPv6 host addresses are not supported yet")


def reserve(b: PortBinding, *, listen: bool = False) -> tuple[socket.socket, PortBinding]:
    """Bind a socket for the binding (trying each port of a host range); returns it with the
    binding's actual host port. Raises errdefs.Conflict naming the holder when in use.

    `listen`: the socket will listen (userland proxy). Only then is SO_REUSEADDR set (so
    TIME_WAIT leftovers of proxied connections do not block a restart): two sockets that both
    set it may share a port as long as neither listens, so a reservation that never listens
    must not set it, or it would reserve nothing."""
    kind = socket.SOCK_STREAM if b.proto == "tcp" else socket.SOCK_DGRAM
    ports = [b.host_port] if b.host_port_end is None else list(range(b.host_port, b.host_port_end + 1))
    last: OSError | None = None
    for port in ports:
        s = socket.socket(socket.AF_INET, kind)
        if b.proto == "tcp" and listen:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((b.host_ip or "0.0.0.0", port))
        except OSError as exc:
            s.close()
            if exc.errno != errno.EADDRINUSE:
                raise errdefs.from_oserror(exc, f"bind {b.describe()}") from exc
            last = exc
            continue
        return s, replace(b, host_port=s.getsockname()[1], host_port_end=None)
    holder = find_holder(b.proto, ports[0]) if len(ports) == 1 else None
    where = f"{b.host_ip or '0.0.0.0'}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "")
    raise errdefs.Conflict(
        f"Bind for {where}/{b.proto} failed: port is already allocated"
        + (f" (held by {holder})" if holder else "")) from last


def _socket_inodes(proto: str, port: int) -> set[str]:
    """Inodes of sockets bound to `port` (TCP: listening ones) from /proc/net/{tcp,udp}{,6}."""
    inodes = set()
    for path in (f"/proc/net/{proto}", f"/proc/net/{proto}6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and (proto != "tcp" or fields[3] == "0A"):
                inodes.add(fields[9])
    return inodes


def find_holder(proto: str, port: int) -> str | None:
    """'pid 123 (python3 -m http.server 8080)' of a process holding the port, if visible."""
    inodes = {f"socket:[{i}]" for i in _socket_inodes(proto, port)}
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in inodes:
                return f"pid {pid} ({_command(pid)})"
    return "a socket of another network namespace or process we cannot see"


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        if cmd:
            return " ".join(cmd.split())[:120]
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
