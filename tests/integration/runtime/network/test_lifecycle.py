"""IPv6 between containers, masquerading and internal networks against a fake 'outside'
namespace, options (MTU, bridge name), persistence and restore() after a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import types
import urllib.request

import pytest

from runtime import errdefs
from runtime.network import PortBinding, kernel

from .conftest import BUSYBOX, web_root, wait_port


def aaaa_inside(path: str, server: str, name: str) -> list[str]:
    from dnslib import QTYPE, DNSRecord

    def ask():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(DNSRecord.question(name, "AAAA").pack(), (server, 53))
            reply = DNSRecord.parse(s.recv(4096))
            return [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.AAAA]
    return kernel.run_in_netns(path, ask)


def test_ipv6_between_containers(net, procs, tmpdir_path):
    n = net.create_network("six", enable_ipv6=True)
    [v4, v6] = n["IPAM"]["Config"]
    assert v6["Subnet"].startswith("fd") and v6["Subnet"].endswith("/64")
    p1 = net.create_sandbox("a")
    e1 = net.connect("six", "a", sandbox=p1, names=["a"])
    p2 = net.create_sandbox("b")
    net.connect("six", "b", sandbox=p2, names=["b"])
    assert e1["GlobalIPv6Address"] and e1["GlobalIPv6PrefixLen"] == 64
    assert procs.run(p2, [BUSYBOX, "ping6", "-c", "3", "-i", "0.2", "-W", "2", e1["GlobalIPv6Address"]]).returncode == 0
    assert aaaa_inside(p2, v4["Gateway"], "a") == [e1["GlobalIPv6Address"]]
    assert net.get("six")["Containers"]["a"]["IPv6Address"] == f"{e1['GlobalIPv6Address']}/64"


def test_static_addresses_mac_and_user_subnets(net):
    n = net.create_network("fixed", enable_ipv6=True, ipam={"config": [
        {"subnet": "10.232.7.0/24", "ip_range": "10.232.7.128/25", "gateway": "10.232.7.254",
         "aux_addresses": {"router": "10.232.7.128"}},
        {"subnet": "fd42:7::/64"}]})
    assert n["IPAM"]["Config"][0]["Gateway"] == "10.232.7.254"
    p1 = net.create_sandbox("a")
    e1 = net.connect("fixed", "a", sandbox=p1, names=["a"])
    assert e1["IPAddress"] == "10.232.7.129"  # first of ip_range after the aux address
    p2 = net.create_sandbox("b")
    e2 = net.connect("fixed", "b", sandbox=p2, names=["b"], ipv4_address="10.232.7.9",
                     ipv6_address="fd42:7::99", mac_address="02:aa:bb:cc:dd:ee")
    assert (e2["IPAddress"], e2["GlobalIPv6Address"], e2["MacAddress"]) == ("10.232.7.9", "fd42:7::99", "02:aa:bb:cc:dd:ee")
    inside = subprocess.run(["nsenter", f"--net={p2}", "ip", "-o", "addr", "show", "eth0"], capture_output=True, text=True).stdout
    link = subprocess.run(["nsenter", f"--net={p2}", "ip", "-o", "link", "show", "eth0"], capture_output=True, text=True).stdout
    assert "10.232.7.9/24" in inside and "fd42:7::99/64" in inside and "02:aa:bb:cc:dd:ee" in link
    routes = subprocess.run(["nsenter", f"--net={p2}", "ip", "route"], capture_output=True, text=True).stdout
    assert "default via 10.232.7.254" in routes
    p3 = net.create_sandbox("c")
    with pytest.raises(errdefs.Conflict, match="10.232.7.9: address already in use"):
        net.connect("fixed", "c", sandbox=p3, names=["c"], ipv4_address="10.232.7.9")
    assert not [l for l in subprocess.run(["nsenter", f"--net={p3}", "ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines() if "eth0" in l]
    with pytest.raises(errdefs.Conflict, match="overlaps"):
        net.create_network("clash", ipam={"config": [{"subnet": "10.232.0.0/16"}]})


def test_mtu_and_bridge_name_options_and_labels(net):
    n = net.create_network("opts", labels={"com.example": "x"}, attachable=True,
                           options={"com.docker.network.driver.mtu": "1400",
                                    "com.docker.network.bridge.name": "sytestbr0"})
    link = subprocess.run(["ip", "-o", "link", "show", "sytestbr0"], capture_output=True, text=True).stdout
    assert "mtu 1400" in link
    p = net.create_sandbox("a")
    net.connect("opts", "a", sandbox=p, names=["a"])
    inside = subprocess.run(["nsenter", f"--net={p}", "ip", "-o", "link", "show", "eth0"], capture_output=True, text=True).stdout
    assert "mtu 1400" in inside
    assert net.list({"label": "com.example=x"})[0]["Id"] == n["Id"] and n["Attachable"]
    assert net.list({"label": "com.example=y"}) == []
    with pytest.raises(errdefs.InvalidArgument, match="mtu"):
        net.create_network("bad", options={"com.docker.network.driver.mtu": "9"})


@pytest.fixture
def outside(tmpdir_path):
    """A namespace standing in for the world beyond the host: reached through a veth
    (10.250.77.1 host side, .2 inside), with a TCP server that reports who connected."""
    path = os.path.join(tmpdir_path, "outside-ns")
    kernel.create_netns(path)
    subprocess.run(["ip", "link", "add", "sytout0", "type", "veth", "peer", "name", "eth0", "netns", path], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.250.77.1/30", "dev", "sytout0"], check=True)
        subprocess.run(["ip", "link", "set", "sytout0", "up"], check=True)
        subprocess.run(["nsenter", f"--net={path}", "ip", "addr", "add", "10.250.77.2/30", "dev", "eth0"], check=True)
        subprocess.run(["nsenter", f"--net={path}", "ip", "link", "set", "eth0", "up"], check=True)

        def listen():
            s = socket.socket()
            s.bind(("10.250.77.2", 8080))
            s.listen()
            return s
        server = kernel.run_in_netns(path, listen)
        server.settimeout(3)
        yield types.SimpleNamespace(server=server, netns=path)
        server.close()
    finally:
        subprocess.run(["ip", "link", "del", "sytout0"], capture_output=True)
        kernel.delete_netns(path)


def peer_seen(outside, procs, path) -> str | None:
    server, seen = outside.server, []

    def accept():
        try:
            conn, peer = server.accept()
            seen.append(peer[0])
            conn.close()
        except OSError:
            pass
    t = threading.Thread(target=accept)
    t.start()
    try:
        procs.run(path, [BUSYBOX, "nc", "-w", "2", "10.250.77.2", "8080"], timeout=4)
    except subprocess.TimeoutExpired:
        pass
    t.join(4)
    return seen[0] if seen else None


def test_outbound_masquerade_and_internal_has_no_way_out(make_manager, procs, outside):
    net = make_manager()
    net.create_network("normal")
    net.create_network("sealed", internal=True)
    p1 = net.create_sandbox("out")
    net.connect("normal", "out", sandbox=p1, names=["out"])
    assert peer_seen(outside, procs, p1) == "10.250.77.1"  # masqueraded to the host's address
    p2 = net.create_sandbox("in")
    ep = net.connect("sealed", "in", sandbox=p2, names=["in"])
    procs.run(p2, ["ip", "route", "add", "default", "via", net.get("sealed")["IPAM"]["Config"][0]["Gateway"]])
    assert peer_seen(outside, procs, p2) is None
    assert ep["Gateway"] == ""


def test_masquerade_off(make_manager, procs, outside):
    net = make_manager(masquerade=False)
    net.create_network("plain")
    p1 = net.create_sandbox("out")
    ep = net.connect("plain", "out", sandbox=p1, names=["out"])
    # the outside knows the way back to container addresses: without NAT it sees them as they are
    subprocess.run(["nsenter", f"--net={outside.netns}", "ip", "route", "add", "10.231.0.0/16", "via", "10.250.77.1"], check=True)
    assert peer_seen(outside, procs, p1) == ep["IPAddress"]


@pytest.mark.parametrize("backend", ["nft", "proxy"])
def test_restore_after_a_crash(make_manager, procs, tmpdir_path, backend):
    first = make_manager(port_backend=backend)
    n = first.create_network("app")
    path = first.create_sandbox("web1")
    first.connect("app", "web1", sandbox=path, names=["web"])
    procs.start(path, [BUSYBOX, "httpd", "-f", "-p", "80", "-h", web_root(tmpdir_path, "web1")])
    wait_port(path, 80)
    [bound] = first.publish("web1", [PortBinding(80, 0, "127.0.0.1")])
    first.close()  # the daemon goes away; kernel state stays
    # damage: the bridge is gone, and leftovers of ours lie around
    subprocess.run(["ip", "link", "del", first._state["networks"][n["Id"]]["_bridge"]], check=True)
    subprocess.run(["ip", "link", "add", "sybrleftover", "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", "sybrleftover", "alias", first._alias], check=True)
    kernel.create_netns(os.path.join(first.run_dir, "netns", "ghost"))

    second = make_manager(port_backend=backend)
    fixed = second.restore()
    text = "\n".join(fixed)
    assert "recreated bridge" in text and "sybrleftover" in text and "ghost" in text
    assert subprocess.run(["ip", "link", "show", "sybrleftover"], capture_output=True).returncode != 0
    with urllib.request.urlopen(f"http://127.0.0.1:{bound.host_port}/", timeout=5) as r:
        assert r.read() == b"hello from web1\n"
    gateway = n["IPAM"]["Config"][0]["Gateway"]
    c = second.create_sandbox("client")
    second.connect("app", "client", sandbox=c, names=["client"])
    out = subprocess.run(["nsenter", f"--net={c}", BUSYBOX, "nslookup", "web", gateway], capture_output=True, text=True).stdout
    assert second.endpoints("web1")["app"]["IPAddress"] in out
    assert second.restore() == []  # idempotent: nothing left to fix
