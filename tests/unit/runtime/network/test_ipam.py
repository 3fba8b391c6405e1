"""IPAM decisions (pure): pool choice around routed subnets, validation, allocation."""

import ipaddress

import pytest

from runtime import errdefs
from runtime.network import ipam

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""

V6ROUTE = (
    "fd001234000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000400 00000001 00000000 00200200 lo\n")


def test_routes_parsed_without_default():
    assert ipam.parse_routes_v4(ROUTE) == [ipaddress.ip_network("192.0.2.0/24"),
                                          ipaddress.ip_network("172.17.0.0/16")]
    assert ipam.parse_routes_v6(V6ROUTE) == [ipaddress.ip_network("fd00:1234::/64")]


def test_pool_skips_routed_and_taken_subnets():
    pools = ipam.parse_pools(ipam.DEFAULT_POOLS)
    taken = ipam.parse_routes_v4(ROUTE) + [ipaddress.ip_network("172.18.0.0/16")]
    assert str(ipam.select_subnet(pools, taken)) == "172.19.0.0/16"


def test_pool_overlap_with_a_larger_route_skips_every_piece():
    pools = ipam.parse_pools([("10.0.0.0/8", 16)])
    taken = [ipaddress.ip_network("10.0.0.0/15"), ipaddress.ip_network("10.2.5.0/24")]
    assert str(ipam.select_subnet(pools, taken)) == "10.3.0.0/16"


def test_pool_exhausted_is_failed_precondition():
    pools = ipam.parse_pools([{"base": "10.9.0.0/23", "size": 24}])
    taken = [ipaddress.ip_network("10.9.0.0/23")]
    with pytest.raises(errdefs.FailedPrecondition, match="non-overlapping"):
        ipam.select_subnet(pools, taken)


def test_bad_pool_size_named():
    with pytest.raises(errdefs.InvalidArgument, match="10.0.0.0/16: size /8"):
        ipam.parse_pools([("10.0.0.0/16", 8)])


def test_compose_spelling_normalised_with_default_gateway():
    cfg = ipam.normalize_pool_config({"subnet": "10.5.0.0/24", "ip_range": "10.5.0.128/25",
                                      "aux_addresses": {"router": "10.5.0.130"}}, "n")
    assert cfg == {"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1", "IPRange": "10.5.0.128/25",
                   "AuxiliaryAddresses": {"router": "10.5.0.130"}}


@pytest.mark.parametrize("cfg, message", [
    ({"subnet": "10.5.0.1/24"}, "host bits"),
    ({"subnet": "10.5.0.0/24", "gateway": "10.6.0.1"}, "not in subnet"),
    ({"subnet": "10.5.0.0/24", "ip_range": "10.6.0.0/25"}, "not inside subnet"),
    ({"subnet": "10.5.0.0/24", "aux_addresses": {"a": "1.2.3.4"}}, "aux_addresses.a"),
    ({"gateway": "10.5.0.1"}, "needs a subnet"),
    ({"subnet": "10.5.0.0/24", "color": "red"}, "unknown IPAM key"),
])
def test_invalid_config_named(cfg, message):
    with pytest.raises(errdefs.InvalidArgument, match=message):
        ipam.normalize_pool_config(cfg, "networks.front.ipam.config[0]")


def test_allocation_skips_gateway_aux_and_used_and_honours_range():
    pool = ipam.normalize_pool_config({"subnet": "10.5.0.0/24", "aux_addresses": {"r": "10.5.0.2"}}, "n")
    assert ipam.allocate(pool, []) == "10.5.0.3"
    assert ipam.allocate(pool, ["10.5.0.3"]) == "10.5.0.4"
    ranged = ipam.normalize_pool_config({"subnet": "10.5.0.0/24", "ip_range": "10.5.0.128/30"}, "n")
    assert ipam.allocate(ranged, []) == "10.5.0.128"
    assert ipam.allocate(ranged, ["10.5.0.128", "10.5.0.129", "10.5.0.130"]) == "10.5.0.131"
    with pytest.raises(errdefs.FailedPrecondition, match="no available"):
        ipam.allocate(ranged, ["10.5.0.128", "10.5.0.129", "10.5.0.130", "10.5.0.131"])


def test_static_address_checked():
    pool = ipam.normalize_pool_config({"subnet": "10.5.0.0/24"}, "n")
    assert ipam.allocate(pool, ["10.5.0.2"], "10.5.0.77") == "10.5.0.77"
    with pytest.raises(errdefs.Conflict, match="already in use"):
        ipam.allocate(pool, ["10.5.0.77"], "10.5.0.77")
    with pytest.raises(errdefs.Conflict):
        ipam.allocate(pool, [], "10.5.0.1")  # the gateway
    with pytest.raises(errdefs.InvalidArgument, match="not in the network's subnet"):
        ipam.allocate(pool, [], "10.6.0.7")


def test_ula_subnet_is_stable_and_avoids_taken():
    a = ipam.ula_subnet("abc")
    assert a == ipam.ula_subnet("abc") and a.prefixlen == 64 and a.subnet_of(ipaddress.ip_network("fd00::/8"))
    assert ipam.ula_subnet("abc", [a]) != a
    pool = ipam.normalize_pool_config({"Subnet": str(a)}, "n")
    assert ipam.allocate(pool, []) == str(a.network_address + 2)
