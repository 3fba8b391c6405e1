"""`--network container:<donor>` (Compose's `network_mode: service:x`): the joiner shares the
donor's network namespace, so it must share its resolver too — Docker gives it the donor's
resolv.conf and hosts. Through our daemon with the real docker CLI and busybox; every name asked
for is on a network the test made (nothing leaves the machine)."""

import json
import shutil

import pytest

from tests.integration.runtime.daemon.test_daemon_containers_cli import docker

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


def gateway(daemon, network: str) -> str:
    return json.loads(docker(daemon, "network", "inspect", network).stdout)[0]["IPAM"]["Config"][0]["Gateway"]


def nameservers(text: str) -> list[str]:
    return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")]


@pytest.fixture
def donor(stackyard_daemon, image):
    d = stackyard_daemon
    docker(d, "network", "create", "sy-join-a")
    docker(d, "network", "create", "sy-join-b")
    try:
        docker(d, "run", "-d", "--name", "jdonor", "--network", "sy-join-a", image, "sleep", "120")
        docker(d, "run", "-d", "--name", "jpeer", "--network", "sy-join-a", "--network-alias", "peer-alias",
               image, "sleep", "120")
        docker(d, "run", "-d", "--name", "jfar", "--network", "sy-join-b", image, "sleep", "120")
        yield "jdonor"
    finally:
        docker(d, "rm", "-f", "jjoiner", "jjoiner2", "jdonor", "jpeer", "jfar", check=False)
        docker(d, "network", "rm", "sy-join-a", "sy-join-b", check=False)


def test_joiner_resolves_names_on_the_donors_network(stackyard_daemon, image, donor):
    d = stackyard_daemon
    out = docker(d, "run", "--rm", "--network", f"container:{donor}", image, "cat", "/etc/resolv.conf").stdout
    assert "no network configured" not in out
    assert nameservers(out) == [gateway(d, "sy-join-a")]
    for name in ("jpeer", "peer-alias", donor):
        looked = docker(d, "run", "--rm", "--network", f"container:{donor}", image, "nslookup", name, check=False)
        assert looked.returncode == 0 and "Address" in looked.stdout.split("Name:")[-1], looked.stdout + looked.stderr
    ping = docker(d, "run", "--rm", "--network", f"container:{donor}", image, "ping", "-c1", "-W2", "jpeer",
                  check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    hosts = docker(d, "run", "--rm", "--network", f"container:{donor}", image, "cat", "/etc/hosts").stdout
    donor_ip = json.loads(docker(d, "inspect", donor).stdout)[0]["NetworkSettings"]["Networks"]["sy-join-a"]["IPAddress"]
    assert donor_ip in hosts  # the donor's hosts file, with the donor's own address
    # a name on a network the donor is not on is not answered
    far = docker(d, "run", "--rm", "--network", f"container:{donor}", image, "nslookup", "jfar", check=False)
    assert far.returncode != 0


def test_connect_and_disconnect_of_the_donor_rewrite_the_joiners_files(stackyard_daemon, image, donor):
    d = stackyard_daemon
    docker(d, "run", "-d", "--name", "jjoiner", "--network", f"container:{donor}", image, "sleep", "120")
    # a joiner of the joiner is in the same namespace as well
    docker(d, "run", "-d", "--name", "jjoiner2", "--network", "container:jjoiner", image, "sleep", "120")
    a, b = gateway(d, "sy-join-a"), gateway(d, "sy-join-b")
    assert nameservers(docker(d, "exec", "jjoiner", "cat", "/etc/resolv.conf").stdout) == [a]
    assert docker(d, "exec", "jjoiner", "nslookup", "jfar", check=False).returncode != 0

    docker(d, "network", "connect", "sy-join-b", donor)
    for joiner in ("jjoiner", "jjoiner2"):
        servers = nameservers(docker(d, "exec", joiner, "cat", "/etc/resolv.conf").stdout)
        assert b in servers and a in servers, (joiner, servers)
    donor_b_ip = json.loads(docker(d, "inspect", donor).stdout)[0]["NetworkSettings"]["Networks"]["sy-join-b"]["IPAddress"]
    assert donor_b_ip in docker(d, "exec", "jjoiner", "cat", "/etc/hosts").stdout
    # the running joiner (same namespace, now on sy-join-b too) resolves and reaches a name there
    looked = docker(d, "exec", "jjoiner", "nslookup", "jfar", b, check=False)
    assert looked.returncode == 0, looked.stdout + looked.stderr
    assert docker(d, "exec", "jjoiner", "ping", "-c1", "-W2", "jfar", check=False).returncode == 0

    docker(d, "network", "disconnect", "sy-join-b", donor)
    for joiner in ("jjoiner", "jjoiner2"):
        assert nameservers(docker(d, "exec", joiner, "cat", "/etc/resolv.conf").stdout) == [a]
    assert donor_b_ip not in docker(d, "exec", "jjoiner", "cat", "/etc/hosts").stdout


def test_a_joiner_cannot_be_connected_or_disconnected_itself(stackyard_daemon, image, donor):
    d = stackyard_daemon
    docker(d, "run", "-d", "--name", "jjoiner", "--network", f"container:{donor}", image, "sleep", "120")
    for verb, network in (("connect", "sy-join-b"), ("disconnect", "sy-join-a")):
        out = docker(d, "network", verb, network, "jjoiner", check=False)
        assert out.returncode == 1
        assert "container sharing network namespace with another container or host cannot be connected" in out.stderr
    assert json.loads(docker(d, "inspect", "jjoiner").stdout)[0]["HostConfig"]["NetworkMode"] == f"container:{donor}"
    assert nameservers(docker(d, "exec", "jjoiner", "cat", "/etc/resolv.conf").stdout) == [gateway(d, "sy-join-a")]
