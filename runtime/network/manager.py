"""The built-in network manager: networks, sandboxes, endpoints, embedded DNS, published ports.

Used only by the daemon (the container manager calls it; the CLI never imports it). Decisions
are made by pure modules (`ipam`, `naming`, `rules`, `dnsnames`, `files`, `ports` parsing);
this class keeps the state, persists it (`store`) and drives the thin kernel layers (`kernel`,
`firewall`, `dns`, `proxy`). One lock serialises every change; DNS threads only read name
tables that are replaced whole.

Lifecycle of a container's networking (what the container manager does):
    path = create_sandbox(cid)                 # netns at <run_dir>/netns/<cid>, lo up
    connect(net, cid, sandbox=path, names=[...])   # eth0, eth1… with addresses and routes
    publish(cid, [PortBinding(...)])           # DNAT rules + host port reservations
    resolv_conf(cid) / hosts_file(cid, hostname=...)   # files to bind-mount
    ... the executor starts the container joining the netns by path ...
    destroy_sandbox(cid)                       # unpublish, forget endpoints, drop the netns

Forwarding (issue 6, "Isolation"): outbound traffic of normal networks needs ip_forward. When
the host has it off and masquerade=True, the manager turns it on and then drops, in its own
table, forwarded traffic that neither enters nor leaves one of its bridges, so the host does
not start routing for other interfaces. masquerade=False leaves ip_forward and NAT alone:
containers then reach each other and the host only.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass

from runtime import errdefs
from runtime.network import files, firewall, kernel, naming, store
from runtime.network import ipam as ipam_mod
from runtime.network import rules as rules_mod
from runtime.network.dnsnames import ClientView, NameTable, build_table, client_views
from runtime.network.ports import PortBinding, check_binding, normalize_binding, reserve

log = logging.getLogger(__name__)

OPT_MTU = "com.docker.network.driver.mtu"
OPT_BRIDGE = "com.docker.network.bridge.name"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
DEFAULT_ROOT = "/var/lib/stackyard"


@dataclass(frozen=True)
class NetworkJoin:
    """How a container joins networking: its own sandbox, the host's, or another's."""
    mode: str  # "none" | "host" | "container" | "bridge"
    netns_path: str | None  # None: stay in the host's network namespace
    container_id: str | None = None  # the container whose sandbox is shared


class NetworkManager:
    """One per daemon. After constructing it, call restore() once: it reconciles the kernel
    with the persisted state and starts the DNS listeners of existing networks."""

    def __init__(self, state_dir: str, run_dir: str, *, default_pools=None, masquerade=True,
                 port_backend: str = "auto", dns_upstreams=None, dns_port: int = 53):
        """`dns_upstreams`: resolvers for names that are not ours — None reads the host's
        /etc/resolv.conf at each query (cached by mtime); a list of "ip", "ip:port" or
        (ip, port) overrides it (tests point it at a resolver on 127.0.0.1)."""
        if port_backend not in ("auto", "nft", "iptables", "proxy"):
            raise errdefs.InvalidArgument(f"port_backend {port_backend!r}: expected auto, nft, iptables or proxy")
        self.state_dir, self.run_dir = state_dir, run_dir
        os.makedirs(state_dir, exist_ok=True)
        os.makedirs(os.path.join(run_dir, "netns"), exist_ok=True)
        self._state_path = os.path.join(state_dir, "network.json")
        self._pools = ipam_mod.parse_pools(default_pools or ipam_mod.DEFAULT_POOLS)
        self._masquerade = masquerade
        self.tag = naming.instance_tag(state_dir)
        self._alias = naming.interface_alias(self.tag)
        default = os.path.realpath(state_dir).startswith(DEFAULT_ROOT)
        fw_kind = firewall.choose("auto" if port_backend in ("auto", "proxy") else port_backend)
        self._fw = firewall.Firewall(fw_kind, naming.table_name(self.tag, default), self.tag)
        self.port_backend = port_backend if port_backend != "auto" else (fw_kind if fw_kind != "none" else "proxy")
        log.info("published ports backend: %s", self.port_backend)
        self._dns_port = dns_port
        self._upstreams_override = None if dns_upstreams is None else [_hostport(u) for u in dns_upstreams]
        self._resolv_cache: tuple[float, list] = (-1.0, [])
        self._lock = threading.RLock()
        self._state = store.load(self._state_path)
        self._links = None  # kernel.Links, opened lazily (pyroute2 import)
        self._dns: dict[str, object] = {}
        self._tables: dict[str, NameTable] = {}
        self._views: dict[str, ClientView] = {}  # container address → what it may resolve
        self._all_names: frozenset[str] = frozenset()
        self._reservations: dict[tuple, object] = {}  # (proto, ip, port) -> socket
        self._proxy = None

    # -- small helpers -----------------------------------------------------------------

    @property
    def links(self) -> kernel.Links:
        if self._links is None:
            self._links = kernel.Links()
        return self._links

    def _save(self, durable: bool = False) -> None:
        store.save(self._state_path, self._state, durable=durable)

    def _net(self, id_or_name: str) -> dict:
        nets = self._state["networks"]
        if id_or_name in nets:
            return nets[id_or_name]
        for net in nets.values():
            if net["Name"] == id_or_name:
                return net
        matches = [n for i, n in nets.items() if id_or_name and i.startswith(id_or_name)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errdefs.InvalidArgument(f"network {id_or_name!r} is ambiguous ({len(matches)} matches)")
        raise errdefs.NotFound(f"network {id_or_name} not found")

    def _sandbox(self, container_id: str) -> dict:
        sb = self._state["sandboxes"].get(container_id)
        if sb is None:
            raise errdefs.NotFound(f"no network sandbox for container {container_id}")
        return sb

    def _endpoints_of(self, net_id: str) -> list[tuple[str, dict]]:
        """(container id, endpoint) of a network, in connection order."""
        eps = [(cid, sb["endpoints"][net_id]) for cid, sb in self._state["sandboxes"].items()
               if net_id in sb["endpoints"]]
        return sorted(eps, key=lambda x: x[1]["_seq"])

    def _next_seq(self) -> int:
        self._state["sequence"] += 1
        return self._state["sequence"]

    # -- inspect shape -----------------------------------------------------------------

    def _inspect(self, net: dict) -> dict:
        out = {k: v for k, v in net.items() if not k.startswith("_")}
        containers = {}
        for cid, ep in self._endpoints_of(net["Id"]):
            containers[cid] = {
                "Name": ep["_name"], "EndpointID": ep["EndpointID"], "MacAddress": ep["MacAddress"],
                "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}" if ep["IPAddress"] else "",
                "IPv6Address": (f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                                if ep["GlobalIPv6Address"] else "")}
        out["Containers"] = containers
        return out

    def get(self, id_or_name) -> dict:
        with self._lock:
            return self._inspect(self._net(id_or_name))

    def list(self, filters=None) -> list[dict]:
        """Docker's filters: name, id (substring/prefix), label (key or key=value), driver,
        type (custom), dangling (true: no endpoints)."""
        filters = {k: ([v] if isinstance(v, str) else list(v)) for k, v in (filters or {}).items()}
        unknown = set(filters) - {"name", "id", "label", "driver", "type", "dangling"}
        if unknown:
            raise errdefs.InvalidArgument(f"invalid network filter(s): {sorted(unknown)}")
        with self._lock:
            out = []
            for net in self._state["networks"].values():
                if "name" in filters and not any(f in net["Name"] for f in filters["name"]):
                    continue
                if "id" in filters and not any(net["Id"].startswith(f) for f in filters["id"]):
                    continue
                if "driver" in filters and net["Driver"] not in filters["driver"]:
                    continue
                if "label" in filters and not all(_label_matches(net["Labels"], f) for f in filters["label"]):
                    continue
                if "type" in filters and "custom" not in filters["type"]:
                    continue
                view = self._inspect(net)
                if "dangling" in filters:
                    want = filters["dangling"][0].lower() in ("1", "true")
                    if want != (not view["Containers"]):
                        continue
                out.append(view)
            return out

    # -- networks ----------------------------------------------------------------------

    def create_network(self, name, *, driver="bridge", ipam: dict | None = None, internal=False,
                       attachable=False, labels=None, enable_ipv6=False, options=None) -> dict:
        naming.check_network_name(name)
        if driver not in ("bridge", None, ""):
            raise errdefs.Unsupported(f"network {name}: driver {driver!r} is not supported (only bridge)")
        options = {str(k): str(v) for k, v in (options or {}).items()}
        mtu = None
        if OPT_MTU in options:
            try:
                mtu = int(options[OPT_MTU])
            except ValueError:
                mtu = -1
            if not 68 <= mtu <= 65535:
                raise errdefs.InvalidArgument(f"network {name}: option {OPT_MTU}={options[OPT_MTU]!r} must be an MTU between 68 and 65535")
        cfg = ipam or {}
        if (cfg.get("Driver") or cfg.get("driver") or "default") != "default":
            raise errdefs.Unsupported(f"network {name}: IPAM driver {cfg.get('Driver') or cfg.get('driver')!r} is not supported")
        with self._lock:
            if any(n["Name"] == name for n in self._state["networks"].values()):
                raise errdefs.AlreadyExists(f"network with name {name} already exists")
            net_id = naming.new_network_id(name)
            bridge = naming.bridge_name(net_id, options)
            if any(n["_bridge"] == bridge for n in self._state["networks"].values()):
                raise errdefs.Conflict(f"network {name}: bridge {bridge} is already used by another network")
            taken = [ipaddress.ip_network(p["Subnet"]) for n in self._state["networks"].values()
                     for p in n["IPAM"]["Config"]] + ipam_mod.read_host_routes()
            configs = [ipam_mod.normalize_pool_config(c, f"network {name}: ipam.config[{i}]")
                       for i, c in enumerate(cfg.get("Config") or cfg.get("config") or [])]
            for c in configs:
                sub = ipaddress.ip_network(c["Subnet"])
                clash = next((t for t in taken if t.version == sub.version and t.overlaps(sub)), None)
                if clash is not None:
                    raise errdefs.Conflict(f"network {name}: subnet {sub} overlaps {clash}, already in use")
            if sum(1 for c in configs if ":" not in c["Subnet"]) > 1 or sum(1 for c in configs if ":" in c["Subnet"]) > 1:
                raise errdefs.Unsupported(f"network {name}: at most one IPv4 and one IPv6 subnet per network")
            if not any(":" not in c["Subnet"] for c in configs):
                sub = ipam_mod.select_subnet(self._pools, taken)
                configs.insert(0, ipam_mod.normalize_pool_config({"Subnet": str(sub)}, f"network {name}"))
            if any(":" in c["Subnet"] for c in configs) and not enable_ipv6:
                raise errdefs.InvalidArgument(f"network {name}: an IPv6 subnet needs enable_ipv6")
            if enable_ipv6 and not any(":" in c["Subnet"] for c in configs):
                sub6 = ipam_mod.ula_subnet(net_id, taken)
                configs.append(ipam_mod.normalize_pool_config({"Subnet": str(sub6)}, f"network {name}"))
            net = {
                "Name": name, "Id": net_id,
                "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "Scope": "local", "Driver": "bridge", "EnableIPv6": bool(enable_ipv6),
                "IPAM": {"Driver": "default", "Options": dict(cfg.get("Options") or cfg.get("options") or {}),
                         "Config": configs},
                "Internal": bool(internal), "Attachable": bool(attachable), "Ingress": False,
                "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
                "Options": options, "Labels": dict(labels or {}),
                "_bridge": bridge, "_mtu": mtu,
            }
            existing = next((l for l in self.links.list() if l["name"] == bridge), None)
            if existing is not None and existing["alias"] != self._alias:
                # never adopt (and later delete) a bridge someone else made, e.g. docker0
                raise errdefs.Conflict(f"network {name}: interface {bridge} already exists and is not ours")
            self._state["networks"][net_id] = net
            forwarding = False
            try:
                self._bring_up_bridge(net)
                forwarding = self._maybe_enable_forwarding(net)
                self._sync_firewall()
                self._start_dns(net)
            except BaseException:
                # undo what was done; a failure while undoing must not hide the cause
                del self._state["networks"][net_id]
                self._stop_dns(net_id)
                if forwarding:
                    # turned on for this network alone: left on, with the guard gone with
                    # the undo, the host would route between its other interfaces
                    self._state["ip_forward_by_us"] = False
                for undo in (lambda: forwarding and kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0"),
                             lambda: self.links.delete(bridge), self._sync_firewall):
                    try:
                        undo()
                    except Exception as exc:  # logged: the original error is re-raised below
                        log.warning("network %s: cleanup after a failed create: %s", name, exc)
                raise
            self._save(durable=True)
            return self._inspect(net)

    def _bring_up_bridge(self, net: dict) -> bool:
        addrs = []
        for c in net["IPAM"]["Config"]:
            sub = ipaddress.ip_network(c["Subnet"])
            addrs.append((c["Gateway"], sub.prefixlen))
        return self.links.ensure_bridge(net["_bridge"], alias=self._alias, mtu=net["_mtu"], addresses=addrs)

    def _maybe_enable_forwarding(self, net: dict) -> bool:
        """Turn ip_forward on for a normal network's outbound traffic; True if it did."""
        if not self._masquerade or net["Internal"]:
            return False
        if kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward") != "1":
            kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
            self._state["ip_forward_by_us"] = True
            log.warning("enabled net.ipv4.ip_forward for outbound traffic of network %s; "
                        "forwarding is restricted to stackyard bridges", net["Name"])
            return True
        return False

    def remove_network(self, id_or_name) -> None:
        with self._lock:
            net = self._net(id_or_name)
            if self._endpoints_of(net["Id"]):
                raise errdefs.Conflict(
                    f"error while removing network: network {net['Name']} id {net['Id']} has active endpoints")
            self._stop_dns(net["Id"])
            self.links.delete(net["_bridge"])
            del self._state["networks"][net["Id"]]
            self._tables.pop(net["Id"], None)
            self._sync_firewall()
            self._save(durable=True)

    def prune(self) -> list[str]:
        """Remove every network without endpoints; returns their names."""
        with self._lock:
            gone = []
            for net in list(self._state["networks"].values()):
                if not self._endpoints_of(net["Id"]):
                    self.remove_network(net["Id"])
                    gone.append(net["Name"])
            return gone

    # -- sandboxes and endpoints -------------------------------------------------------

    def sandbox_path(self, container_id: str) -> str:
        return os.path.join(self.run_dir, "netns", container_id)

    def create_sandbox(self, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise errdefs.InvalidArgument(f"container id {container_id!r} cannot name a network namespace")
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            if sb is not None and kernel.is_netns(sb["path"]):
                return sb["path"]
            path = self.sandbox_path(container_id)
            if os.path.exists(path):
                kernel.delete_netns(path)
            try:
                kernel.create_netns(path)
            except OSError as exc:
                raise errdefs.from_oserror(exc, f"network namespace for container {container_id}") from exc
            self._state["sandboxes"][container_id] = {"path": path, "owned": True, "endpoints": {},
                                                      "ports": [], "gateway_net": None}
            self._save()
            return path

    def connect(self, network, container_id, *, sandbox: str, names: list[str], aliases=(),
                ipv4_address=None, ipv6_address=None, mac_address=None, links=()) -> dict:
        with self._lock:
            net = self._net(network)
            net_id = net["Id"]
            sb = self._state["sandboxes"].get(container_id)
            adopted = sb is None
            if adopted:
                # a namespace made by someone else (the executor): use it, never delete it
                if not kernel.is_netns(sandbox):
                    raise errdefs.NotFound(f"network namespace {sandbox} does not exist")
                sb = {"path": sandbox, "owned": False, "endpoints": {}, "ports": [], "gateway_net": None}
            elif sb["path"] != sandbox:
                raise errdefs.InvalidArgument(
                    f"container {container_id} has its sandbox at {sb['path']}, not {sandbox}")
            if net_id in sb["endpoints"]:
                raise errdefs.Conflict(
                    f"endpoint with name {names[0] if names else container_id} already exists in network {net['Name']}")
            in_use4 = [ep["IPAddress"] for _, ep in self._endpoints_of(net_id) if ep["IPAddress"]]
            in_use6 = [ep["GlobalIPv6Address"] for _, ep in self._endpoints_of(net_id) if ep["GlobalIPv6Address"]]
            pool4 = next((c for c in net["IPAM"]["Config"] if ":" not in c["Subnet"]), None)
            pool6 = next((c for c in net["IPAM"]["Config"] if ":" in c["Subnet"]), None)
            if ipv6_address and pool6 is None:
                raise errdefs.InvalidArgument(f"network {net['Name']}: ipv6_address given but the network has no IPv6 subnet")
            v4 = ipam_mod.allocate(pool4, in_use4, ipv4_address) if pool4 else None
            v6 = ipam_mod.allocate(pool6, in_use6, ipv6_address) if pool6 and net["EnableIPv6"] else None
            mac = naming.check_mac(mac_address) if mac_address else (naming.mac_for_ipv4(v4) if v4 else _random_mac())
            used_if = {ep["_ifname"] for ep in sb["endpoints"].values()}
            ifname = naming.container_ifname(used_if)
            seq = self._next_seq()
            host_if = naming.host_veth_name(container_id, net_id, seq)
            gw4 = None
            if not net["Internal"] and sb["gateway_net"] is None and pool4:
                gw4 = pool4["Gateway"]
            prefix4 = ipaddress.ip_network(pool4["Subnet"]).prefixlen if pool4 else 0
            prefix6 = ipaddress.ip_network(pool6["Subnet"]).prefixlen if v6 else 0
            self.links.add_veth(sb["path"], host_if, ifname, bridge=net["_bridge"], mac=mac, mtu=net["_mtu"], alias=self._alias)
            try:
                kernel.configure_inside(sb["path"], ifname, v4=(v4, prefix4) if v4 else None, gateway4=gw4,
                                        v6=(v6, prefix6) if v6 else None, gateway6=None)
            except Exception as exc:  # pyroute2's NetlinkError included: map it here, once
                kernel.delete_inside(sb["path"], ifname)
                if isinstance(exc, errdefs.StackyardError):
                    raise
                raise errdefs.Internal(
                    f"configure {ifname} of container {container_id} on network {net['Name']}: {exc}") from exc
            if adopted:
                self._state["sandboxes"][container_id] = sb
            aliases = [a for a in aliases if a]
            ep = {
                "IPAMConfig": ({"IPv4Address": ipv4_address or "", "IPv6Address": ipv6_address or ""}
                               if (ipv4_address or ipv6_address) else None),
                "Links": list(links), "Aliases": list(aliases), "NetworkID": net_id,
                "EndpointID": naming.new_network_id(container_id + net_id),
                "Gateway": pool4["Gateway"] if pool4 and not net["Internal"] else "",
                "IPAddress": v4 or "", "IPPrefixLen": prefix4 if v4 else 0,
                "IPv6Gateway": pool6["Gateway"] if v6 and not net["Internal"] else "",
                "GlobalIPv6Address": v6 or "", "GlobalIPv6PrefixLen": prefix6,
                "MacAddress": mac, "DriverOpts": None,
                "DNSNames": list(dict.fromkeys([*names, *aliases])),
                "_name": names[0] if names else container_id[:12], "_ifname": ifname,
                "_host_ifname": host_if, "_seq": seq,
            }
            sb["endpoints"][net_id] = ep
            if gw4:
                sb["gateway_net"] = net_id
            self._rebuild_names(net_id)
            self._save()
            return {k: v for k, v in ep.items() if not k.startswith("_")}

    def disconnect(self, network, container_id, *, force=False) -> None:
        with self._lock:
            net = self._net(network)
            sb = self._state["sandboxes"].get(container_id)
            if sb is None or net["Id"] not in sb["endpoints"]:
                if force:
                    return
                raise errdefs.NotFound(f"container {container_id} is not connected to network {net['Name']}")
            ep = sb["endpoints"][net["Id"]]
            if net["Id"] in {p.get("network") for p in sb["ports"]}:
                self._unpublish_locked(container_id)
            try:
                kernel.delete_inside(sb["path"], ep["_ifname"])
            except OSError:
                if not force:
                    raise
            del sb["endpoints"][net["Id"]]
            if sb["gateway_net"] == net["Id"]:
                sb["gateway_net"] = None
                self._pick_gateway(sb)
            self._rebuild_names(net["Id"])
            self._save()

    def _pick_gateway(self, sb: dict) -> None:
        """After the default route's network left, route through the next normal network."""
        for net_id, ep in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
            net = self._state["networks"].get(net_id)
            if net and not net["Internal"] and ep["IPAddress"]:
                pool4 = next(c for c in net["IPAM"]["Config"] if ":" not in c["Subnet"])
                try:
                    kernel.set_default_route(sb["path"], pool4["Gateway"])
                except OSError as exc:
                    log.warning("default route via %s: %s", pool4["Gateway"], exc)
                    return
                sb["gateway_net"] = net_id
                return

    def destroy_sandbox(self, container_id) -> None:
        """Unpublish, forget the endpoints and drop the namespace (its veths go with it)."""
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            if sb is None:
                return
            self._unpublish_locked(container_id)
            nets = list(sb["endpoints"])
            del self._state["sandboxes"][container_id]
            if sb["owned"]:
                kernel.delete_netns(sb["path"])
            else:
                for ep in sb["endpoints"].values():
                    try:
                        kernel.delete_inside(sb["path"], ep["_ifname"])
                    except OSError:
                        pass
            for net_id in nets:
                self._rebuild_names(net_id)
            self._save()

    def join_mode(self, network_mode: str) -> NetworkJoin:
        """none: a sandbox with lo only (the caller creates it with create_sandbox);
        host: no sandbox; container:<id>: that container's sandbox; anything else: a
        sandbox of its own connected to networks."""
        mode = network_mode or "bridge"
        if mode == "host":
            return NetworkJoin("host", None)
        if mode == "none":
            return NetworkJoin("none", None)
        if mode.startswith("container:"):
            other = mode.split(":", 1)[1]
            with self._lock:
                sb = self._state["sandboxes"].get(other)
                if sb is None:
                    matches = [c for c in self._state["sandboxes"] if c.startswith(other)]
                    if len(matches) == 1:
                        other, sb = matches[0], self._state["sandboxes"][matches[0]]
                if sb is None:
                    raise errdefs.NotFound(f"network_mode {mode}: container {other} has no network sandbox (is it running?)")
                return NetworkJoin("container", sb["path"], other)
        if mode.startswith("service:"):
            raise errdefs.InvalidArgument(
                f"network_mode {mode}: resolve the service to container:<id> before calling the network manager")
        return NetworkJoin("bridge", None)

    def endpoints(self, container_id: str) -> dict:
        """Docker's NetworkSettings.Networks for a container: {network name: endpoint}."""
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            if sb is None:
                return {}
            out = {}
            for net_id, ep in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
                name = self._state["networks"][net_id]["Name"]
                out[name] = {k: v for k, v in ep.items() if not k.startswith("_")}
            return out

    # -- names and files ---------------------------------------------------------------

    def _rebuild_names(self, net_id: str) -> None:
        eps = [ep for _, ep in self._endpoints_of(net_id)]
        self._tables[net_id] = build_table(eps)
        self._all_names = frozenset(n for t in self._tables.values() for n in t.names)
        self._rebuild_views()

    def _rebuild_views(self) -> None:
        """Who may resolve what, by source address (issue 6 review: names must not leak to
        another network's containers, and a container on several networks resolves all of
        them). Replaced whole: the DNS threads read it without the lock."""
        nets = self._state["networks"]
        containers = []
        for sb in self._state["sandboxes"].values():
            addresses, tables = [], []
            for net_id, ep in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
                if net_id not in nets:
                    continue
                addresses += [a for a in (ep["IPAddress"], ep["GlobalIPv6Address"]) if a]
                tables.append((self._tables.get(net_id) or NameTable(), nets[net_id]["Internal"]))
            containers.append((addresses, tables))
        self._views = client_views(containers)

    def _view_for(self, client: str) -> ClientView | None:
        return self._views.get(client)

    def _upstreams(self) -> list[tuple[str, int]]:
        if self._upstreams_override is not None:
            return self._upstreams_override
        try:
            mtime = os.stat("/etc/resolv.conf").st_mtime
        except OSError:
            return []
        if mtime != self._resolv_cache[0]:
            with open("/etc/resolv.conf") as f:
                servers, _, _ = files.parse_resolv_conf(f.read())
            self._resolv_cache = (mtime, [(s, 53) for s in servers])
        return self._resolv_cache[1]

    def _start_dns(self, net: dict) -> None:
        from runtime.network.dns import DnsServer  # lazy: dnslib (pitfall 9)
        net_id = net["Id"]
        self._rebuild_names(net_id)
        for c in net["IPAM"]["Config"]:
            if ":" in c["Subnet"]:
                continue
            try:
                self._dns[net_id] = DnsServer(
                    c["Gateway"], self._dns_port, self._view_for, upstreams=self._upstreams,
                    is_foreign=lambda name: name in self._all_names)
            except OSError as exc:
                raise errdefs.from_oserror(exc, f"embedded DNS of network {net['Name']} on {c['Gateway']}:{self._dns_port}") from exc

    def _stop_dns(self, net_id: str) -> None:
        server = self._dns.pop(net_id, None)
        if server is not None:
            server.stop()

    def _dns_servers(self, sb: dict) -> list[str]:
        """The gateways of the container's networks, in connection order (at most 3, the
        resolver's limit). Each of them answers the container with the names of all its
        networks, so the file stays right after a later connect, and after a disconnect
        while another listed network remains."""
        out = []
        for net_id, _ in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
            net = self._state["networks"][net_id]
            gw = next((c["Gateway"] for c in net["IPAM"]["Config"] if ":" not in c["Subnet"]), None)
            if gw and gw not in out:
                out.append(gw)
        return out[:3]

    def nameservers(self, container_id) -> list[str]:
        """The embedded DNS servers a container on its current networks should list (what
        resolv_conf() writes when `dns` is not set); [] without a sandbox or endpoint."""
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            return self._dns_servers(sb) if sb else []

    def gateways(self) -> set[str]:
        """The IPv4 gateways of every network (where the embedded DNS servers listen)."""
        with self._lock:
            return {c["Gateway"] for n in self._state["networks"].values()
                    for c in n["IPAM"]["Config"] if ":" not in c["Subnet"] and c.get("Gateway")}

    def resolv_conf(self, container_id, *, dns=(), dns_search=(), dns_opt=()) -> str:
        """The container's resolv.conf: the embedded DNS on the gateways of its networks
        (Docker uses 127.0.0.11; we use the gateway addresses, where the servers listen)
        unless `dns`."""
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            ours = self._dns_servers(sb) if sb else []
        host_servers, host_search, host_opts = [], [], []
        try:
            with open("/etc/resolv.conf") as f:
                host_servers, host_search, host_opts = files.parse_resolv_conf(f.read())
        except OSError:
            pass
        if dns:
            servers = list(dns)
        elif ours:
            servers = ours
        elif sb is None:  # network_mode host: the host's own file
            servers = host_servers
        else:  # none: nothing reachable; keep the host's non-loopback servers as Docker does
            servers = files.non_loopback_servers(host_servers)
        return files.render_resolv_conf(servers, list(dns_search) or host_search,
                                        list(dns_opt) or host_opts)

    def hosts_file(self, container_id, *, hostname, extra_hosts=()) -> str:
        with self._lock:
            sb = self._state["sandboxes"].get(container_id)
            own, gateway = [], None
            if sb is not None:
                for net_id, ep in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
                    own += [a for a in (ep["IPAddress"], ep["GlobalIPv6Address"]) if a]
                    if gateway is None:
                        gateway = next((c["Gateway"] for c in self._state["networks"][net_id]["IPAM"]["Config"]
                                        if ":" not in c["Subnet"]), None)
        return files.render_hosts(hostname, own, extra_hosts, gateway)

    # -- published ports ---------------------------------------------------------------

    def publish(self, container_id, ports: list[PortBinding]) -> list[PortBinding]:
        """Reserve host ports and forward them to the container's first normal network.
        All or nothing: on any error, what this call reserved is released."""
        with self._lock:
            sb = self._sandbox(container_id)
            target = None
            for net_id, ep in sorted(sb["endpoints"].items(), key=lambda x: x[1]["_seq"]):
                net = self._state["networks"][net_id]
                if not net["Internal"] and ep["IPAddress"]:
                    target = (net, ep)
                    break
            if target is None:
                if ports:
                    log.warning("container %s: ports not published: no non-internal network", container_id)
                return []
            net, ep = target
            ports = [normalize_binding(b) for b in ports]
            for b in ports:
                check_binding(b)
            made: list[tuple[dict, object]] = []
            try:
                for b in ports:
                    owner = self._port_owner(b)
                    if owner is not None:
                        raise errdefs.Conflict(
                            f"Bind for {b.host_ip or '0.0.0.0'}:{b.host_port}/{b.proto} failed: port is "
                            f"already allocated (published by container {owner})")
                    sock, actual = reserve(b, listen=self.port_backend == "proxy")
                    rec = {"proto": actual.proto, "host_ip": actual.host_ip, "host_port": actual.host_port,
                           "container_port": actual.container_port, "dest_ip": ep["IPAddress"],
                           "bridge": net["_bridge"], "network": net["Id"]}
                    self._reservations[_rkey(rec)] = sock
                    made.append((rec, sock))
                    sb["ports"].append(rec)
                if self.port_backend == "proxy":
                    for rec, sock in made:
                        self._proxy_add(rec, sock)
                else:
                    self._sync_firewall()
            except BaseException:
                for rec, sock in made:
                    sb["ports"].remove(rec)
                    self._release(rec)
                if self.port_backend != "proxy":
                    self._sync_firewall()
                raise
            self._save()
            return [PortBinding(r["container_port"], r["host_port"], r["host_ip"], r["proto"]) for r, _ in made]

    def published(self, container_id) -> list[PortBinding]:
        with self._lock:
            sb = self._state["sandboxes"].get(container_id) or {"ports": []}
            return [PortBinding(r["container_port"], r["host_port"], r["host_ip"], r["proto"]) for r in sb["ports"]]

    def _port_owner(self, b: PortBinding) -> str | None:
        if b.host_port == 0 or b.host_port_end is not None:
            return None
        for cid, sb in self._state["sandboxes"].items():
            for r in sb["ports"]:
                if r["proto"] == b.proto and r["host_port"] == b.host_port and \
                        (not r["host_ip"] or not b.host_ip or r["host_ip"] == b.host_ip):
                    return cid
        return None

    def _proxy_add(self, rec: dict, sock) -> None:
        if self._proxy is None:
            from runtime.network.proxy import Proxy
            self._proxy = Proxy()
        self._proxy.add(_rkey(rec), sock, rec["proto"], (rec["dest_ip"], rec["container_port"]))

    def _release(self, rec: dict) -> None:
        if self._proxy is not None:
            self._proxy.remove(_rkey(rec))
        sock = self._reservations.pop(_rkey(rec), None)
        if sock is not None:
            sock.close()

    def unpublish(self, container_id) -> None:
        with self._lock:
            self._unpublish_locked(container_id)
            self._save()

    def _unpublish_locked(self, container_id) -> None:
        sb = self._state["sandboxes"].get(container_id)
        if sb is None or not sb["ports"]:
            return
        recs, sb["ports"] = sb["ports"], []
        for rec in recs:
            self._release(rec)
        if self.port_backend != "proxy":
            self._sync_firewall()

    # -- firewall ----------------------------------------------------------------------

    def _sync_firewall(self) -> None:
        bridges = []
        for net in self._state["networks"].values():
            pool4 = next((c for c in net["IPAM"]["Config"] if ":" not in c["Subnet"]), None)
            masq = self._masquerade and net["Options"].get(OPT_MASQ, "true").lower() != "false"
            bridges.append(rules_mod.BridgeRule(net["_bridge"], pool4["Subnet"] if pool4 else None,
                                                net["Internal"], masq,
                                                gateway4=pool4["Gateway"] if pool4 else None))
        ports = []
        if self.port_backend != "proxy":
            for sb in self._state["sandboxes"].values():
                for r in sb["ports"]:
                    ports.append(rules_mod.PortRule(r["proto"], r["host_ip"], r["host_port"],
                                                    r["dest_ip"], r["container_port"], r["bridge"]))
        self._fw.apply(bridges, ports, guard_forward=self._state["ip_forward_by_us"])

    # -- crash recovery and shutdown ---------------------------------------------------

    def restore(self) -> list[str]:
        """Reconcile the kernel with the persisted state after a crash or restart: recreate
        missing bridges, drop sandboxes whose namespace is gone, re-attach or re-wire
        endpoints, remove our leftover bridges and namespace files, re-apply the firewall,
        re-reserve published ports and restart DNS listeners. Returns what it fixed."""
        fixed: list[str] = []
        with self._lock:
            nets = self._state["networks"]
            for net in nets.values():
                if self._bring_up_bridge(net):
                    fixed.append(f"recreated bridge {net['_bridge']} of network {net['Name']}")
                # after a reboot ip_forward is off again: outbound traffic needs it as at create
                if self._maybe_enable_forwarding(net):
                    fixed.append(f"turned net.ipv4.ip_forward on again for network {net['Name']}")
            for cid, sb in list(self._state["sandboxes"].items()):
                if not kernel.is_netns(sb["path"]):
                    del self._state["sandboxes"][cid]
                    fixed.append(f"dropped sandbox of container {cid}: namespace gone")
                    continue
                inside = set(kernel.list_inside(sb["path"]))
                for net_id, ep in list(sb["endpoints"].items()):
                    net = nets.get(net_id)
                    if net is None:
                        kernel.delete_inside(sb["path"], ep["_ifname"])
                        del sb["endpoints"][net_id]
                        fixed.append(f"removed endpoint of container {cid} on a deleted network")
                    elif ep["_ifname"] in inside and self.links.index(ep["_host_ifname"]) is not None:
                        if self.links.attach(ep["_host_ifname"], net["_bridge"]):
                            pass
                    else:
                        fixed.append(self._rewire(cid, sb, net, ep, inside))
                sb["ports"] = [r for r in sb["ports"] if r["network"] in sb["endpoints"]]
            wanted = {n["_bridge"] for n in nets.values()}
            for link in self.links.list():
                if link["alias"] == self._alias and link["kind"] == "bridge" and link["name"] not in wanted:
                    self.links.delete(link["name"])
                    fixed.append(f"removed leftover bridge {link['name']}")
            known = {os.path.basename(sb["path"]) for sb in self._state["sandboxes"].values()}
            netns_dir = os.path.join(self.run_dir, "netns")
            for name in os.listdir(netns_dir):
                if name not in known:
                    kernel.delete_netns(os.path.join(netns_dir, name))
                    fixed.append(f"removed leftover network namespace {name}")
            for rec_sb in self._state["sandboxes"].values():
                for rec in rec_sb["ports"]:
                    if _rkey(rec) in self._reservations:
                        continue
                    try:
                        sock, _ = reserve(PortBinding(rec["container_port"], rec["host_port"], rec["host_ip"], rec["proto"]),
                                          listen=self.port_backend == "proxy")
                    except errdefs.Conflict as exc:
                        fixed.append(f"published port {rec['host_port']}/{rec['proto']} could not be re-reserved: {exc}")
                        continue
                    self._reservations[_rkey(rec)] = sock
                    if self.port_backend == "proxy":
                        self._proxy_add(rec, sock)
            self._sync_firewall()
            for net_id, net in nets.items():
                if net_id not in self._dns:
                    self._start_dns(net)
                    fixed.append(f"started DNS of network {net['Name']}")
                self._rebuild_names(net_id)
            self._save(durable=True)
        for line in fixed:
            log.info("network restore: %s", line)
        return fixed

    def _rewire(self, cid: str, sb: dict, net: dict, ep: dict, inside: set[str]) -> str:
        if ep["_ifname"] in inside:
            kernel.delete_inside(sb["path"], ep["_ifname"])
        self.links.delete(ep["_host_ifname"])
        self.links.add_veth(sb["path"], ep["_host_ifname"], ep["_ifname"], bridge=net["_bridge"],
                            mac=ep["MacAddress"], mtu=net["_mtu"], alias=self._alias)
        gw4 = ep["Gateway"] if sb["gateway_net"] == net["Id"] else None
        kernel.configure_inside(sb["path"], ep["_ifname"],
                                v4=(ep["IPAddress"], ep["IPPrefixLen"]) if ep["IPAddress"] else None,
                                gateway4=gw4 or None,
                                v6=(ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"]) if ep["GlobalIPv6Address"] else None,
                                gateway6=None)
        return f"re-wired endpoint of container {cid} on network {net['Name']}"

    def close(self) -> None:
        """Daemon shutdown: stop DNS listeners and the proxy, release port reservations;
        bridges, namespaces and rules stay for restore()."""
        with self._lock:
            for net_id in list(self._dns):
                self._stop_dns(net_id)
            if self._proxy is not None:
                self._proxy.close()
                self._proxy = None
            for sock in self._reservations.values():
                sock.close()
            self._reservations.clear()
            if self._links is not None:
                self._links.close()
                self._links = None

    def purge(self) -> None:
        """Remove everything this instance made (sandboxes, networks, rules, forwarding
        change) and close. For tests and a full reset."""
        with self._lock:
            for cid in list(self._state["sandboxes"]):
                self.destroy_sandbox(cid)
            for net_id in list(self._state["networks"]):
                self.remove_network(net_id)
            for link in self.links.list():
                if link["alias"] == self._alias:
                    self.links.delete(link["name"])
            self._fw.clear()
            if self._state["ip_forward_by_us"]:
                # another instance (another state dir) may still route its networks' traffic
                # through forwarding we turned on: switch it off only when no bridge of any
                # instance is left
                others = sorted(l["name"] for l in self.links.list() if l["kind"] == "bridge" and (
                    (l["name"] or "").startswith(naming.BRIDGE_PREFIX)
                    or (l["alias"] or "").startswith(naming.interface_alias(""))))
                if others:
                    log.warning("leaving net.ipv4.ip_forward on: bridges of other stackyard instances "
                                "remain (%s)", ", ".join(others))
                else:
                    kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
                self._state["ip_forward_by_us"] = False
            self._save(durable=True)
        self.close()


def _rkey(rec: dict) -> tuple:
    return (rec["proto"], rec["host_ip"], rec["host_port"])


def _hostport(u) -> tuple[str, int]:
    if isinstance(u, (tuple, list)):
        return str(u[0]), int(u[1])
    text = str(u)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text.strip("[]"), 53


def _label_matches(labels: dict, f: str) -> bool:
    key, eq, value = f.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _random_mac() -> str:
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)
