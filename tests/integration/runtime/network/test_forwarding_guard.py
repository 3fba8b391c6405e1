"""Forwarding is enabled only for our bridges: run a whole manager inside a scratch network
namespace standing in for a host whose ip_forward is off, with two 'other' interfaces it
could route between (neighbours A and B). The manager turns forwarding on for its networks'
outbound traffic and must not turn the host into a router between A and B; purge() restores
the setting; masquerade=False leaves it alone."""

from __future__ import annotations

import os
import subprocess

import pytest

from runtime.network import kernel

from .conftest import BUSYBOX


def ping(netns: str, address: str, tries: int = 1) -> bool:
    for _ in range(tries):
        if subprocess.run(["nsenter", f"--net={netns}", BUSYBOX, "ping", "-c", "1", "-W", "1", address],
                          capture_output=True).returncode == 0:
            return True
    return False


def neighbour(host_ns: str, path: str, n: int) -> None:
    """A namespace linked to the scratch host by a veth: 10.240.n.2 behind 10.240.n.1."""
    from pyroute2 import IPRoute
    kernel.create_netns(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        with IPRoute() as ipr:  # opened by a thread inside the scratch host
            ipr.link("add", ifname=f"syxn{n}", kind="veth", peer={"ifname": "eth0", "net_ns_fd": fd})
    finally:
        os.close(fd)
    for argv in ([f"addr add 10.240.{n}.1/24 dev syxn{n}"], [f"link set syxn{n} up"]):
        subprocess.run(["ip", *argv[0].split()], check=True)
    for cmd in (f"addr add 10.240.{n}.2/24 dev eth0", "link set eth0 up", f"route add default via 10.240.{n}.1"):
        subprocess.run(["nsenter", f"--net={path}", "ip", *cmd.split()], check=True)


@pytest.mark.parametrize("masquerade", [True, False])
def test_forwarding_only_for_our_bridges(tmpdir_path, masquerade):
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    a, b = os.path.join(tmpdir_path, "neigh-a"), os.path.join(tmpdir_path, "neigh-b")
    kernel.create_netns(host)

    def scenario():
        # the scratch host is ours: start it as a host that does not route
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        neighbour(host, a, 1)
        neighbour(host, b, 2)
        m = NetworkManager(os.path.join(tmpdir_path, "state"), os.path.join(tmpdir_path, "run"),
                           default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[], masquerade=masquerade)
        try:
            m.create_network("app")
            c = m.create_sandbox("c")
            m.connect("app", "c", sandbox=c, names=["c"])
            forward = kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward")
            if not masquerade:
                assert forward == "0"  # switched off: the manager leaves forwarding alone
                assert not ping(c, "10.240.1.2")
                return
            assert forward == "1"
            assert ping(c, "10.240.1.2", tries=3)  # our network's outbound traffic is forwarded (NATed)
            assert not ping(a, "10.240.2.2")  # but the host routes nothing else
        finally:
            m.purge()
        assert kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward") == "0"  # restored

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        for path in (a, b, host):
            kernel.delete_netns(path)


def test_purge_keeps_forwarding_while_another_instance_has_networks(tmpdir_path):
    """Two managers (two state dirs, e.g. the daemon and a test daemon): the one that turned
    forwarding on is purged first; the other's containers must keep their way out."""
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    a = os.path.join(tmpdir_path, "neigh-a")
    kernel.create_netns(host)

    def scenario():
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        neighbour(host, a, 1)
        first = NetworkManager(os.path.join(tmpdir_path, "s1"), os.path.join(tmpdir_path, "r1"),
                               default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[])
        second = NetworkManager(os.path.join(tmpdir_path, "s2"), os.path.join(tmpdir_path, "r2"),
                                default_pools=[("10.232.0.0/16", 24)], dns_upstreams=[])
        try:
            first.create_network("one")
            second.create_network("two")
            c = second.create_sandbox("c")
            second.connect("two", "c", sandbox=c, names=["c"])
            assert ping(c, "10.240.1.2", tries=3)
            first.purge()
            assert kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward") == "1"
            assert ping(c, "10.240.1.2", tries=3)  # the other instance's traffic still flows
        finally:
            first.purge()
            second.purge()

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        for path in (a, host):
            kernel.delete_netns(path)


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_guard_spares_another_instances_renamed_bridge(tmpdir_path, backend):
    """The instance that turned forwarding on guards it; another instance's network whose bridge
    the user named (com.docker.network.bridge.name, no `sybr` prefix) keeps its way out, and the
    host still routes nothing else."""
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    a, b = os.path.join(tmpdir_path, "neigh-a"), os.path.join(tmpdir_path, "neigh-b")
    kernel.create_netns(host)

    def scenario():
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        neighbour(host, a, 1)
        neighbour(host, b, 2)
        first = NetworkManager(os.path.join(tmpdir_path, "s1"), os.path.join(tmpdir_path, "r1"),
                               default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[], port_backend=backend)
        second = NetworkManager(os.path.join(tmpdir_path, "s2"), os.path.join(tmpdir_path, "r2"),
                                default_pools=[("10.232.0.0/16", 24)], dns_upstreams=[], port_backend=backend)
        try:
            first.create_network("one")
            assert first._state["ip_forward_by_us"]
            second.create_network("two", options={"com.docker.network.bridge.name": "sytestbr0"})
            c = second.create_sandbox("c")
            second.connect("two", "c", sandbox=c, names=["c"])
            assert ping(c, "10.240.1.2", tries=3)  # not dropped by the first instance's guard
            assert not ping(a, "10.240.2.2")  # the guard still holds for everything else
        finally:
            first.purge()
            second.purge()

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        for path in (a, b, host):
            kernel.delete_netns(path)


def test_restore_turns_forwarding_back_on_after_a_reboot(tmpdir_path):
    """The daemon restarts after the host rebooted: ip_forward is back to off, bridges and
    namespaces are gone, the state remains. restore() must give the networks their way out
    again (and keep the guard), not only a later create_network."""
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    a, b = os.path.join(tmpdir_path, "neigh-a"), os.path.join(tmpdir_path, "neigh-b")
    kernel.create_netns(host)
    state, run = os.path.join(tmpdir_path, "state"), os.path.join(tmpdir_path, "run")

    def scenario():
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        neighbour(host, a, 1)
        neighbour(host, b, 2)
        first = NetworkManager(state, run, default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[])
        second = None
        try:
            first.create_network("app")
            first.close()
            # the reboot: forwarding off again, our bridges and rules gone
            kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
            first.links.delete(first._net("app")["_bridge"])
            first._fw.clear()
            first.close()
            second = NetworkManager(state, run, default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[])
            second.restore()
            c = second.create_sandbox("c")
            second.connect("app", "c", sandbox=c, names=["c"])
            assert ping(c, "10.240.1.2", tries=3)
            assert not ping(a, "10.240.2.2")
        finally:
            (second or first).purge()
        assert kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward") == "0"

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        for path in (a, b, host):
            kernel.delete_netns(path)


def test_failed_create_gives_forwarding_back(tmpdir_path):
    """The first network's create turns ip_forward on and then fails (its DNS cannot bind):
    forwarding must be off again, not left on with no guard (the rules went with the undo),
    which would make the host a router between its other interfaces."""
    import socket

    from runtime import errdefs
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    a, b = os.path.join(tmpdir_path, "neigh-a"), os.path.join(tmpdir_path, "neigh-b")
    kernel.create_netns(host)

    def scenario():
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        neighbour(host, a, 1)
        neighbour(host, b, 2)
        m = NetworkManager(os.path.join(tmpdir_path, "state"), os.path.join(tmpdir_path, "run"),
                           default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[])
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the gateway does not exist yet
        blocker.bind(("10.231.5.1", 53))
        try:
            with pytest.raises(errdefs.StackyardError, match="embedded DNS"):
                m.create_network("dnsfail", ipam={"config": [{"subnet": "10.231.5.0/24"}]})
            blocker.close()
            assert kernel.read_sysctl("/proc/sys/net/ipv4/ip_forward") == "0"
            assert not ping(a, "10.240.2.2")
            assert not m._state["ip_forward_by_us"]
        finally:
            blocker.close()
            m.purge()

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        for path in (a, b, host):
            kernel.delete_netns(path)


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_networks_of_two_instances_are_isolated(tmpdir_path, backend):
    """Two managers on one host (two state dirs: the daemon and a test daemon, or two roots):
    a container on one's network must not reach a container on the other's, as between two
    networks of one manager."""
    from runtime.network import NetworkManager

    host = os.path.join(tmpdir_path, "scratch-host")
    kernel.create_netns(host)

    def scenario():
        kernel.write_sysctl("/proc/sys/net/ipv4/ip_forward", "0")
        first = NetworkManager(os.path.join(tmpdir_path, "s1"), os.path.join(tmpdir_path, "r1"),
                               default_pools=[("10.231.0.0/16", 24)], dns_upstreams=[], port_backend=backend)
        second = NetworkManager(os.path.join(tmpdir_path, "s2"), os.path.join(tmpdir_path, "r2"),
                                default_pools=[("10.232.0.0/16", 24)], dns_upstreams=[], port_backend=backend)
        try:
            first.create_network("one")
            second.create_network("two", options={"com.docker.network.bridge.name": "sytestbr0"})
            c1 = first.create_sandbox("c1")
            first.connect("one", "c1", sandbox=c1, names=["c1"])
            c2 = second.create_sandbox("c2")
            e2 = second.connect("two", "c2", sandbox=c2, names=["c2"])
            c3 = second.create_sandbox("c3")
            second.connect("two", "c3", sandbox=c3, names=["c3"])
            c4 = first.create_sandbox("c4")
            first.connect("one", "c4", sandbox=c4, names=["c4"])
            # controls: within each network (each instance's chain meets the other's traffic)
            assert ping(c3, e2["IPAddress"], tries=3)
            assert ping(c4, first.endpoints("c1")["one"]["IPAddress"], tries=3)
            assert not ping(c1, e2["IPAddress"])
            assert not ping(c2, first.endpoints("c1")["one"]["IPAddress"])
        finally:
            first.purge()
            second.purge()

    try:
        kernel.run_in_netns(host, scenario)
    finally:
        kernel.delete_netns(host)
