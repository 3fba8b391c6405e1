"""The embedded DNS server bounds what one client can have waiting on upstream resolvers.

Real sockets on 127.0.0.1 only: the server, a client, and an upstream the test holds silent
and then lets answer.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from runtime.network import dns
from runtime.network.dnsnames import ClientView, Endpoint, NameTable


class HeldUpstream:
    """A UDP resolver on loopback that keeps every query until `release()`, then answers
    each (held and later ones) with 192.0.2.1."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.released = threading.Event()
        self.stopped = threading.Event()
        self.held: list[tuple[bytes, tuple]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, data: bytes, peer) -> None:
        request = DNSRecord.parse(data)
        reply = request.reply()
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        self.sock.sendto(reply.pack(), peer)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            if self.released.is_set():
                for data, peer in self.held:
                    self._answer(data, peer)
                self.held.clear()
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            if self.released.is_set():
                self._answer(data, peer)
            else:
                self.held.append((data, peer))

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def server_and_upstream():
    upstream = HeldUpstream()
    table = NameTable({"web": (Endpoint("10.9.0.2", None),)})
    view = ClientView(table, forward=True)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = dns.DnsServer("127.0.0.1", port, lambda client: view if client == "127.0.0.1" else None,
                           upstreams=lambda: [("127.0.0.1", upstream.port)],
                           is_foreign=lambda name: False)
    try:
        yield server, upstream
    finally:
        upstream.release()
        server.stop()
        upstream.stop()


def _ask(sock: socket.socket, server, name: str, qid: int) -> None:
    query = DNSRecord.question(name)
    query.header.id = qid
    sock.sendto(query.pack(), (server.address, server.port))


def _replies(sock: socket.socket, count: int, timeout: float) -> dict[int, DNSRecord]:
    got: dict[int, DNSRecord] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            reply = DNSRecord.parse(sock.recv(4096))
        except OSError:
            break
        got[reply.header.id] = reply
    return got


def test_a_flooding_client_gets_servfail_past_its_bound_and_local_names_still_answer(server_and_upstream):
    server, upstream = server_and_upstream
    extra = 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        for qid in range(1, dns.MAX_FORWARDS_PER_CLIENT + extra + 1):
            _ask(client, server, f"n{qid}.outside.test", qid)
        # the queries past the bound are refused at once, while the upstream holds the rest
        refused = _replies(client, extra, timeout=2.0)
        assert len(refused) == extra
        assert all(r.header.rcode == RCODE.SERVFAIL for r in refused.values())
        assert min(refused) > dns.MAX_FORWARDS_PER_CLIENT
        # our own names do not wait behind the upstream
        _ask(client, server, "web", 9000)
        local = _replies(client, 1, timeout=1.0)
        assert [str(rr.rdata) for rr in local[9000].rr] == ["10.9.0.2"]

        # once the upstream answers, every forwarded query gets its answer and the client's
        # slots are free again
        upstream.release()
        answered = _replies(client, dns.MAX_FORWARDS_PER_CLIENT, timeout=5.0)
        assert sorted(answered) == list(range(1, dns.MAX_FORWARDS_PER_CLIENT + 1))
        assert all(str(r.rr[0].rdata) == "192.0.2.1" for r in answered.values())
        _ask(client, server, "again.outside.test", 9001)
        again = _replies(client, 1, timeout=2.0)
        assert again[9001].header.rcode == RCODE.NOERROR
        assert str(again[9001].rr[0].rdata) == "192.0.2.1"


def test_slots_are_bounded_per_client_and_in_all():
    slots = dns.ForwardSlots(per_client=2, total=3)
    assert slots.take("a") and slots.take("a")
    assert not slots.take("a")          # a's own bound
    assert slots.take("b")
    assert not slots.take("c")          # the total bound
    slots.give_back("a")
    assert slots.take("c")
    assert not slots.take("a")          # total again, not a's bound
    for who in ("a", "b", "c"):
        slots.give_back(who)
    assert slots.take("a") and slots.take("a")
