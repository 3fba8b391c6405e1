"""Service discovery and isolation with real traffic: busybox httpd/wget/nslookup run on the
host inside the sandboxes the manager made (no executor needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from runtime import errdefs
from runtime.network import kernel

from .conftest import BUSYBOX, web_root, wait_port


def start_web(net, procs, tmp, network, cid, names, aliases=(), body=None):
    path = net.create_sandbox(cid)
    ep = net.connect(network, cid, sandbox=path, names=names, aliases=aliases)
    procs.start(path, [BUSYBOX, "httpd", "-f", "-p", "80", "-h", web_root(tmp, cid, body)])
    wait_port(path, 80)
    return path, ep


def client_files(net, tmp, cid, **kw):
    """resolv.conf and hosts of the client, written where unshare -m can bind them."""
    rc = os.path.join(tmp, f"{cid}.resolv.conf")
    hosts = os.path.join(tmp, f"{cid}.hosts")
    with open(rc, "w") as f:
        f.write(net.resolv_conf(cid, **kw))
    with open(hosts, "w") as f:
        f.write(net.hosts_file(cid, hostname=cid))
    return {"/etc/resolv.conf": rc, "/etc/hosts": hosts}


def fetch(procs, path, url, files, timeout=3):
    # busybox 1.35's wget -T segfaults; bound the time from here instead
    try:
        done = procs.run(path, [BUSYBOX, "wget", "-qO-", url], files=files, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "FAILED: timed out"
    return done.stdout if done.returncode == 0 else f"FAILED rc={done.returncode}: {done.stdout}{done.stderr}"


def test_fetch_by_service_alias_and_container_name(net, procs, tmpdir_path):
    net.create_network("app_front")
    start_web(net, procs, tmpdir_path, "app_front", "web1", ["app-web-1", "web"], aliases=["www"])
    cpath = net.create_sandbox("client")
    net.connect("app_front", "client", sandbox=cpath, names=["app-client-1", "client"])
    files = client_files(net, tmpdir_path, "client")
    gateway = net.get("app_front")["IPAM"]["Config"][0]["Gateway"]
    assert open(files["/etc/resolv.conf"]).read().startswith(f"nameserver {gateway}\n")
    for name in ("web", "www", "app-web-1"):
        assert fetch(procs, cpath, f"http://{name}/", files) == "hello from web1\n", name


def test_two_replicas_answer_under_one_name(net, procs, tmpdir_path):
    net.create_network("app_front")
    _, e1 = start_web(net, procs, tmpdir_path, "app_front", "w1", ["app-web-1", "web"])
    _, e2 = start_web(net, procs, tmpdir_path, "app_front", "w2", ["app-web-2", "web"])
    cpath = net.create_sandbox("client")
    net.connect("app_front", "client", sandbox=cpath, names=["client"])
    gateway = net.get("app_front")["IPAM"]["Config"][0]["Gateway"]
    out = procs.run(cpath, [BUSYBOX, "nslookup", "web", gateway]).stdout
    assert e1["IPAddress"] in out and e2["IPAddress"] in out
    files = client_files(net, tmpdir_path, "client")
    seen = {fetch(procs, cpath, "http://web/", files) for _ in range(6)}
    assert seen == {"hello from w1\n", "hello from w2\n"}  # round robin: both replicas serve


def test_other_network_cannot_resolve_or_reach(net, procs, tmpdir_path):
    net.create_network("a_net")
    net.create_network("b_net")
    _, web = start_web(net, procs, tmpdir_path, "a_net", "web1", ["web"])
    cpath = net.create_sandbox("intruder")
    net.connect("b_net", "intruder", sandbox=cpath, names=["intruder"])
    b_gateway = net.get("b_net")["IPAM"]["Config"][0]["Gateway"]
    out = procs.run(cpath, [BUSYBOX, "nslookup", "web", b_gateway])
    assert web["IPAddress"] not in out.stdout and "NXDOMAIN" in out.stdout + out.stderr
    files = client_files(net, tmpdir_path, "intruder")
    assert fetch(procs, cpath, f"http://{web['IPAddress']}/", files).startswith("FAILED")
    assert procs.run(cpath, [BUSYBOX, "ping", "-c", "1", "-W", "1", web["IPAddress"]]).returncode != 0
    # the same client, once connected to a_net too, reaches web
    net.connect("a_net", "intruder", sandbox=cpath, names=["intruder"])
    assert fetch(procs, cpath, f"http://{web['IPAddress']}/", files) == "hello from web1\n"


def test_internal_network_has_no_way_out_and_no_forwarding(net, procs, tmpdir_path, upstream):
    net.create_network("normal")
    net.create_network("secret", internal=True)
    _, web = start_web(net, procs, tmpdir_path, "normal", "web1", ["web"])
    path = net.create_sandbox("inside")
    ep = net.connect("secret", "inside", sandbox=path, names=["inside"])
    routes = procs.run(path, ["ip", "route"]).stdout
    assert "default" not in routes and ep["Gateway"] == ""
    gateway = net.get("secret")["IPAM"]["Config"][0]["Gateway"]
    # names of the internal network itself resolve; outside names are not forwarded
    assert ep["IPAddress"] in procs.run(path, [BUSYBOX, "nslookup", "inside", gateway]).stdout
    out = procs.run(path, [BUSYBOX, "nslookup", "outside.test", gateway])
    assert "192.0.2.123" not in out.stdout
    # even with a route added by hand, the bridge forwards nothing out
    procs.run(path, ["ip", "route", "add", "default", "via", gateway])
    assert procs.run(path, [BUSYBOX, "ping", "-c", "1", "-W", "1", web["IPAddress"]]).returncode != 0


def test_dns_forwarding_to_upstream(net, procs, upstream):
    net.create_network("fwd")
    path = net.create_sandbox("c1")
    net.connect("fwd", "c1", sandbox=path, names=["c1"])
    gateway = net.get("fwd")["IPAM"]["Config"][0]["Gateway"]
    out = procs.run(path, [BUSYBOX, "nslookup", "outside.test", gateway]).stdout
    assert "192.0.2.123" in out
    assert "outside.test." in upstream.queries
    out = procs.run(path, [BUSYBOX, "nslookup", "missing.test", gateway])
    assert "192.0.2" not in out.stdout


def test_fifty_containers_resolve_each_other(net):
    from dnslib import DNSRecord

    net.create_network("crowd")
    t0 = time.perf_counter()
    addrs = {}
    for i in range(50):
        cid = f"c{i:02d}"
        path = net.create_sandbox(cid)
        addrs[cid] = (path, net.connect("crowd", cid, sandbox=path, names=[f"crowd-{cid}"])["IPAddress"])
    wiring = (time.perf_counter() - t0) / 50
    gateway = net.get("crowd")["IPAM"]["Config"][0]["Gateway"]

    def resolve_all():
        # from inside the container's namespace (a thread joined to it), ask for every name
        got = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for other in addrs:
                s.sendto(DNSRecord.question(f"crowd-{other}").pack(), (gateway, 53))
                reply = DNSRecord.parse(s.recv(4096))
                got[other] = str(reply.rr[0].rdata) if reply.rr else None
        return got

    for cid, (path, _) in addrs.items():
        got = kernel.run_in_netns(path, resolve_all)
        assert got == {other: ip for other, (_, ip) in addrs.items()}, cid
    assert wiring < 0.05  # generous for a busy CI box; bench/net.py measures the real figure


def test_connect_and_disconnect_a_running_container(net, procs, tmpdir_path):
    net.create_network("one")
    net.create_network("two")
    path, ep1 = start_web(net, procs, tmpdir_path, "one", "web1", ["web"])
    server = procs.running[-1]
    c1 = net.create_sandbox("c1")
    net.connect("one", "c1", sandbox=c1, names=["c1"])
    c2 = net.create_sandbox("c2")
    net.connect("two", "c2", sandbox=c2, names=["c2"])
    f2 = client_files(net, tmpdir_path, "c2")
    assert fetch(procs, c2, "http://web/", f2).startswith("FAILED")
    ep2 = net.connect("two", "web1", sandbox=path, names=["web"])
    assert ep2["IPAddress"] and procs.run(path, ["ip", "-br", "addr", "show", "eth1"]).returncode == 0
    assert fetch(procs, c2, "http://web/", f2) == "hello from web1\n"
    net.disconnect("one", "web1")
    f1 = client_files(net, tmpdir_path, "c1")
    assert fetch(procs, c1, f"http://{ep1['IPAddress']}/", f1).startswith("FAILED")
    assert fetch(procs, c2, "http://web/", f2) == "hello from web1\n"
    assert server.poll() is None  # the process lived through both changes
    assert "web1" not in net.get("one")["Containers"] and "web1" in net.get("two")["Containers"]
    with pytest.raises(errdefs.NotFound):
        net.disconnect("one", "web1")


def test_remove_network_refused_while_endpoints_exist(net):
    n = net.create_network("busy")
    path = net.create_sandbox("c1")
    net.connect("busy", "c1", sandbox=path, names=["c1"])
    with pytest.raises(errdefs.Conflict, match=f"network busy id {n['Id']} has active endpoints"):
        net.remove_network("busy")
    with pytest.raises(errdefs.AlreadyExists):
        net.create_network("busy")
    net.destroy_sandbox("c1")
    assert not os.path.exists(path)
    net.remove_network(n["Id"][:12])
    with pytest.raises(errdefs.NotFound):
        net.get("busy")
