"""Where to send a registry's requests: scheme, TLS rules and mirrors, decided purely.

Called by `transport` with the host as written in an image reference. Docker's rules:
HTTPS with verification by default; plain HTTP only for loopback (127.0.0.0/8, ::1,
localhost) and registries configured as insecure (those try HTTPS first, without verifying
the certificate, and fall back to HTTP); docker.io is served by its mirrors first (pulls
only), then by registry-1.docker.io.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from runtime import errdefs
from runtime.registry.config import RegistryConfig

DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class Endpoint:
    base_url: str          # "https://registry:5000", no trailing slash
    host: str              # host[:port] as used for certs.d, credentials and messages
    tls: bool
    verify: bool           # verify the server certificate (False only for insecure registries)
    mirror: bool = False   # a docker.io mirror: any failure falls through to the next endpoint


def is_docker_hub(host: str) -> bool:
    return host.lower() in DOCKER_HUB_NAMES


def split_host(host: str) -> tuple[str, int | None]:
    """("127.0.0.1", 5000) from "127.0.0.1:5000"; brackets removed from IPv6 literals.

    Raises:
        errdefs.InvalidArgument: an empty host or a port that is not a number.
    """
    if not host:
        raise errdefs.InvalidArgument("registry host is empty")
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if port and not port.isdigit():
        raise errdefs.InvalidArgument(f"registry host {host!r}: invalid port {port!r}")
    return name, int(port) if port else None


def is_loopback(host: str) -> bool:
    name, _ = split_host(host)
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_reason(host: str, insecure: list[str]) -> str | None:
    """Why plain HTTP is allowed for `host`, or None when it must be HTTPS.

    An explicit listing wins over loopback: a loopback registry is otherwise still verified
    when it speaks HTTPS, but one the configuration lists is insecure (any certificate)."""
    name, _ = split_host(host)
    for entry in insecure:
        if entry == host or entry == name:
            return f"listed as insecure ({entry})"
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
                if ipaddress.ip_address(name) in network:
                    return f"in insecure range {entry}"
            except ValueError:
                continue  # a name, or an entry that is not a CIDR: no match
    if is_loopback(host):
        return "loopback"
    return None


def _mirror_endpoint(url: str) -> Endpoint:
    if "://" not in url:
        url = "https://" + url
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return Endpoint(url.rstrip("/"), host, tls=scheme == "https", verify=True, mirror=True)


def endpoints_for(host: str, config: RegistryConfig, *, push: bool = False) -> list[Endpoint]:
    """The endpoints to try for `host`, in order.

    Raises:
        errdefs.InvalidArgument: a malformed host.
    """
    if is_docker_hub(host):
        found = [] if push else [_mirror_endpoint(m) for m in config.mirrors]
        hub = config.docker_hub_url.rstrip("/")
        hub_host = hub.partition("://")[2].split("/", 1)[0]
        return found + [Endpoint(hub, hub_host, tls=hub.startswith("https://"), verify=True)]
    split_host(host)  # validates
    reason = insecure_reason(host, config.insecure_registries)
    if reason is None:
        return [Endpoint(f"https://{host}", host, tls=True, verify=True)]
    plain = Endpoint(f"http://{host}", host, tls=False, verify=False)
    if reason == "loopback" and not os.path.isdir(os.path.join(config.certs_dir, host)):
        # A loopback registry with no certificates configured is the local test or dev
        # registry: go straight to HTTP and save a failing TLS handshake per client.
        return [plain]
    # Docker tries HTTPS first for insecure registries, accepting any certificate.
    return [Endpoint(f"https://{host}", host, tls=True, verify=reason == "loopback"), plain]


def realm_endpoint(realm: str, config: RegistryConfig) -> Endpoint:
    """The endpoint of a token server (the challenge's realm URL): verified HTTPS unless insecure.

    Raises:
        errdefs.InvalidArgument: the realm is not an http(s) URL.
    """
    scheme, sep, rest = realm.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if not sep or scheme not in ("http", "https") or not host:
        raise errdefs.InvalidArgument(f"token realm {realm!r} is not an http(s) URL")
    split_host(host)
    tls = scheme == "https"
    verify = not tls or insecure_reason(host, config.insecure_registries) in (None, "loopback")
    return Endpoint(f"{scheme}://{host}", host, tls=tls, verify=verify)
