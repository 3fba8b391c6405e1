"""What a container must not get through the host (issue 6 review): names of networks it is not
on (asking another network's DNS), host services bound to 127.0.0.1 (a hand-made frame to the
bridge with route_localnet on), host services at all from an internal network; and what a
container on several networks must get: the names of each of them. Every probe is sent from
inside a sandbox the test made, to 127.0.0.1 or to our bridges' addresses only."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from runtime.network import kernel

from .conftest import BUSYBOX


def ask(path: str, server: str, name: str, timeout: float = 1.0):
    """A DNS query from inside the sandbox: ("answer", [addresses]), ("rcode", n) or
    ("silence", None)."""
    from dnslib import DNSRecord

    def work():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(DNSRecord.question(name).pack(), (server, 53))
            try:
                reply = DNSRecord.parse(s.recv(4096))
            except OSError:
                return ("silence", None)
            if reply.rr:
                return ("answer", sorted(str(r.rdata) for r in reply.rr))
            return ("rcode", reply.header.rcode)
    return kernel.run_in_netns(path, work)


def gateway(net, name: str) -> str:
    return net.get(name)["IPAM"]["Config"][0]["Gateway"]


def sandbox(net, cid: str, *networks: str, names=None) -> tuple[str, dict]:
    path = net.create_sandbox(cid)
    eps = {n: net.connect(n, cid, sandbox=path, names=names or [cid]) for n in networks}
    return path, eps


def test_another_networks_dns_does_not_answer_its_names(net, upstream):
    net.create_network("a_net")
    net.create_network("b_net")
    _, web = sandbox(net, "web", "a_net", names=["secretweb"])
    a_client, _ = sandbox(net, "friend", "a_net")
    intruder, _ = sandbox(net, "intruder", "b_net")
    ga, gb = gateway(net, "a_net"), gateway(net, "b_net")
    addr = web["a_net"]["IPAddress"]
    assert ask(a_client, ga, "secretweb") == ("answer", [addr])  # its own network: answered
    for server in (gb, ga):  # its own DNS and a_net's: neither gives a_net's names
        kind, value = ask(intruder, server, "secretweb")
        assert kind != "answer", (server, value)
    assert "secretweb." not in upstream.queries  # a name of ours is never asked upstream
    # a stranger (here the host itself) is refused, even for outside names
    from dnslib import RCODE, DNSRecord
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(DNSRecord.question("outside.test").pack(), (ga, 53))
        assert DNSRecord.parse(s.recv(4096)).header.rcode == RCODE.REFUSED


def test_container_on_two_networks_resolves_names_of_both(net, procs, tmpdir_path):
    net.create_network("front")
    net.create_network("back")
    net.create_network("third")
    _, db = sandbox(net, "db1", "back", names=["db"])
    _, web = sandbox(net, "web1", "front", names=["web"])
    x, _ = sandbox(net, "x", "front", "back")
    only_front, _ = sandbox(net, "y", "front")
    servers = [l.split()[1] for l in net.resolv_conf("x").splitlines() if l.startswith("nameserver")]
    assert servers == [gateway(net, "front"), gateway(net, "back")]
    for server in servers:  # whichever it asks, x gets the names of both its networks
        assert ask(x, server, "db") == ("answer", [db["back"]["IPAddress"]]), server
        assert ask(x, server, "web") == ("answer", [web["front"]["IPAddress"]]), server
    assert ask(only_front, gateway(net, "front"), "db")[0] != "answer"
    # connected later: the nameserver it already has answers the new network's names
    _, t = sandbox(net, "t1", "third", names=["thirdthing"])
    assert ask(x, servers[0], "thirdthing")[0] != "answer"
    net.connect("third", "x", sandbox=x, names=["x"])
    assert ask(x, servers[0], "thirdthing") == ("answer", [t["third"]["IPAddress"]])
    # disconnected: that network's names are gone for x, the others stay
    net.disconnect("back", "x")
    assert ask(x, servers[0], "db")[0] != "answer"
    assert ask(x, servers[0], "web") == ("answer", [web["front"]["IPAddress"]])
    # busybox's resolver with the generated file, end to end
    rc = f"{tmpdir_path}/x.resolv.conf"
    with open(rc, "w") as f:
        f.write(net.resolv_conf("x"))
    out = procs.run(x, [BUSYBOX, "nslookup", "thirdthing"], files={"/etc/resolv.conf": rc}).stdout
    assert t["third"]["IPAddress"] in out


def _udp_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    cs = sum(struct.unpack("!10H", iph))
    cs = (cs & 0xFFFF) + (cs >> 16)
    iph = iph[:10] + struct.pack("!H", ~cs & 0xFFFF) + iph[12:]
    mac = lambda m: bytes.fromhex(m.replace(":", ""))  # noqa: E731
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + iph + udp


def _listener(address: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    s.settimeout(1.0)
    return s


def _received(s: socket.socket) -> bytes | None:
    try:
        return s.recv(100)
    except OSError:
        return None


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_raw_frame_to_host_loopback_from_a_container_is_dropped(make_manager, backend):
    net = make_manager(port_backend=backend)
    net.create_network("pub")
    path, eps = sandbox(net, "raw1", "pub")
    ep = eps["pub"]
    bridge_mac = open(f"/sys/class/net/{net._net('pub')['_bridge']}/address").read().strip()
    gw = gateway(net, "pub")
    loop, control = _listener("127.0.0.1"), _listener(gw)
    try:
        def send(dst_ip: str, port: int, payload: bytes):
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:  # CAP_NET_RAW, as in a container
                s.bind(("eth0", 0))
                s.send(_udp_frame(ep["MacAddress"], bridge_mac, ep["IPAddress"], dst_ip, port, payload))
        # control: the same hand-made frame addressed to the gateway is delivered, so the
        # silence below is the drop, not a broken frame
        kernel.run_in_netns(path, send, gw, control.getsockname()[1], b"to-gateway")
        assert _received(control) == b"to-gateway"
        kernel.run_in_netns(path, send, "127.0.0.1", loop.getsockname()[1], b"to-loopback")
        assert _received(loop) is None, "a container reached a service bound to the host's 127.0.0.1"
    finally:
        loop.close()
        control.close()


def test_internal_network_cannot_reach_host_services(net, procs, upstream):
    net.create_network("normal")
    net.create_network("secret", internal=True)
    path, _ = sandbox(net, "inside", "secret")
    g_secret, g_normal = gateway(net, "secret"), gateway(net, "normal")
    # a route added by hand (as a container with NET_ADMIN could) towards the host's other
    # addresses through its own gateway
    assert procs.run(path, ["ip", "route", "add", f"{g_normal}/32", "via", g_secret]).returncode == 0
    host_service = socket.socket()
    host_service.bind((g_normal, 0))
    host_service.listen()
    try:
        port = host_service.getsockname()[1]

        def connect(address):
            with socket.socket() as c:
                c.settimeout(1)
                return c.connect_ex((address, port))
        assert kernel.run_in_netns(path, connect, g_normal) != 0  # another host address: nothing
        before = len(upstream.queries)
        assert ask(path, g_normal, "outside.test") == ("silence", None)  # no DNS forwarding there
        assert len(upstream.queries) == before
        # its own gateway's DNS still answers its own names
        ep = net.endpoints("inside")["secret"]
        assert ask(path, g_secret, "inside") == ("answer", [ep["IPAddress"]])
    finally:
        host_service.close()


def test_dns_over_tcp_limits_connections_and_keeps_serving(net):
    from dnslib import DNSRecord

    from runtime.network import dns

    net.create_network("tcpdns")
    path, eps = sandbox(net, "c1", "tcpdns")
    gw = gateway(net, "tcpdns")

    def scenario():
        idle = []
        try:
            for _ in range(dns.MAX_TCP_CONNECTIONS):
                c = socket.create_connection((gw, 53), timeout=2)
                idle.append(c)
            time.sleep(0.2)
            extra = socket.create_connection((gw, 53), timeout=2)  # accepted by the kernel...
            extra.settimeout(2)
            with extra:
                closed = extra.recv(10) == b""  # ...and closed by the server at once
        finally:
            for c in idle:
                c.close()
        time.sleep(0.2)
        query = DNSRecord.question("c1").pack()
        with socket.create_connection((gw, 53), timeout=2) as c:  # slots freed: served again
            c.sendall(struct.pack("!H", len(query)) + query)
            n = struct.unpack("!H", c.recv(2))[0]
            reply = DNSRecord.parse(c.recv(n))
        return closed, [str(r.rdata) for r in reply.rr]
    closed, answer = kernel.run_in_netns(path, scenario)
    assert closed
    assert answer == [eps["tcpdns"]["IPAddress"]]


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_internal_container_cannot_borrow_an_outside_containers_address_for_dns(make_manager, upstream, backend):
    """A container only on an internal network sends its gateway's DNS a query with the source
    address of a container on a normal network (a hand-made frame: CAP_NET_RAW is a default
    capability). The query must not be forwarded upstream: that would carry data out of the
    internal network in the names it asks for."""
    from dnslib import DNSRecord

    net = make_manager(port_backend=backend)
    net.create_network("normal")
    net.create_network("secret", internal=True)
    sandbox(net, "outer", "normal")
    path, eps = sandbox(net, "inside", "secret")
    ep, borrowed = eps["secret"], net.endpoints("outer")["normal"]["IPAddress"]
    bridge_mac = open(f"/sys/class/net/{net._net('secret')['_bridge']}/address").read().strip()
    gw = gateway(net, "secret")

    def exchange(src_ip: str, name: str):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind((ep["IPAddress"], 40000))  # the frame's source port: replies to us land here
            rx.settimeout(1.0)
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind(("eth0", 0))
                s.send(_udp_frame(ep["MacAddress"], bridge_mac, src_ip, gw, 53, DNSRecord.question(name).pack()))
            try:
                return DNSRecord.parse(rx.recv(4096))
            except OSError:
                return None

    # control: the hand-made frame with its own address is answered (its own name)
    reply = kernel.run_in_netns(path, exchange, ep["IPAddress"], "inside")
    assert reply is not None and [str(r.rdata) for r in reply.rr] == [ep["IPAddress"]]
    before = len(upstream.queries)
    kernel.run_in_netns(path, exchange, borrowed, "leak.outside.test")
    time.sleep(0.5)  # forwarding happens on a worker thread
    assert "leak.outside.test." not in upstream.queries[before:], "an internal container's query went upstream"


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_internal_network_cannot_reach_host_services_over_ipv6(make_manager, backend):
    """An internal network with IPv6: its bridge's v6 gateway address is on-link for the
    container (no route needed), so the host's services must be closed there too, on every
    firewall backend (iptables rules alone cover IPv4 only)."""
    net = make_manager(port_backend=backend)
    net.create_network("open6", enable_ipv6=True)
    net.create_network("sealed6", internal=True, enable_ipv6=True)
    p_open, _ = sandbox(net, "o6", "open6")
    p_sealed, _ = sandbox(net, "s6", "sealed6")
    gw_open = net.get("open6")["IPAM"]["Config"][1]["Gateway"]
    gw_sealed = net.get("sealed6")["IPAM"]["Config"][1]["Gateway"]

    def connect(address, port):
        with socket.socket(socket.AF_INET6) as c:
            c.settimeout(1)
            return c.connect_ex((address, port))

    services = []
    try:
        for address in (gw_open, gw_sealed):
            s = socket.socket(socket.AF_INET6)
            s.bind((address, 0))
            s.listen()
            services.append(s)
        # control: a normal network's container reaches the host on its v6 gateway
        assert kernel.run_in_netns(p_open, connect, gw_open, services[0].getsockname()[1]) == 0
        assert kernel.run_in_netns(p_sealed, connect, gw_sealed, services[1].getsockname()[1]) != 0
    finally:
        for s in services:
            s.close()


def test_dns_over_tcp_slots_are_not_held_by_trickling_clients(net, monkeypatch):
    """A container holding every TCP slot by sending its query a byte at a time (each byte in
    time for a per-read timeout) must not shut TCP DNS for the network: a connection gets a
    deadline for its whole query."""
    import threading

    from dnslib import DNSRecord

    from runtime.network import dns

    monkeypatch.setattr(dns, "TCP_REQUEST_DEADLINE", 1.0, raising=False)
    net.create_network("trickle")
    path, eps = sandbox(net, "c1", "trickle")
    gw = gateway(net, "trickle")

    def scenario():
        stop = threading.Event()
        conns = [socket.create_connection((gw, 53), timeout=2) for _ in range(dns.MAX_TCP_CONNECTIONS)]

        def trickle():
            for c in conns:
                c.send(b"\x00\x40")  # a 64-byte query announced...
            while not stop.wait(0.3):
                for c in conns:
                    try:
                        c.send(b"\x00")  # ...and sent a byte at a time
                    except OSError:
                        pass
        t = threading.Thread(target=trickle)
        t.start()
        try:
            time.sleep(2.0)  # past the deadline, still trickling
            first = ask_tcp()
        finally:
            stop.set()
            t.join()
            for c in conns:
                c.close()
        # garbage (a complete message that is no DNS) gets no answer: its slot is freed at
        # once, not after the wait for an upstream reply that will never come
        junk = [socket.create_connection((gw, 53), timeout=2) for _ in range(dns.MAX_TCP_CONNECTIONS)]
        try:
            for c in junk:
                c.sendall(b"\x00\x02xx")
            time.sleep(0.3)
            second = ask_tcp()
        finally:
            for c in junk:
                c.close()
        return first, second

    def ask_tcp():
        query = DNSRecord.question("c1").pack()
        try:
            with socket.create_connection((gw, 53), timeout=2) as c:
                c.sendall(struct.pack("!H", len(query)) + query)
                head = c.recv(2)
                return [str(r.rdata) for r in DNSRecord.parse(c.recv(struct.unpack("!H", head)[0])).rr]
        except (OSError, struct.error) as exc:
            return repr(exc)
    own = [eps["trickle"]["IPAddress"]]
    assert kernel.run_in_netns(path, scenario) == (own, own)
