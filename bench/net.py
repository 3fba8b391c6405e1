"""Benchmark: the built-in network manager (runtime/network).

Run as root: `python3 bench/net.py [--containers 50] [--mb 200] [--runs 7]`. Prints, in one run:
- per-container wiring (create_sandbox + connect: netns, veth, addresses, routes, DNS names)
  and teardown (destroy_sandbox), medians over N containers — target: wiring <= 10 ms;
- embedded DNS answer latency (a local name, and a name forwarded to a resolver this script
  runs on 127.0.0.1), median of queries sent from inside a container's namespace;
- throughput of a file served by busybox httpd inside a container: direct to the container
  address, then through a published port with each backend (nftables DNAT, iptables DNAT,
  userland proxy) from 127.0.0.1 — target: published >= 0.85 of direct.
Everything is local (bridges and namespaces it creates, 127.0.0.1) and removed at the end;
processes are stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.network import NetworkManager, PortBinding, kernel  # noqa: E402

BUSYBOX = "/bin/busybox"
POOL = [("10.233.0.0/16", 24)]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def bench_wiring(tmp: str, n: int) -> None:
    m = NetworkManager(f"{tmp}/wire/state", f"{tmp}/wire/run", default_pools=POOL, dns_upstreams=[])
    try:
        m.create_network("bench")
        wire, down, sandbox, connect = [], [], [], []
        for i in range(n):
            t0 = time.perf_counter()
            path = m.create_sandbox(f"c{i}")
            t1 = time.perf_counter()
            m.connect("bench", f"c{i}", sandbox=path, names=[f"bench-c{i}", "svc"])
            t2 = time.perf_counter()
            sandbox.append(t1 - t0)
            connect.append(t2 - t1)
            wire.append(t2 - t0)
        for i in range(n):
            t0 = time.perf_counter()
            m.destroy_sandbox(f"c{i}")
            down.append(time.perf_counter() - t0)
        print(f"wiring per container (median of {n}): {ms(statistics.median(wire))} "
              f"[sandbox {ms(statistics.median(sandbox))} + connect {ms(statistics.median(connect))}]"
              f"  (p90 {ms(sorted(wire)[int(n * 0.9) - 1])}; target <= 10 ms)")
        print(f"teardown per container (median of {n}): {ms(statistics.median(down))}")
    finally:
        m.purge()


def bench_dns(tmp: str, queries: int) -> None:
    from dnslib import QTYPE, RR, A, DNSRecord
    from dnslib.server import BaseResolver, DNSServer

    class Upstream(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.10"), ttl=60))
            return reply
    from dnslib.server import DNSLogger
    up = DNSServer(Upstream(), address="127.0.0.1", port=0,
                   logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False))
    up.start_thread()
    m = NetworkManager(f"{tmp}/dns/state", f"{tmp}/dns/run", default_pools=POOL,
                       dns_upstreams=[("127.0.0.1", up.server.server_address[1])])
    try:
        net = m.create_network("bench")
        gateway = net["IPAM"]["Config"][0]["Gateway"]
        for i in range(3):
            p = m.create_sandbox(f"d{i}")
            m.connect("bench", f"d{i}", sandbox=p, names=[f"web-{i}", "web"])

        def measure(name):
            out = []
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                q = DNSRecord.question(name).pack()
                for _ in range(queries):
                    t0 = time.perf_counter()
                    s.sendto(q, (gateway, 53))
                    s.recv(4096)
                    out.append(time.perf_counter() - t0)
            return statistics.median(out)
        local = kernel.run_in_netns(m.sandbox_path("d0"), measure, "web")
        fwd = kernel.run_in_netns(m.sandbox_path("d0"), measure, "outside.test")
        print(f"DNS answer latency (median of {queries}, from a container): local name {ms(local)}, "
              f"forwarded to a 127.0.0.1 upstream {ms(fwd)}")
    finally:
        m.purge()
        up.stop()
        up.server.server_close()


def http_get(host: str, port: int, path: str) -> int:
    """Bytes of the body read as fast as a socket can (raw HTTP/1.0, large recv_into)."""
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    total = 0
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        while True:
            n = s.recv_into(view)
            if not n:
                break
            total += n
    return total


def throughput(host: str, port: int, size: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        got = http_get(host, port, "/big.bin")
        dt = time.perf_counter() - t0
        if got < size:
            raise RuntimeError(f"short read from {host}:{port}: {got} < {size}")
        rates.append(size / dt / 1e6)
    return statistics.median(rates)


def bench_ports(tmp: str, mb: int, runs: int) -> None:
    root = f"{tmp}/www"
    os.makedirs(root)
    size = mb << 20
    with open(f"{root}/big.bin", "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(mb):
            f.write(chunk)
    results = {}
    backends = ["nft", "iptables", "proxy"]
    if shutil.which("iptables-restore") is None:
        backends.remove("iptables")
    direct_rates = []
    for backend in backends:
        m = NetworkManager(f"{tmp}/p-{backend}/state", f"{tmp}/p-{backend}/run", default_pools=POOL,
                           dns_upstreams=[], port_backend=backend)
        server = None
        try:
            m.create_network("bench")
            path = m.create_sandbox("web")
            ep = m.connect("bench", "web", sandbox=path, names=["web"])
            server = subprocess.Popen(["nsenter", f"--net={path}", BUSYBOX, "httpd", "-f", "-p", "80", "-h", root])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    socket.create_connection((ep["IPAddress"], 80), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.02)
            [bound] = m.publish("web", [PortBinding(80, 0, "127.0.0.1")])
            http_get(ep["IPAddress"], 80, "/big.bin")  # warm the page cache and the server
            # alternate direct and published runs so both see the same machine load
            d, p = [], []
            for _ in range(runs):
                d.append(throughput(ep["IPAddress"], 80, size, 1))
                p.append(throughput("127.0.0.1", bound.host_port, size, 1))
            direct_rates.extend(d)
            # the machine is shared: compare each published run with the direct run next to it
            results[backend] = (statistics.median(p), statistics.median(x / y for x, y in zip(p, d)))
        finally:
            if server is not None:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()
            m.purge()
    direct = statistics.median(direct_rates)
    print(f"throughput, {mb} MB from busybox httpd in a container (median of {runs} each):")
    print(f"  direct to the container address      {direct:8.0f} MB/s")
    for backend, (rate, ratio) in results.items():
        label = {"nft": "published, nftables DNAT", "iptables": "published, iptables DNAT",
                 "proxy": "published, userland proxy"}[backend]
        print(f"  {label:<37}{rate:8.0f} MB/s  ({ratio:.2f} of direct: median of paired runs)")
    print("  target: published (nftables, the automatic choice) >= 0.85 of direct")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/net.py needs root (network namespaces, bridges, nftables)")
    tmp = tempfile.mkdtemp(prefix="sy-bench-net-")
    try:
        bench_wiring(tmp, args.containers)
        bench_dns(tmp, args.queries)
        bench_ports(tmp, args.mb, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
