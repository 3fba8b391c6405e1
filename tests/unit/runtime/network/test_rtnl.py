"""The raw rtnetlink veth request (runtime/network/rtnl.py) decodes to what we meant: the host
end named, on the bridge and up, the peer named inside the namespace with its MAC and netns fd."""

from __future__ import annotations

import struct

from runtime.network import rtnl


def _attrs(data: bytes) -> dict[int, bytes]:
    out, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, offset)
        out[kind] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def test_veth_request_layout():
    body = rtnl.veth_request("syv123", "eth0", bridge_index=7, mac="02:42:ac:11:00:09", netns_fd=42, mtu=1400)
    _family, _type, index, flags, change = struct.unpack_from("BxHiII", body)
    assert (index, flags & rtnl.IFF_UP, change & rtnl.IFF_UP) == (0, rtnl.IFF_UP, rtnl.IFF_UP)
    host = _attrs(body[16:])
    assert host[rtnl.IFLA_IFNAME] == b"syv123\0"
    assert struct.unpack("I", host[rtnl.IFLA_MASTER]) == (7,)
    assert struct.unpack("I", host[rtnl.IFLA_MTU]) == (1400,)
    info = _attrs(host[rtnl.IFLA_LINKINFO])
    assert info[rtnl.IFLA_INFO_KIND] == b"veth\0"
    peer_msg = _attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
    peer = _attrs(peer_msg[16:])
    assert peer[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert peer[rtnl.IFLA_ADDRESS] == bytes.fromhex("0242ac110009")
    assert struct.unpack("I", peer[rtnl.IFLA_NET_NS_FD]) == (42,)
    assert struct.unpack("I", peer[rtnl.IFLA_MTU]) == (1400,)


def test_no_mtu_attribute_without_mtu():
    body = rtnl.veth_request("syv1", "eth1", bridge_index=3, mac="02:00:00:00:00:01", netns_fd=5, mtu=None)
    assert rtnl.IFLA_MTU not in _attrs(body[16:])


def test_alias_request_names_the_link():
    body = rtnl.alias_request("syv123", "stackyard-abc")
    attrs = _attrs(body[16:])
    assert attrs[rtnl.IFLA_IFNAME] == b"syv123\0"
    assert attrs[rtnl.IFLA_IFALIAS] == b"stackyard-abc"


def test_errors_carry_the_errno_as_code():
    err = rtnl.NetlinkError(17, "new veth pair")
    assert isinstance(err, OSError) and err.code == 17 and err.errno == 17
