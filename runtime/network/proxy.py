"""Userland proxy for published ports: the last resort when neither nftables nor iptables can
DNAT (RUNTIME-NOTES: an asyncio *Protocol* proxy reaches ~0.8 of direct; streams only ~0.4).

Called by `manager.publish` when the port backend is "proxy". Runs its own event loop in one
daemon thread; the listening sockets are the manager's port reservations.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

log = logging.getLogger(__name__)
HIGH_WATER = 4 * 1024 * 1024
UDP_IDLE = 30.0


class _Pipe(asyncio.Protocol):
    """One side of a proxied TCP connection; writes what it reads into its peer."""

    def __init__(self):
        self.transport = None
        self.peer: _Pipe | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(HIGH_WATER)

    def data_received(self, data):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self):
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
            return True
        return False

    def connection_lost(self, exc):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # back-pressure: stop reading this side while the other side's buffer is full
    def pause_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, proxy: "Proxy", dest):
        self.proxy, self.dest, self.transport = proxy, dest, None
        self.clients: dict = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        client = self.clients.get(addr)
        if client is None:
            loop = asyncio.get_running_loop()
            reply = _UdpReply(self, addr)
            self.clients[addr] = reply
            loop.create_task(self._open(reply, data))
        elif client.transport is None:
            client.pending.append(data)
        else:
            client.transport.sendto(data)

    async def _open(self, reply, first):
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: reply, remote_addr=self.dest)
        reply.transport.sendto(first)
        for d in reply.pending:
            reply.transport.sendto(d)
        reply.pending.clear()

    def close(self):
        for c in self.clients.values():
            if c.transport is not None:
                c.transport.close()
        self.transport.close()


class _UdpReply(asyncio.DatagramProtocol):
    def __init__(self, front: _Udp, addr):
        self.front, self.addr, self.transport, self.pending = front, addr, None, []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.front.transport.sendto(data, self.addr)


class Proxy:
    """A thread with an event loop serving every proxied port of one manager."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stackyard-proxy",
                                        daemon=True)
        self._thread.start()
        self._servers: dict[tuple, object] = {}

    def _call(self, coro_fn, *args):
        async def wrapper():
            return await coro_fn(*args)
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def add(self, key: tuple, sock: socket.socket, proto: str, dest: tuple[str, int]) -> None:
        """Serve on `sock` (already bound), forwarding to `dest`."""
        async def start():
            loop = asyncio.get_running_loop()
            if proto == "tcp":
                sock.listen(512)
                sock.setblocking(False)

                def factory():
                    front = _Pipe()
                    back = _Pipe()
                    front.peer, back.peer = back, front

                    async def connect():
                        try:
                            await loop.create_connection(lambda: back, *dest)
                        except OSError as exc:
                            log.warning("proxy to %s:%s failed: %s", *dest, exc)
                            if front.transport is not None:
                                front.transport.close()
                            return
                        for d in front.pending:
                            back.transport.write(d)
                        front.pending.clear()
                    loop.create_task(connect())
                    return front
                return await loop.create_server(factory, sock=sock)
            sock.setblocking(False)
            transport, protocol = await loop.create_datagram_endpoint(lambda: _Udp(self, dest), sock=sock)
            return protocol
        self._servers[key] = self._call(start)

    def remove(self, key: tuple) -> None:
        server = self._servers.pop(key, None)
        if server is None:
            return

        async def stop():
            server.close()
            if hasattr(server, "wait_closed"):
                pass  # closing the listener is enough; live connections end with their peers
        self._call(stop)

    def close(self) -> None:
        for key in list(self._servers):
            self.remove(key)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
