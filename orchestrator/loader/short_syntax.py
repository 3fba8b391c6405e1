"""Short-syntax parsers for ports and volumes (`"127.0.0.1:8080:80/udp"`, `"./src:/app:ro,z"`).

Pure functions called by `normalize` (phase 6), which turns their results into positioned
long-syntax entries and reports their `ValueError`s at the value's position. Kept apart from
`normalize` because they are the Compose short-syntax grammar, testable on their own.
"""

from __future__ import annotations

import ipaddress
from typing import Any

_PROTOCOLS = ("tcp", "udp", "sctp")


def parse_port(spec: str) -> list[dict[str, Any]]:
    """Short port syntax (`[ip:][host:]container[/proto]`, ranges allowed) -> long entries.

    Follows docker/go-connections `nat.ParsePortSpec`. Raises ValueError.
    """
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    container, _, protocol = container.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in _PROTOCOLS:
        raise ValueError(f"invalid proto: {protocol}")
    if not container:
        raise ValueError("no port specified")
    if ip and not _is_ip(ip):
        raise ValueError(f"invalid IP address: {ip}")
    first, last = _port_range(container, "containerPort")
    host_first = host_last = None
    if host:
        host_first, host_last = _port_range(host, "hostPort")
        if (last - first) != (host_last - host_first) and last != first:
            raise ValueError(f"invalid ranges specified for container and host Ports: {container} and {host}")
    entries = []
    for offset in range(last - first + 1):
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = first + offset
        if host_first is not None:
            if last == first and host_last != host_first:
                entry["published"] = f"{host_first}-{host_last}"  # engine picks one of the range
            else:
                entry["published"] = str(host_first + offset)
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def _port_range(text: str, what: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    first = int(start) if start.isdigit() else -1
    last = (int(end) if end.isdigit() else -1) if sep else first
    if first < 0 or last < 0 or first > 65535 or last > 65535 or last < first:
        raise ValueError(f"invalid {what}: {text}")
    return first, last


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- volumes ----------------------------------------------------------------------------

_PROPAGATIONS = {"rprivate", "private", "rshared", "shared", "rslave", "slave"}
_SELINUX = {"z", "Z"}
_CONSISTENCY = {"cached", "delegated", "consistent"}


def parse_volume(spec: str) -> tuple[dict[str, Any], list[str]]:
    """Short volume syntax -> (long entry, ignored options), after compose-go
    `format.ParseVolume`. Raises ValueError."""
    if not spec:
        raise ValueError("empty volume spec")
    fields: list[str] = []
    buffer = ""
    for index, char in enumerate(spec):
        # `C:\dir` / `C:/dir`: the colon after a drive letter is part of the path.
        if char == ":" and len(buffer) == 1 and buffer.isalpha() and spec[index + 1:index + 2] in ("\\", "/"):
            buffer += char
        elif char == ":":
            fields.append(buffer)
            buffer = ""
        else:
            buffer += char
    fields.append(buffer)
    if any(not field for field in fields):
        raise ValueError("empty section between colons")
    if len(fields) > 3:
        raise ValueError("too many colons")
    if len(fields) == 1:
        return {"type": "volume", "target": fields[0]}, []
    source, target = fields[0], fields[1]
    is_bind = _is_host_path(source)
    entry: dict[str, Any] = {"type": "bind" if is_bind else "volume", "source": source, "target": target}
    bind: dict[str, Any] = {"create_host_path": True} if is_bind else {}
    volume: dict[str, Any] = {}
    ignored: list[str] = []
    for option in fields[2].split(",") if len(fields) == 3 else ():
        if option == "ro":
            entry["read_only"] = True
        elif option == "rw":
            entry.pop("read_only", None)
        elif option == "nocopy":
            volume["nocopy"] = True
        elif option in _PROPAGATIONS:
            bind["propagation"] = option
        elif option in _SELINUX:
            bind["selinux"] = option
        elif option in _CONSISTENCY:
            entry["consistency"] = option
        else:  # Compose ignores unknown modes; we say so
            ignored.append(option)
    if bind:
        entry["bind"] = bind
    if volume:
        entry["volume"] = volume
    return entry, ignored


def _is_host_path(source: str) -> bool:
    if source[0] in "./~" or source.startswith("\\\\"):
        return True
    return len(source) >= 2 and source[0].isalpha() and source[1] == ":"


# --- top-level resources ----------------------------------------------------------------
