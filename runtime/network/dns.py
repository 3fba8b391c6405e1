"""The embedded DNS server of one network (a thread of the daemon).

Started by `manager` on the network's gateway address, port 53 (UDP and TCP). Every query is
answered by who asks: the client's source address must be one of our containers' endpoint
addresses (anyone else gets REFUSED: the host, another network's stray traffic), and the answer
comes from that container's view (`dnsnames.ClientView`, swapped whole by the manager): the
names of all the networks the container is on, whichever of our gateways it asked. Other names
are forwarded to upstream resolvers (the host's /etc/resolv.conf unless the manager was given
others) — except for containers only on internal networks, and except names that exist on
another of our networks, so a container never learns a name from a network it is not on.
dnslib is imported here, and this module is imported only when a server starts (daemon side).
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

from runtime.network.dnsnames import ClientView, canonical, rotate

log = logging.getLogger(__name__)
TTL = 600
UPSTREAM_TIMEOUT = 2.0
# DNS over TCP is rare (truncated answers); a few connections at once are plenty, and a
# container opening many must not make the daemon start a thread for each
MAX_TCP_CONNECTIONS = 16
# ...and each gets this long, in all, to send its query: a per-recv timeout alone let a client
# trickling a byte at a time hold a slot for ever (16 of them shut TCP DNS for everyone)
TCP_REQUEST_DEADLINE = 5.0

# Queries waiting for an upstream, bounded: without a bound, one container asking names of a
# silent upstream as fast as it can queued work (2 s a try) for ever and grew the daemon. Past
# a bound the client gets SERVFAIL at once, which its resolver handles like a failed upstream.
MAX_FORWARDS_PER_CLIENT = 32
MAX_FORWARDS = 256

_forwarders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stackyard-dns-fwd")


class ForwardSlots:
    """Count of forwarded queries not yet answered, per client address and in all."""

    def __init__(self, per_client: int, total: int):
        self._per_client, self._total = per_client, total
        self._lock = threading.Lock()
        self._by_client: dict[str, int] = {}
        self._in_flight = 0

    def take(self, client: str) -> bool:
        with self._lock:
            mine = self._by_client.get(client, 0)
            if mine >= self._per_client or self._in_flight >= self._total:
                return False
            self._by_client[client] = mine + 1
            self._in_flight += 1
            return True

    def give_back(self, client: str) -> None:
        with self._lock:
            left = self._by_client.get(client, 0) - 1
            if left > 0:
                self._by_client[client] = left
            else:
                self._by_client.pop(client, None)
            self._in_flight -= 1


_forward_slots = ForwardSlots(MAX_FORWARDS_PER_CLIENT, MAX_FORWARDS)


class DnsServer:
    """One listener pair (UDP + TCP) on `address:port` with its own selector thread."""

    def __init__(self, address: str, port: int, view: Callable[[str], ClientView | None], *,
                 upstreams: Callable[[], list[tuple[str, int]]],
                 is_foreign: Callable[[str], bool]):
        """`view(source address)`: what that client may resolve, None for a stranger."""
        self.address, self.port = address, port
        self._view, self._upstreams = view, upstreams
        self._is_foreign = is_foreign
        self._tcp_slots = threading.BoundedSemaphore(MAX_TCP_CONNECTIONS)
        # one counter per (name, type): resolvers ask A and AAAA in pairs, and a shared
        # counter would then always start A answers with the same replica
        self._counters: dict[tuple[str, int], int] = {}
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._udp = socket.socket(family, socket.SOCK_DGRAM)
        self._tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            # SO_REUSEADDR on both: a host resolver bound to 0.0.0.0:53 with it set does not
            # stop us from binding the gateway address
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._udp.bind((address, port))
            self._tcp.bind((address, port))
            self._tcp.listen(64)
        except OSError:
            self._udp.close()
            self._tcp.close()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"stackyard-dns-{address}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5)
        for s in (self._udp, self._tcp, self._wake_r, self._wake_w):
            s.close()

    # -- loop ---------------------------------------------------------------------------

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "tcp")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    if key.data == "udp":
                        self._on_udp()
                    else:
                        self._on_tcp()
        finally:
            sel.close()

    def _on_udp(self) -> None:
        try:
            data, peer = self._udp.recvfrom(4096)
        except OSError:
            return
        self._handle(data, peer[0], lambda reply: self._udp.sendto(reply, peer))

    def _on_tcp(self) -> None:
        try:
            conn, peer = self._tcp.accept()
        except OSError:
            return
        if not self._tcp_slots.acquire(blocking=False):
            conn.close()  # busy: the client retries or falls back to UDP
            return
        try:
            threading.Thread(target=self._tcp_conn, args=(conn, peer[0]), daemon=True).start()
        except BaseException:
            self._tcp_slots.release()
            conn.close()
            raise

    def _tcp_conn(self, conn: socket.socket, client: str) -> None:
        try:
            self._tcp_exchange(conn, client)
        finally:
            self._tcp_slots.release()

    def _tcp_exchange(self, conn: socket.socket, client: str) -> None:
        done = threading.Event()

        def send(reply: bytes) -> None:
            try:
                conn.sendall(struct.pack("!H", len(reply)) + reply)
            finally:
                done.set()

        with conn:
            deadline = time.monotonic() + TCP_REQUEST_DEADLINE
            try:
                head = _recv_exact(conn, 2, deadline)
                data = _recv_exact(conn, struct.unpack("!H", head)[0], deadline)
            except OSError:
                return
            if self._handle(data, client, send, tcp=True):
                done.wait(UPSTREAM_TIMEOUT + 1)  # an upstream answer may still come

    # -- decisions ----------------------------------------------------------------------

    def _handle(self, data: bytes, client: str, send, tcp: bool = False) -> bool:
        """Answer (or forward) one query; False when nothing will ever be sent back."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises DNSError and struct errors alike; drop garbage
            return False
        if not request.questions:
            return False
        view = self._view(client)
        if view is None:
            # not one of our containers: answer nothing about our names, forward nothing
            reply = request.reply()
            reply.header.rcode = RCODE.REFUSED
            send(reply.pack())
            return True
        q = request.questions[0]
        name = canonical(str(q.qname))
        found = view.table.lookup(name, client)
        if found is not None:
            send(self._answer(request, found, q).pack())
            return True
        upstreams = self._upstreams() if view.forward else []
        if not upstreams or self._is_foreign(name):
            reply = request.reply()
            reply.header.rcode = RCODE.NXDOMAIN
            send(reply.pack())
            return True
        if not _forward_slots.take(client):
            log.debug("dns: %s has too many queries upstream already; SERVFAIL", client)
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            send(reply.pack())
            return True
        try:
            _forwarders.submit(self._forward_query, data, request, upstreams, send, tcp,
                               client)
        except BaseException:
            _forward_slots.give_back(client)
            raise
        return True

    def _answer(self, request, endpoints, q):
        reply = request.reply()
        reply.header.ra = 1
        key = (str(q.qname).lower(), q.qtype)
        n = self._counters.get(key, -1) + 1
        self._counters[key] = n
        if len(self._counters) > 10000:
            self._counters.clear()
        for ep in rotate(endpoints, n):
            if q.qtype in (QTYPE.A, QTYPE.ANY) and ep.v4:
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ep.v4), ttl=TTL))
            if q.qtype in (QTYPE.AAAA, QTYPE.ANY) and ep.v6:
                reply.add_answer(RR(q.qname, QTYPE.AAAA, rdata=AAAA(ep.v6), ttl=TTL))
        return reply

    def _forward_query(self, data, request, upstreams, send, tcp, client) -> None:
        try:
            self._ask_upstreams(data, request, upstreams, send, tcp)
        finally:
            _forward_slots.give_back(client)

    def _ask_upstreams(self, data, request, upstreams, send, tcp) -> None:
        for host, port in upstreams:
            try:
                reply = _ask_upstream(data, host, port, tcp)
            except OSError as exc:
                log.debug("dns upstream %s:%s failed: %s", host, port, exc)
                continue
            try:
                send(reply)
            except OSError:
                pass
            return
        fail = request.reply()
        fail.header.rcode = RCODE.SERVFAIL
        try:
            send(fail.pack())
        except OSError:
            pass


def _recv_exact(conn: socket.socket, n: int, deadline: float | None = None) -> bytes:
    buf = b""
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not complete before the deadline")
            conn.settimeout(left)
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("short read")
        buf += chunk
    return buf


def _ask_upstream(data: bytes, host: str, port: int, tcp: bool) -> bytes:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if tcp:
        with socket.create_connection((host, port), timeout=UPSTREAM_TIMEOUT) as s:
            s.sendall(struct.pack("!H", len(data)) + data)
            return _recv_exact(s, struct.unpack("!H", _recv_exact(s, 2))[0])
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(UPSTREAM_TIMEOUT)
        s.connect((host, port))
        s.send(data)
        while True:
            reply = s.recv(65535)
            if reply[:2] == data[:2]:  # same query id; ignore strays
                return reply
