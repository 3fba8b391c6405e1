"""Published ports with real traffic from 127.0.0.1 and from a host address, on every
backend (nftables DNAT, iptables DNAT, userland proxy); UDP; conflicts; unpublish."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from runtime import errdefs
from runtime.network import PortBinding, kernel

from .conftest import BUSYBOX, web_root, wait_port

BIG = 100 * 1024 * 1024


def sha256_stream(url: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=30) as r:
        while chunk := r.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def web_with_file(net, procs, tmp, network, cid, size):
    root = web_root(tmp, cid)
    blob = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(os.path.join(root, "big.bin"), "wb") as f:
        for i in range(size >> 20):
            piece = blob[i % 997:] + blob[: i % 997]  # no two MiB alike
            f.write(piece)
            h.update(piece)
    path = net.create_sandbox(cid)
    ep = net.connect(network, cid, sandbox=path, names=[cid])
    procs.start(path, [BUSYBOX, "httpd", "-f", "-p", "80", "-h", root])
    wait_port(path, 80)
    return path, ep, h.hexdigest()


def test_localhost_port_serves_100mb_intact_then_unpublished(net, procs, tmpdir_path):
    assert net.port_backend == "nft"
    net.create_network("pub")
    _, _, digest = web_with_file(net, procs, tmpdir_path, "pub", "web1", BIG)
    [bound] = net.publish("web1", [PortBinding(80, 0, "127.0.0.1")])
    assert bound.host_port > 0 and bound.host_ip == "127.0.0.1"
    assert net.published("web1") == [bound]
    assert sha256_stream(f"http://127.0.0.1:{bound.host_port}/big.bin") == (digest, BIG)
    table = subprocess.run(["nft", "list", "table", "inet", net._fw.table], capture_output=True, text=True).stdout
    assert f"dport {bound.host_port} dnat" in table
    net.unpublish("web1")
    table = subprocess.run(["nft", "list", "table", "inet", net._fw.table], capture_output=True, text=True).stdout
    assert "dnat ip to" not in table
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{bound.host_port}/", timeout=2)


@pytest.mark.parametrize("backend", ["nft", "iptables", "proxy"])
def test_backends_from_localhost_and_host_address(make_manager, procs, tmpdir_path, backend):
    if backend == "iptables" and shutil.which("iptables-restore") is None:
        pytest.skip("iptables-restore is not installed")
    net = make_manager(port_backend=backend)
    assert net.port_backend == backend
    n = net.create_network("pub")
    host_address = n["IPAM"]["Config"][0]["Gateway"]  # an address of this host (our bridge)
    _, _, digest = web_with_file(net, procs, tmpdir_path, "pub", "web1", 8 << 20)
    [bound] = net.publish("web1", [PortBinding(80, 0, "")])
    for addr in ("127.0.0.1", host_address):
        assert sha256_stream(f"http://{addr}:{bound.host_port}/big.bin") == (digest, 8 << 20), addr
    net.destroy_sandbox("web1")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{bound.host_port}/", timeout=2)


@pytest.mark.parametrize("backend", ["nft", "proxy"])
def test_udp_published_port(make_manager, backend):
    net = make_manager(port_backend=backend)
    net.create_network("udp")
    path = net.create_sandbox("dns1")
    net.connect("udp", "dns1", sandbox=path, names=["dns1"])

    def bind_inside():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 5353))
        return s
    server = kernel.run_in_netns(path, bind_inside)  # the socket stays in the container's netns
    server.settimeout(5)
    stop = threading.Event()

    def echo():
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(2048)
            except OSError:
                continue
            server.sendto(b"echo:" + data, peer)
    t = threading.Thread(target=echo, daemon=True)
    t.start()
    try:
        [bound] = net.publish("dns1", [PortBinding(5353, 0, "127.0.0.1", "udp")])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(3)
            c.sendto(b"ping", ("127.0.0.1", bound.host_port))
            assert c.recvfrom(2048)[0] == b"echo:ping"
    finally:
        stop.set()
        server.close()
        t.join(6)


def test_port_in_use_names_the_holder_and_nothing_is_half_published(net, procs, tmpdir_path):
    net.create_network("pub")
    path = net.create_sandbox("web1")
    net.connect("pub", "web1", sandbox=path, names=["web1"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\n"
         "s.listen()\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        port = int(holder.stdout.readline())
        free = PortBinding(81, 0, "127.0.0.1")
        with pytest.raises(errdefs.Conflict, match=rf"127.0.0.1:{port}/tcp failed: port is already allocated "
                                                   rf"\(held by pid {holder.pid} \(.*python.*socket.socket"):
            net.publish("web1", [free, PortBinding(80, port, "127.0.0.1")])
        assert net.published("web1") == []
        table = subprocess.run(["nft", "list", "table", "inet", net._fw.table], capture_output=True, text=True).stdout
        assert "dnat ip to" not in table
    finally:
        os.kill(holder.pid, 9)
        holder.wait()
    # a port another container published: the error names that container
    [mine] = net.publish("web1", [PortBinding(80, 0, "127.0.0.1")])
    other = net.create_sandbox("web2")
    net.connect("pub", "web2", sandbox=other, names=["web2"])
    with pytest.raises(errdefs.Conflict, match="published by container web1"):
        net.publish("web2", [PortBinding(80, mine.host_port, "")])
    # a host range takes the first free port of the range
    [ranged] = net.publish("web2", [PortBinding(80, mine.host_port, "127.0.0.1", host_port_end=mine.host_port + 5)])
    assert mine.host_port < ranged.host_port <= mine.host_port + 5


def test_published_port_from_containers_through_a_host_address(net, procs, tmpdir_path):
    """Hairpin (same network) and another network both reach a published port via the
    host's address, while the direct path between the networks stays closed."""
    n = net.create_network("pub")
    other = net.create_network("other")
    _, ep, _ = web_with_file(net, procs, tmpdir_path, "pub", "web1", 1 << 20)
    [bound] = net.publish("web1", [PortBinding(80, 0, "")])
    same = net.create_sandbox("same")
    net.connect("pub", "same", sandbox=same, names=["same"])
    far = net.create_sandbox("far")
    net.connect("other", "far", sandbox=far, names=["far"])
    for path, gateway in ((same, n["IPAM"]["Config"][0]["Gateway"]), (far, other["IPAM"]["Config"][0]["Gateway"])):
        out = procs.run(path, [BUSYBOX, "wget", "-qO-", f"http://{gateway}:{bound.host_port}/"], timeout=5)
        assert out.stdout == "hello from web1\n", path
    with pytest.raises(subprocess.TimeoutExpired):
        procs.run(far, [BUSYBOX, "wget", "-qO-", f"http://{ep['IPAddress']}/"], timeout=2)
