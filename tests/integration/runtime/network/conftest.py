"""Fixtures for the network manager's integration tests (root, real bridges and namespaces).

`net` gives a NetworkManager on a tmp state/run dir with a private default pool
(10.231.0.0/16 cut into /24s) and an upstream resolver started on 127.0.0.1 by the test
session, never the host's. `procs` starts host busybox processes inside sandboxes and stops
them by PID. At teardown every test's kernel objects are removed (purge) and then checked
independently: no interface tagged with this instance's alias, no namespace file, no nftables
table or iptables chain of ours, no DNS listener on the networks' gateways. Anything found is
cleaned and the test fails.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

BUSYBOX = "/bin/busybox"


def missing_requirement() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, bridges, nftables)"
    for tool in ("nsenter", "unshare", "nft", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.path.exists(BUSYBOX):
        return "busybox-static (/bin/busybox) is not installed"
    try:
        import dnslib  # noqa: F401
        import pyroute2  # noqa: F401
    except ImportError as exc:
        return f"python package missing: {exc.name}"
    return None


@pytest.fixture(autouse=True)
def _requirements():
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)


class Upstream:
    """A dnslib resolver on 127.0.0.1 that knows a few made-up names (the 'internet')."""

    RECORDS = {"outside.test.": "192.0.2.123", "db.test.": "192.0.2.124"}

    def __init__(self):
        from dnslib import QTYPE, RR, A
        from dnslib.server import BaseResolver, DNSServer

        records = self.RECORDS
        self.queries: list[str] = []
        queries = self.queries

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                q = request.q
                queries.append(str(q.qname))
                if str(q.qname).lower() in records and q.qtype == QTYPE.A:
                    reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(records[str(q.qname).lower()]), ttl=60))
                else:
                    reply.header.rcode = 3
                return reply

        from dnslib.server import DNSLogger
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self.server = DNSServer(Resolver(), address="127.0.0.1", port=0, logger=quiet)
        self.server.start_thread()
        self.port = self.server.server.server_address[1]

    def stop(self):
        self.server.stop()
        self.server.server.server_close()


@pytest.fixture(scope="session")
def upstream():
    if missing_requirement():
        pytest.skip(missing_requirement())
    u = Upstream()
    yield u
    u.stop()


def _our_links(alias: str) -> list[str]:
    import json
    out = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True).stdout
    return [l["ifname"] for l in json.loads(out or "[]") if l.get("ifalias") == alias]


def _udp_listeners(addresses: set[str], port: int = 53) -> list[str]:
    found = []
    with open("/proc/net/udp") as f:
        for line in f.read().splitlines()[1:]:
            local = line.split()[1]
            ip_hex, port_hex = local.split(":")
            ip = str(ipaddress.IPv4Address(int(ip_hex, 16).to_bytes(4, "little")))
            if int(port_hex, 16) == port and ip in addresses:
                found.append(f"{ip}:{port}")
    return found


class Procs:
    """Processes started inside sandboxes; stopped by PID."""

    def __init__(self, tmp: str):
        self.tmp = tmp
        self.running: list[subprocess.Popen] = []
        self.n = 0

    def start(self, netns: str, argv: list[str], *, files: dict | None = None) -> subprocess.Popen:
        self.n += 1
        out = open(os.path.join(self.tmp, f"proc{self.n}.out"), "w+b")
        p = subprocess.Popen(self._argv(netns, argv, files), stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        p.out_file = out
        self.running.append(p)
        return p

    def run(self, netns: str, argv: list[str], *, files: dict | None = None, timeout=20) -> subprocess.CompletedProcess:
        return subprocess.run(self._argv(netns, argv, files), capture_output=True, text=True, timeout=timeout)

    def _argv(self, netns, argv, files):
        base = ["nsenter", f"--net={netns}"]
        if not files:
            return base + argv
        # a private mount namespace where the generated resolv.conf/hosts replace the host's
        script = "".join(f"mount --bind {src} {dst} && " for dst, src in files.items())
        return base + ["unshare", "-m", "sh", "-c", script + 'exec "$@"', "sh", *argv]

    def stop_all(self):
        for p in self.running:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait()
            p.out_file.close()
        self.running.clear()


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="sy-net-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def procs(tmpdir_path):
    p = Procs(tmpdir_path)
    yield p
    p.stop_all()


@pytest.fixture
def make_manager(tmpdir_path, upstream, procs):
    """Factory: NetworkManager instances on this test's state/run dirs; all checked at teardown."""
    from runtime.network import NetworkManager

    made = []

    def make(**kw):
        kw.setdefault("default_pools", [("10.231.0.0/16", 24)])
        kw.setdefault("dns_upstreams", [("127.0.0.1", upstream.port)])
        m = NetworkManager(os.path.join(tmpdir_path, "state"), os.path.join(tmpdir_path, "run"), **kw)
        made.append(m)
        return m

    yield make
    procs.stop_all()  # processes keep namespaces (and their veths) alive: stop them first
    problems = []
    gateways: set[str] = set()
    for m in made:
        for n in m._state["networks"].values():
            gateways |= {c["Gateway"] for c in n["IPAM"]["Config"] if ":" not in c["Subnet"]}
        try:
            m.purge()
        except Exception as exc:  # report, then still check the kernel below
            problems.append(f"purge failed: {exc!r}")
    if made:
        m = made[0]
        deadline = time.monotonic() + 2
        while _our_links(m._alias) and time.monotonic() < deadline:
            time.sleep(0.05)  # veths of dropped namespaces go asynchronously
        left = _our_links(m._alias)
        if left:
            problems.append(f"interfaces left: {left}")
            for name in left:
                subprocess.run(["ip", "link", "del", name], capture_output=True)
        netns_dir = os.path.join(m.run_dir, "netns")
        if os.path.isdir(netns_dir) and os.listdir(netns_dir):
            problems.append(f"namespaces left: {os.listdir(netns_dir)}")
            for name in os.listdir(netns_dir):
                subprocess.run(["umount", "-l", os.path.join(netns_dir, name)], capture_output=True)
                os.unlink(os.path.join(netns_dir, name))
        table = m._fw.table
        if subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0:
            problems.append(f"nft table inet {table} left")
            subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
        chains = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        chains += subprocess.run(["ip6tables-save"], capture_output=True, text=True).stdout
        if f"SY-{m.tag}-" in chains:
            problems.append("iptables chains left")
            from runtime.network.firewall import Firewall
            Firewall("iptables", table, m.tag).clear()
        listeners = _udp_listeners(gateways)
        if listeners:
            problems.append(f"DNS listeners left: {listeners}")
        alive = [t.name for t in threading.enumerate() if t.name.startswith("stackyard-dns-1")]
        if alive:
            problems.append(f"DNS threads left: {alive}")
    assert not problems, "; ".join(problems)


@pytest.fixture
def net(make_manager):
    return make_manager()


def web_root(tmp: str, name: str, body: str | None = None) -> str:
    root = os.path.join(tmp, f"www-{name}")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(body if body is not None else f"hello from {name}\n")
    return root


def wait_port(netns: str, port: int, timeout=5.0) -> None:
    """Wait until something listens on `port` inside the namespace."""
    from runtime.network import kernel
    import socket

    def probe():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return True
            time.sleep(0.02)
        return False
    assert kernel.run_in_netns(netns, probe), f"nothing listens on {port} in {netns}"
