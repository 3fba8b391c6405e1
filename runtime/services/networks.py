"""Networks part of the façade: the network manager (runtime.network) behind Docker's bodies, with events.

Mixed into `runtime.services.Services`; called by the network routes and by the containers
part (sandboxes, endpoints, resolv.conf, published ports). State under <root>/network, named
network namespaces under <exec-root>/netns. `network_connect` of a container needs the
containers part (`container_endpoint_target`), which supplies its sandbox and DNS names.
After a connect or disconnect the container's resolv.conf and hosts files (in its record
directory, bind-mounted into it) are edited in place, so a running container sees the change;
containers joined to its network namespace (NetworkMode container:<it>) get the same content.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cached_property
from typing import Any

from runtime import errdefs
from runtime.config import DaemonConfig
from runtime.events import EventBus

log = logging.getLogger("stackyard.services.networks")


def create_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """POST /networks/create body → NetworkManager.create_network keyword arguments (pure)."""
    for key in ("Labels", "Options"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise errdefs.InvalidArgument(f"invalid network {key}: expected an object")
    ipam = body.get("IPAM")
    if ipam is not None and not isinstance(ipam, dict):
        raise errdefs.InvalidArgument("invalid IPAM: expected an object")
    if body.get("Ingress"):
        raise errdefs.Unsupported("ingress networks belong to swarm mode, which this engine does not run")
    if body.get("Scope") not in (None, "", "local"):
        raise errdefs.Unsupported(f"network scope {body['Scope']!r} is not supported (only local)")
    return dict(driver=body.get("Driver") or "bridge", ipam=ipam, internal=bool(body.get("Internal")),
                attachable=bool(body.get("Attachable")), labels=body.get("Labels") or {},
                enable_ipv6=bool(body.get("EnableIPv6")), options=body.get("Options") or {})


class NetworksPart:
    config: DaemonConfig
    events: EventBus

    @cached_property
    def networks(self):
        from runtime.network import NetworkManager
        pools = list(self.config.default_address_pools) or None
        return NetworkManager(os.path.join(self.config.root, "network"), self.config.exec_root,
                              default_pools=pools, masquerade=self.config.ip_masq)

    def network_restore(self) -> list[str]:
        if not os.path.exists(os.path.join(self.config.root, "network")):
            return []
        fixed = self.networks.restore()
        for line in fixed:
            log.info("network restore: %s", line)
        return fixed

    def networks_close(self) -> None:
        if "networks" in self.__dict__:
            self.networks.close()

    def _network_event(self, action: str, net: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        self.events.emit("network", action, net["Id"], {"name": net["Name"], "type": net.get("Driver", "bridge"),
                                                        **(extra or {})})

    def network_list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        unsupported = set(filters) - {"name", "id", "label", "driver", "type", "dangling"}
        if unsupported:
            raise errdefs.InvalidArgument(f"invalid filter '{sorted(unsupported)[0]}'")
        if "type" in filters and not set(filters["type"]) <= {"custom", "builtin"}:
            raise errdefs.InvalidArgument(f"invalid filter: 'type'='{filters['type'][0]}'")
        return self.networks.list(filters)

    def network_inspect(self, ident: str) -> dict[str, Any]:
        return self.networks.get(ident)

    def network_create(self, body: dict[str, Any]) -> dict[str, Any]:
        created = self.networks.create_network(body["Name"], **create_arguments(body))
        self._network_event("create", created)
        return created

    def network_remove(self, ident: str) -> None:
        net = self.networks.get(ident)
        self.networks.remove_network(net["Id"])
        self._network_event("destroy", net)

    def network_prune(self, filters: dict[str, list[str]]) -> list[str]:
        if filters:
            raise errdefs.Unsupported("network prune filters are not supported yet")
        gone = self.networks.prune()
        self.events.emit("network", "prune", "", {"count": str(len(gone))})
        return gone

    def container_endpoint_target(self, container: str) -> tuple[str, str, list[str]]:
        """(container id, sandbox path, DNS names) — answered by the containers part."""
        raise errdefs.Unsupported("connecting containers needs the container runtime, which this daemon has not wired yet")

    def _check_own_namespace(self, container_id: str) -> None:
        """A container in another's (or the host's) network namespace has no endpoints of its
        own to change: refused in Docker's words (its donor is the one to connect)."""
        record = self.container_files(container_id) or {}
        mode = str((record.get("HostConfig") or {}).get("NetworkMode") or "")
        if mode == "host" or mode.startswith("container:"):
            raise errdefs.InvalidArgument("container sharing network namespace with another container or host "
                                          "cannot be connected to any other network")

    def network_connect(self, ident: str, container: str, endpoint: dict[str, Any]) -> None:
        net = self.networks.get(ident)
        container_id, sandbox, names = self.container_endpoint_target(container)
        self._check_own_namespace(container_id)
        ipam = endpoint.get("IPAMConfig") or {}
        before = self.networks.nameservers(container_id)
        joined = self.networks.connect(net["Id"], container_id, sandbox=sandbox, names=names,
                                       aliases=tuple(endpoint.get("Aliases") or ()),
                                       ipv4_address=ipam.get("IPv4Address") or None,
                                       ipv6_address=ipam.get("IPv6Address") or None,
                                       mac_address=endpoint.get("MacAddress") or None,
                                       links=tuple(endpoint.get("Links") or ()))
        self._network_event("connect", net, {"container": container_id})
        self._refresh_container_files(container_id, before, added=_addresses(joined))

    def network_disconnect(self, ident: str, container: str, force: bool) -> None:
        net = self.networks.get(ident)
        container_id, _, _ = self.container_endpoint_target(container)
        self._check_own_namespace(container_id)
        before = self.networks.nameservers(container_id)
        left = self.networks.endpoints(container_id).get(net["Name"]) or {}
        self.networks.disconnect(net["Id"], container_id, force=force)
        self._network_event("disconnect", net, {"container": container_id})
        self._refresh_container_files(container_id, before, removed=_addresses(left))

    # -- the container's resolv.conf and hosts after connect/disconnect ------------------

    def container_files(self, container_id: str) -> dict[str, Any] | None:
        """The container's record (HostConfig, Config.Hostname, ResolvConfPath, HostsPath),
        None when there is none (no containers part, or the container is gone)."""
        containers = getattr(self, "containers", None)
        if containers is None:
            return None
        try:
            return containers.inspect(container_id)
        except errdefs.NotFound:
            return None

    @cached_property
    def _files_lock(self) -> threading.Lock:
        return threading.Lock()

    def _refresh_container_files(self, container_id: str, before: list[str], *, added=(), removed=()) -> None:
        """Docker's behaviour on connect/disconnect: the nameservers follow the networks (each
        network's gateway, where its DNS listens) unless HostConfig.Dns is set or the user
        changed them; search and options stay. /etc/hosts gains the container's address on a
        joined network and loses the one of a left network. The files are rewritten in place:
        they are bind-mounted, a rename would leave the container on the old inode. A failure
        here is logged; the connect itself has happened."""
        record = self.container_files(container_id)
        if record is None:
            return
        from runtime.network import files
        host = record.get("HostConfig") or {}
        with self._files_lock:
            try:
                path = record.get("ResolvConfPath")
                if path and not host.get("Dns"):
                    current = _read(path)
                    servers, _, _ = files.parse_resolv_conf(current)
                    ours = self.networks.gateways()
                    if servers == before or all(s in ours or s in before for s in servers):
                        wanted = self.networks.nameservers(container_id)
                        if wanted != servers:
                            _rewrite_in_place(path, files.replace_nameservers(current, wanted))
                    else:
                        log.info("container %s: resolv.conf nameservers changed by the user; not updated",
                                 container_id[:12])
                path = record.get("HostsPath")
                hostname = (record.get("Config") or {}).get("Hostname") or container_id[:12]
                if path and (added or removed):
                    current = _read(path)
                    text = files.hosts_without(current, removed, [hostname])
                    text = files.hosts_with(text, added, [hostname])
                    if text != current:
                        _rewrite_in_place(path, text)
            except (OSError, errdefs.StackyardError) as exc:
                log.warning("container %s: resolv.conf/hosts not updated after a network change: %s",
                            container_id[:12], exc)
            self._refresh_joiners(container_id, record)

    def _joiners(self, container_id: str) -> list[str]:
        """Ids of the containers in `container_id`'s network namespace (NetworkMode
        container:<it>), and of theirs in turn."""
        containers = getattr(self, "containers", None)
        if containers is None:
            return []
        modes = {}
        for row in containers.list(all=True):
            mode = str((row.get("HostConfig") or {}).get("NetworkMode") or "")
            if mode.startswith("container:"):
                modes[row["Id"]] = mode.split(":", 1)[1]
        found, todo = [], [container_id]
        while todo:
            donor = todo.pop()
            for cid, ref in modes.items():
                if cid in found or cid == container_id:
                    continue
                try:
                    target = containers.resolve(ref)
                except errdefs.NotFound:
                    continue  # its donor is gone
                if target == donor:
                    found.append(cid)
                    todo.append(cid)
        return found

    def _refresh_joiners(self, container_id: str, record: dict[str, Any]) -> None:
        """Containers joined to this one's network namespace hold a copy of its resolv.conf and
        hosts (hooks.ManagerNetworkHook.connect, as Docker shares them): they get the new
        content too, in place."""
        try:
            joiners = self._joiners(container_id)
        except errdefs.StackyardError as exc:
            log.warning("container %s: joined containers not found: %s", container_id[:12], exc)
            return
        if not joiners:
            return
        try:
            texts = {key: _read(record[key]) for key in ("ResolvConfPath", "HostsPath") if record.get(key)}
        except OSError as exc:
            log.warning("container %s: resolv.conf/hosts unreadable: %s", container_id[:12], exc)
            return
        for joiner in joiners:
            other = self.container_files(joiner)
            if other is None:
                continue
            for key, text in texts.items():
                path = other.get(key)
                try:
                    if path and _read(path) != text:
                        _rewrite_in_place(path, text)
                except OSError as exc:
                    log.warning("container %s: %s not updated after its network donor %s changed: %s",
                                joiner[:12], key, container_id[:12], exc)


def _addresses(endpoint: dict[str, Any]) -> list[str]:
    return [a for a in (endpoint.get("IPAddress"), endpoint.get("GlobalIPv6Address")) if a]


def _read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd) as f:
        return f.read()


def _rewrite_in_place(path: str, text: str) -> None:
    """Same inode: write over the old content, then cut what is left of it."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        data = text.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
