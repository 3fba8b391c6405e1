"""Networks whose bridge the user named (`com.docker.network.bridge.name`) get the same rules as
default-named `sybr…` ones: outbound-to-host DNS, isolation from other networks, an internal
one reaching only its own gateway's DNS, and nothing of theirs left after the network is
removed. Probes go only to the test's own bridges and to the session's resolver on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess

import pytest

from runtime.network import kernel

from .conftest import BUSYBOX
from .test_leaks import ask, gateway, sandbox

RENAMED = {"com.docker.network.bridge.name": "sytestbr0"}
RENAMED_INTERNAL = {"com.docker.network.bridge.name": "sytestbr1"}


def rules_text() -> str:
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    ipt = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return nft + ipt


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_renamed_bridge_has_dns_isolation_and_its_rules_go_with_it(make_manager, procs, upstream, backend):
    net = make_manager(port_backend=backend)
    net.create_network("named", options=RENAMED)
    net.create_network("sealed", internal=True, options=RENAMED_INTERNAL)
    net.create_network("other")
    p_named, eps = sandbox(net, "n1", "named")
    p_sealed, _ = sandbox(net, "s1", "sealed")
    p_other, _ = sandbox(net, "o1", "other")
    g_named, g_sealed, g_other = gateway(net, "named"), gateway(net, "sealed"), gateway(net, "other")
    assert "sytestbr0" in rules_text() and "sytestbr1" in rules_text()

    # outbound to the host: its gateway's DNS answers its names and forwards the rest
    assert ask(p_named, g_named, "n1") == ("answer", [eps["named"]["IPAddress"]])
    assert ask(p_named, g_named, "outside.test") == ("answer", ["192.0.2.123"])
    # isolation: another network neither reaches nor resolves it, and the way back is closed too
    assert procs.run(p_other, [BUSYBOX, "ping", "-c", "1", "-W", "1", eps["named"]["IPAddress"]]).returncode != 0
    assert ask(p_other, g_other, "n1")[0] != "answer"
    other_ip = net.endpoints("o1")["other"]["IPAddress"]
    assert procs.run(p_named, [BUSYBOX, "ping", "-c", "1", "-W", "1", other_ip]).returncode != 0
    # the renamed internal bridge: its own DNS (names, no forwarding), nothing else of the host
    assert ask(p_sealed, g_sealed, "s1")[0] == "answer"
    assert ask(p_sealed, g_sealed, "outside.test")[0] != "answer"
    assert procs.run(p_sealed, ["ip", "route", "add", f"{g_other}/32", "via", g_sealed]).returncode == 0
    assert ask(p_sealed, g_other, "outside.test") == ("silence", None)
    host_service = socket.socket()
    host_service.bind((g_named, 0))
    host_service.listen()
    try:
        def connect(address, port):
            with socket.socket() as c:
                c.settimeout(1)
                return c.connect_ex((address, port))
        assert procs.run(p_sealed, ["ip", "route", "add", f"{g_named}/32", "via", g_sealed]).returncode == 0
        assert kernel.run_in_netns(p_sealed, connect, g_named, host_service.getsockname()[1]) != 0
        assert kernel.run_in_netns(p_named, connect, g_named, host_service.getsockname()[1]) == 0  # control
    finally:
        host_service.close()

    for cid in ("n1", "s1"):
        net.destroy_sandbox(cid)
    net.remove_network("named")
    net.remove_network("sealed")
    left = rules_text()
    assert "sytestbr0" not in left and "sytestbr1" not in left
    assert net._fw.present()  # the other network's rules are still there
