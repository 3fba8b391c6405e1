"""network_mode (none, host, container:<id>), links, DNS over TCP, isolation with the
iptables backend, list filters and prune."""

from __future__ import annotations

import socket
import struct
import subprocess

import pytest

from runtime import errdefs
from runtime.network import files, kernel

from .conftest import BUSYBOX


def ask(path, server, name, tcp=False):
    from dnslib import DNSRecord

    def work():
        q = DNSRecord.question(name).pack()
        if tcp:
            with socket.create_connection((server, 53), timeout=2) as s:
                s.sendall(struct.pack("!H", len(q)) + q)
                size = struct.unpack("!H", s.recv(2))[0]
                data = b""
                while len(data) < size:
                    data += s.recv(size - len(data))
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                s.sendto(q, (server, 53))
                data = s.recv(4096)
        reply = DNSRecord.parse(data)
        return [str(r.rdata) for r in reply.rr]
    return kernel.run_in_netns(path, work)


def test_network_modes(net):
    net.create_network("app")
    path = net.create_sandbox("main")
    ep = net.connect("app", "main", sandbox=path, names=["main"])
    addr = subprocess.run(["nsenter", f"--net={path}", "ip", "-o", "-4", "addr", "show", "eth0"], capture_output=True, text=True).stdout
    routes = subprocess.run(["nsenter", f"--net={path}", "ip", "route"], capture_output=True, text=True).stdout
    assert f"inet {ep['IPAddress']}/24 brd " in addr and f"default via {ep['Gateway']} dev eth0" in routes
    join = net.join_mode(f"container:{'main'[:3]}")
    assert (join.mode, join.netns_path, join.container_id) == ("container", path, "main")
    assert net.join_mode("host").netns_path is None
    assert net.join_mode("none").mode == "none"
    with pytest.raises(errdefs.NotFound, match="container nope has no network sandbox"):
        net.join_mode("container:nope")
    lonely = net.create_sandbox("lonely")  # network_mode none: lo only
    links = subprocess.run(["nsenter", f"--net={lonely}", "ip", "-o", "link"], capture_output=True, text=True).stdout
    assert [l.split(":")[1].strip() for l in links.splitlines()] == ["lo"]
    # network_mode none: the host's non-loopback nameservers, as Docker does
    host_servers = files.parse_resolv_conf(open("/etc/resolv.conf").read())[0]
    expected = [f"nameserver {s}" for s in files.non_loopback_servers(host_servers)]
    assert [l for l in net.resolv_conf("lonely").splitlines() if l.startswith("nameserver")] == expected
    assert net.resolv_conf("lonely", dns=["10.9.9.9"], dns_search=["corp.test"], dns_opt=["ndots:1"]) == (
        "nameserver 10.9.9.9\nsearch corp.test\noptions ndots:1\n")
    assert f"{ep['IPAddress']}\tmain" in net.hosts_file("main", hostname="main")


def test_links_are_private_to_the_linking_container_and_tcp_works(net):
    n = net.create_network("app")
    gateway = n["IPAM"]["Config"][0]["Gateway"]
    p1 = net.create_sandbox("db1")
    db = net.connect("app", "db1", sandbox=p1, names=["app-db-1", "db"])
    p2 = net.create_sandbox("legacy")
    net.connect("app", "legacy", sandbox=p2, names=["legacy"], links=["app-db-1:database"])
    p3 = net.create_sandbox("other")
    net.connect("app", "other", sandbox=p3, names=["other"])
    assert ask(p2, gateway, "database") == [db["IPAddress"]]
    assert ask(p2, gateway, "database", tcp=True) == [db["IPAddress"]]
    assert ask(p3, gateway, "database") == []


def test_isolation_with_iptables_backend(make_manager, procs, upstream):
    import shutil
    if shutil.which("iptables-restore") is None:
        pytest.skip("iptables-restore is not installed")
    net = make_manager(port_backend="iptables")
    assert net._fw.kind == "iptables"
    net.create_network("a_net")
    net.create_network("b_net")
    pa = net.create_sandbox("a")
    ea = net.connect("a_net", "a", sandbox=pa, names=["a"])
    pb = net.create_sandbox("b")
    net.connect("b_net", "b", sandbox=pb, names=["b"])
    pa2 = net.create_sandbox("a2")
    net.connect("a_net", "a2", sandbox=pa2, names=["a2"])
    assert procs.run(pa2, [BUSYBOX, "ping", "-c", "3", "-i", "0.2", "-W", "2", ea["IPAddress"]]).returncode == 0
    assert procs.run(pb, [BUSYBOX, "ping", "-c", "1", "-W", "1", ea["IPAddress"]]).returncode != 0
    before = len(upstream.queries)
    b_gateway = net.get("b_net")["IPAM"]["Config"][0]["Gateway"]
    assert ask(pb, b_gateway, "a") == []
    assert len(upstream.queries) == before  # a name of another network is never forwarded


def test_list_filters_and_prune(net):
    net.create_network("keep", labels={"tier": "front"})
    net.create_network("idle")
    p = net.create_sandbox("c")
    net.connect("keep", "c", sandbox=p, names=["c"])
    assert [n["Name"] for n in net.list({"label": ["tier"]})] == ["keep"]
    assert [n["Name"] for n in net.list({"dangling": "true"})] == ["idle"]
    with pytest.raises(errdefs.InvalidArgument, match="invalid network filter"):
        net.list({"colour": "red"})
    assert net.prune() == ["idle"]
    assert [n["Name"] for n in net.list()] == ["keep"]


def test_failed_create_leaves_nothing_behind(net):
    """The embedded DNS cannot bind (a process holds the future gateway's port 53): the error
    names the network and the address, and no bridge, rule or record remains."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address does not exist yet
    blocker.bind(("10.232.9.1", 53))
    try:
        with pytest.raises(errdefs.StackyardError, match="embedded DNS of network dnsfail on 10.232.9.1:53"):
            net.create_network("dnsfail", ipam={"config": [{"subnet": "10.232.9.0/24"}]})
    finally:
        blocker.close()
    assert net.list() == []
    links = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.232.9.1" not in links
    assert subprocess.run(["nft", "list", "table", "inet", net._fw.table], capture_output=True).returncode != 0
    assert net.create_network("dnsfail", ipam={"config": [{"subnet": "10.232.9.0/24"}]})["Name"] == "dnsfail"


def test_quick_restarts_reconnect_at_once(net, procs):
    """destroy_sandbox drops the namespace and the kernel removes its veth later: a container
    that comes straight back must not collide with its own dying veth."""
    n = net.create_network("app")
    gateway = n["IPAM"]["Config"][0]["Gateway"]
    for _ in range(10):
        path = net.create_sandbox("c")
        ep = net.connect("app", "c", sandbox=path, names=["c"])
        net.destroy_sandbox("c")
    path = net.create_sandbox("c")
    again = net.connect("app", "c", sandbox=path, names=["c"])
    assert again["IPAddress"] == ep["IPAddress"]  # the address (and so the MAC) is reused
    assert procs.run(path, [BUSYBOX, "ping", "-c", "3", "-i", "0.2", "-W", "2", gateway]).returncode == 0
