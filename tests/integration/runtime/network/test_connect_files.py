"""A running container's resolv.conf and /etc/hosts follow `network connect` / `disconnect`
(real busybox containers through our daemon and the docker CLI): the nameservers are the
gateways of the networks it is on now, search and options stay, an explicit --dns is left
alone, and the container sees the change (the bind-mounted file is rewritten in place)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.integration.runtime.daemon.conftest import busybox_ref, stackyard_daemon  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")

A, B = "10.231.41", "10.231.42"


def docker(daemon, *args, check=True, timeout=60):
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_CONFIG=str(daemon.base / "docker-config"))
    result = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr}\n"
                             f"daemon log tail:\n{daemon.log_text()[-3000:]}")
    return result


def nameservers(daemon, container) -> list[str]:
    text = docker(daemon, "exec", container, "cat", "/etc/resolv.conf").stdout
    return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")]


@pytest.fixture
def two_networks(stackyard_daemon, busybox_ref):  # noqa: F811
    """sy-rc-a (normal) and sy-rc-b (internal), a peer `sy-rc-peer` on b; all removed after."""
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    made = []
    try:
        docker(stackyard_daemon, "network", "create", "--subnet", f"{A}.0/24", "sy-rc-a")
        made.append("sy-rc-a")
        docker(stackyard_daemon, "network", "create", "--internal", "--subnet", f"{B}.0/24", "sy-rc-b")
        made.append("sy-rc-b")
        docker(stackyard_daemon, "run", "-d", "--name", "sy-rc-peer", "--network", "sy-rc-b", busybox_ref,
               "sleep", "300")
        yield busybox_ref
    finally:
        for name in ("sy-rc-c", "sy-rc-fixed", "sy-rc-peer"):
            docker(stackyard_daemon, "rm", "-f", name, check=False)
        for name in made:
            docker(stackyard_daemon, "network", "rm", name, check=False)


def test_resolv_conf_and_hosts_follow_connect_and_disconnect(stackyard_daemon, two_networks):  # noqa: F811
    image = two_networks
    d = stackyard_daemon
    docker(d, "run", "-d", "--name", "sy-rc-c", "--hostname", "cbox", "--network", "sy-rc-a",
           "--dns-search", "sy.test", "--dns-option", "ndots:2", image, "sleep", "300")
    assert nameservers(d, "sy-rc-c") == [f"{A}.1"]
    assert docker(d, "exec", "sy-rc-c", "ping", "-c", "1", "-W", "2", "sy-rc-peer", check=False).returncode != 0

    docker(d, "network", "connect", "sy-rc-b", "sy-rc-c")
    assert nameservers(d, "sy-rc-c") == [f"{A}.1", f"{B}.1"]
    b_address = docker(d, "inspect", "-f", '{{(index .NetworkSettings.Networks "sy-rc-b").IPAddress}}',
                       "sy-rc-c").stdout.strip()
    assert b_address.startswith(B + ".")
    hosts = docker(d, "exec", "sy-rc-c", "cat", "/etc/hosts").stdout
    assert f"{b_address}\tcbox" in hosts.splitlines()
    ping = docker(d, "exec", "sy-rc-c", "ping", "-c", "1", "-W", "2", "sy-rc-peer", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr  # a name on b resolves and answers

    docker(d, "network", "disconnect", "sy-rc-a", "sy-rc-c")
    text = docker(d, "exec", "sy-rc-c", "cat", "/etc/resolv.conf").stdout
    # only on the internal network now: a's gateway (unreachable from here) is gone
    assert [line for line in text.splitlines() if line.startswith("nameserver")] == [f"nameserver {B}.1"]
    assert "search sy.test" in text and "options ndots:2" in text
    hosts = docker(d, "exec", "sy-rc-c", "cat", "/etc/hosts").stdout
    assert not [line for line in hosts.splitlines() if line.startswith(A + ".")]
    assert f"{b_address}\tcbox" in hosts.splitlines()
    ping = docker(d, "exec", "sy-rc-c", "ping", "-c", "1", "-W", "2", "sy-rc-peer", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr  # resolved by b's own DNS


def test_explicit_dns_is_left_alone(stackyard_daemon, two_networks):  # noqa: F811
    image = two_networks
    d = stackyard_daemon
    docker(d, "run", "-d", "--name", "sy-rc-fixed", "--network", "sy-rc-a", "--dns", "192.0.2.53",
           image, "sleep", "300")
    before = docker(d, "exec", "sy-rc-fixed", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 192.0.2.53" in before
    docker(d, "network", "connect", "sy-rc-b", "sy-rc-fixed")
    assert docker(d, "exec", "sy-rc-fixed", "cat", "/etc/resolv.conf").stdout == before
    docker(d, "network", "disconnect", "sy-rc-a", "sy-rc-fixed")
    assert docker(d, "exec", "sy-rc-fixed", "cat", "/etc/resolv.conf").stdout == before


def test_created_container_gets_the_files_of_its_networks_at_start(stackyard_daemon, two_networks):  # noqa: F811
    image = two_networks
    d = stackyard_daemon
    docker(d, "create", "--name", "sy-rc-c", "--network", "sy-rc-a", image, "sleep", "300")
    docker(d, "network", "connect", "sy-rc-b", "sy-rc-c")
    docker(d, "network", "disconnect", "sy-rc-a", "sy-rc-c")
    docker(d, "start", "sy-rc-c")
    assert nameservers(d, "sy-rc-c") == [f"{B}.1"]
