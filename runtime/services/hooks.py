"""Adapters that give the container manager its rootfs and its networking.

Who calls them: `runtime.containers.ContainerManager`, through the hooks it declares
(runtime/containers/hooks.py); built by the containers part of the façade. `StoreImageHook`
prepares a writable overlay snapshot on the image's top layer (mounted by the executor inside
the container's mount namespace); `ManagerNetworkHook` turns HostConfig.NetworkMode,
NetworkingConfig and PortBindings into a network namespace, endpoints, published ports and the
container's resolv.conf and hosts files.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

from runtime import errdefs
from runtime.containers.hooks import Endpoint, Rootfs

DEFAULT_NETWORK = "bridge"


def snapshot_key(container_id: str) -> str:
    return f"container-{container_id}"


class StoreImageHook:
    def __init__(self, images: Any, rootfs_dir: str) -> None:
        self.images = images
        self.rootfs_dir = rootfs_dir

    def prepare_rootfs(self, container_id: str, image: str) -> Rootfs:
        if not image:
            raise errdefs.InvalidArgument("config.Image is required")
        found = self.images.get(image)  # NotFound: "No such image: …", which docker run answers with a pull
        mounts = self.images.snapshots.prepare(snapshot_key(container_id), self.images.rootfs_parent(found))
        path = os.path.join(self.rootfs_dir, container_id)
        os.makedirs(path, exist_ok=True)
        as_json = [{"type": m.type, "source": m.source, "options": list(m.options)} for m in mounts]
        return Rootfs(path, as_json, dict(found.config.get("config") or {}), image_id=found.id)

    def release_rootfs(self, container_id: str) -> None:
        try:
            self.images.snapshots.remove(snapshot_key(container_id))
        except errdefs.NotFound:
            pass
        shutil.rmtree(os.path.join(self.rootfs_dir, container_id), ignore_errors=True)


def port_bindings(host: dict[str, Any]) -> list[Any]:
    """HostConfig.PortBindings {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]} → PortBinding list."""
    from runtime.network.ports import PortBinding
    out = []
    for key, bindings in (host.get("PortBindings") or {}).items():
        port, _, proto = str(key).partition("/")
        try:
            container_port = int(port)
        except ValueError:
            raise errdefs.InvalidArgument(f"HostConfig.PortBindings: invalid port {key!r}") from None
        for binding in bindings or [{}]:
            text = str((binding or {}).get("HostPort") or "")
            first, _, last = text.partition("-")
            try:
                host_port = int(first) if first else 0
                end = int(last) if last else None
            except ValueError:
                raise errdefs.InvalidArgument(f"HostConfig.PortBindings[{key}]: invalid host port {text!r}") from None
            out.append(PortBinding(container_port, host_port, (binding or {}).get("HostIp") or "",
                                   proto or "tcp", end))
    return out


def read_text(path: str | None) -> str | None:
    """A container's resolv.conf or hosts file, None when it has none (any more)."""
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as f:
        return f.read()


class ManagerNetworkHook:
    def __init__(self, networks: Any, resolve_container: Callable[[str], str],
                 container_record: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.networks = networks
        self.resolve_container = resolve_container
        # id → the container's record (ResolvConfPath, HostsPath), None when gone: a container
        # that joins another's network namespace gets that container's resolver files.
        self.container_record = container_record or (lambda _cid: None)

    def _ensure_default(self) -> str:
        try:
            return self.networks.get(DEFAULT_NETWORK)["Id"]
        except errdefs.NotFound:
            return self.networks.create_network(DEFAULT_NETWORK)["Id"]

    def connect(self, container_id: str, name: str, body: dict[str, Any]) -> Endpoint:
        host = body.get("HostConfig") or {}
        mode = host.get("NetworkMode") or "default"
        hostname = body.get("Hostname") or container_id[:12]
        if mode == "host":
            return Endpoint("host")
        if mode == "none":
            path = self.networks.create_sandbox(container_id)
            return Endpoint(path, settings={"Networks": {"none": {}}})
        if mode.startswith("container:"):
            other = self.resolve_container(mode.split(":", 1)[1])
            join = self.networks.join_mode(f"container:{self._namespace_owner(other)}")
            # Docker's joiner uses the donor's resolv.conf and hosts: same namespace, same
            # resolver (the donor's networks' DNS) and names. Copied now; a later connect or
            # disconnect of the donor rewrites the joiners' copies too (services/networks.py).
            donor = self.container_record(other) or {}
            return Endpoint(join.netns_path, read_text(donor.get("HostsPath")),
                            read_text(donor.get("ResolvConfPath")), settings={"Networks": {}})
        endpoints = {}
        for key, value in ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).items():
            endpoints[DEFAULT_NETWORK if key in ("default", "bridge") else key] = value or {}
        first = DEFAULT_NETWORK if mode in ("default", "bridge") else mode
        if first == DEFAULT_NETWORK:
            self._ensure_default()
        order = [first] + [n for n in endpoints if n != first]
        sandbox = self.networks.create_sandbox(container_id)
        try:
            for network in order:
                config = endpoints.get(network) or {}
                ipam = config.get("IPAMConfig") or {}
                aliases = list(config.get("Aliases") or [])
                links = [str(link) for link in host.get("Links") or []]  # "/target:/container/alias"
                self.networks.connect(network, container_id, sandbox=sandbox,
                                      names=[name, container_id[:12]] if network != DEFAULT_NETWORK else [name],
                                      aliases=tuple(aliases), ipv4_address=ipam.get("IPv4Address") or None,
                                      ipv6_address=ipam.get("IPv6Address") or None,
                                      mac_address=config.get("MacAddress") or body.get("MacAddress") or None,
                                      links=tuple(links))
            resolv = self.networks.resolv_conf(container_id, dns=tuple(host.get("Dns") or ()),
                                               dns_search=tuple(host.get("DnsSearch") or ()),
                                               dns_opt=tuple(host.get("DnsOptions") or ()))
            hosts = self.networks.hosts_file(container_id, hostname=hostname,
                                             extra_hosts=tuple(host.get("ExtraHosts") or ()))
        except BaseException:
            self.networks.destroy_sandbox(container_id)
            raise
        # Ports are published when the container starts and released when it stops (the
        # containers part does it), so a recreate's new container can take the old one's ports.
        return Endpoint(sandbox, hosts, resolv, settings={"Networks": self.networks.endpoints(container_id),
                                                          "Ports": {}})

    def _namespace_owner(self, container_id: str) -> str:
        """The container whose sandbox `container_id` uses: itself, or, when it joined another
        (container:x, in turn perhaps joined), the end of that chain (Docker allows chains)."""
        seen = [container_id]
        while True:
            record = self.container_record(seen[-1]) or {}
            mode = str((record.get("HostConfig") or {}).get("NetworkMode") or "")
            if not mode.startswith("container:"):
                return seen[-1]
            nxt = self.resolve_container(mode.split(":", 1)[1])
            if nxt in seen:
                raise errdefs.InvalidArgument(f"HostConfig.NetworkMode: container:{container_id} joins a cycle")
            seen.append(nxt)

    def disconnect(self, container_id: str) -> None:
        self.networks.destroy_sandbox(container_id)
