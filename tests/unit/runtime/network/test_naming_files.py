"""Names of kernel objects, resolv.conf/hosts rendering and port specs (pure)."""

import pytest

from runtime import errdefs
from runtime.network import files, naming
from runtime.network.ports import PortBinding, check_binding, normalize_binding, parse_port_spec


def test_interface_names_fit_and_are_ours():
    nid = naming.new_network_id("front")
    br = naming.bridge_name(nid)
    assert br.startswith("sybr") and len(br) == 15
    veth = naming.host_veth_name("c" * 64, nid, 1)
    assert veth.startswith("syv") and len(veth) == 15
    assert veth != naming.host_veth_name("d" * 64, nid, 1)
    assert veth != naming.host_veth_name("c" * 64, nid, 2)  # a reconnect never meets its dying veth
    assert naming.bridge_name(nid, {"com.docker.network.bridge.name": "mybr0"}) == "mybr0"
    with pytest.raises(errdefs.InvalidArgument, match="interface name"):
        naming.bridge_name(nid, {"com.docker.network.bridge.name": "a-name-far-too-long"})


def test_container_ifnames_and_mac():
    assert naming.container_ifname(set()) == "eth0"
    assert naming.container_ifname({"eth0", "eth2"}) == "eth1"
    assert naming.mac_for_ipv4("172.17.0.2") == "02:42:ac:11:00:02"
    with pytest.raises(errdefs.InvalidArgument, match="multicast"):
        naming.check_mac("01:00:5e:00:00:01")


def test_resolv_conf_rendering():
    servers, search, opts = files.parse_resolv_conf(
        "# comment\nnameserver 10.0.0.53\nnameserver 127.0.0.53\nsearch a.example b.example\noptions ndots:2\n")
    assert servers == ["10.0.0.53", "127.0.0.53"] and search == ["a.example", "b.example"]
    assert files.non_loopback_servers(servers) == ["10.0.0.53"]
    assert files.render_resolv_conf(["172.17.0.1"], ["svc.local"], ["ndots:1", "timeout:2"]) == (
        "nameserver 172.17.0.1\nsearch svc.local\noptions ndots:1 timeout:2\n")
    with pytest.raises(errdefs.InvalidArgument, match="dns: 'dns.example' is not an IP"):
        files.render_resolv_conf(["dns.example"])


def test_hosts_rendering_with_extra_hosts():
    text = files.render_hosts("web", ["172.17.0.5"], ["db:10.0.0.9", "gw=host-gateway", ("v6", "::1")],
                              host_gateway="172.17.0.1")
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-4:] == ["10.0.0.9\tdb", "172.17.0.1\tgw", "::1\tv6", "172.17.0.5\tweb"]
    with pytest.raises(errdefs.InvalidArgument, match="extra_hosts: 'db:nope'"):
        files.render_hosts("web", [], ["db:nope"])


def test_port_specs():
    assert parse_port_spec("80") == [PortBinding(80)]
    assert parse_port_spec("127.0.0.1:8080:80/udp") == [PortBinding(80, 8080, "127.0.0.1", "udp")]
    assert parse_port_spec("8000-8001:80-81") == [PortBinding(80, 8000), PortBinding(81, 8001)]
    assert parse_port_spec("9000-9010:80") == [PortBinding(80, 9000, host_port_end=9010)]
    assert parse_port_spec("127.0.0.1::53/udp") == [PortBinding(53, 0, "127.0.0.1", "udp")]
    with pytest.raises(errdefs.InvalidArgument, match="differ in length"):
        parse_port_spec("8000-8002:80-81")
    with pytest.raises(errdefs.InvalidArgument):
        parse_port_spec("70000:80")


def test_binding_normalisation_and_checks():
    assert normalize_binding(PortBinding(80, 8080, "0.0.0.0")).host_ip == ""
    assert normalize_binding(PortBinding(80, 8080, "::")).host_ip == ""
    assert normalize_binding(PortBinding(80, 8080, "127.0.0.1")).host_ip == "127.0.0.1"
    with pytest.raises(errdefs.InvalidArgument, match="protocol must be tcp or udp"):
        check_binding(PortBinding(80, 0, "", "sctp"))
    with pytest.raises(errdefs.Unsupported, match="IPv6 host addresses"):
        check_binding(PortBinding(80, 0, "::1"))


def test_nameservers_replaced_in_place_of_the_old_ones():
    text = "# by stackyard\nnameserver 10.1.0.1\nnameserver 10.2.0.1\nsearch sy.test\noptions ndots:2\n"
    assert files.replace_nameservers(text, ["10.2.0.1", "10.3.0.1"]) == (
        "# by stackyard\nnameserver 10.2.0.1\nnameserver 10.3.0.1\nsearch sy.test\noptions ndots:2\n")
    assert files.replace_nameservers("search a\n", ["10.3.0.1"]) == "nameserver 10.3.0.1\nsearch a\n"
    assert files.replace_nameservers(text, []) == "# by stackyard\nsearch sy.test\noptions ndots:2\n"
    with pytest.raises(errdefs.InvalidArgument):
        files.replace_nameservers(text, ["not-an-ip"])


def test_hosts_gain_and_lose_the_container_address_of_a_network():
    text = files.render_hosts("web", ["10.1.0.2"], ["db:10.9.9.9"])
    joined = files.hosts_with(text, ["10.2.0.5", "fd00::5"], ["web"])
    assert joined.splitlines()[-2:] == ["10.2.0.5\tweb", "fd00::5\tweb"]
    assert files.hosts_with(joined, ["10.2.0.5"], ["web"]) == joined  # not twice
    user = joined + "10.1.0.2\tmine\n"  # a line the user added for the same address stays
    left = files.hosts_without(user, ["10.1.0.2"], ["web"])
    assert "10.1.0.2\tweb" not in left.splitlines() and "10.1.0.2\tmine" in left.splitlines()
    assert "10.9.9.9\tdb" in left.splitlines() and "10.2.0.5\tweb" in left.splitlines()
