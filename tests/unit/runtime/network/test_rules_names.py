"""Firewall rule text and DNS name tables (pure)."""

from runtime.network import rules
from runtime.network.dnsnames import Endpoint, NameTable, build_table, client_views, rotate

A = rules.BridgeRule("sybraaaa", "10.1.0.0/16", internal=False, masquerade=True)
B = rules.BridgeRule("sybrbbbb", "10.2.0.0/16", internal=False, masquerade=True)
INT = rules.BridgeRule("sybrcccc", "10.3.0.0/16", internal=True, masquerade=True)
PORT = rules.PortRule("tcp", "127.0.0.1", 8080, "10.1.0.2", 80, "sybraaaa")


def test_nft_ruleset_replaces_our_table_atomically():
    text = rules.nft_ruleset("stackyard", [A, B, INT], [PORT])
    assert text.startswith("table inet stackyard\ndelete table inet stackyard\ntable inet stackyard {")
    assert 'iifname "sybraaaa" oifname "sybraaaa" accept' in text
    assert 'iifname "sybrcccc" drop' in text and 'oifname "sybrcccc" drop' in text
    assert 'iifname { "sybraaaa", "sybrbbbb", "sybrcccc" } oifname { "sybraaaa", "sybrbbbb", "sybrcccc" } drop' in text
    # the DNAT exception comes before the isolation drop; intra-bridge accept before both
    assert text.index("accept\n") < text.index("ct status dnat accept") < text.index("} drop")
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.1.0.2:80" in text
    assert 'oifname "sybraaaa" ip saddr 127.0.0.0/8 masquerade' in text
    assert 'ip saddr 10.1.0.0/16 oifname != "sybraaaa" masquerade' in text
    assert "10.3.0.0/16 masquerade" not in text and "10.3.0.0/16 oifname" not in text  # internal: never masqueraded
    assert "iifname !=" not in text


def test_nft_ruleset_all_addresses_guard_and_empty():
    any_port = rules.PortRule("udp", "", 5353, "10.1.0.2", 53, "sybraaaa")
    text = rules.nft_ruleset("t", [A], [any_port], guard_forward=True)
    assert "meta nfproto ipv4 udp dport 5353 dnat ip to 10.1.0.2:53" in text
    assert 'iifname != { "sybraaaa" } oifname != { "sybraaaa" } drop' in text
    no_masq = rules.BridgeRule("sybraaaa", "10.1.0.0/16", internal=False, masquerade=False)
    assert "masquerade" not in rules.nft_ruleset("t", [no_masq], [])
    assert rules.nft_ruleset("t", [], []) == "table inet t\ndelete table inet t\n"


def test_iptables_restore_text():
    text = rules.iptables_restore("abc", [A, B, INT], [PORT])
    assert ":SY-abc-PORTS - [0:0]" in text
    assert "-A SY-abc-PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80" in text
    assert "-A SY-abc-FWD -i sybraaaa -o sybrbbbb -j DROP" in text
    assert "-A SY-abc-FWD -i sybrcccc -j DROP" in text
    assert "-A SY-abc-POST -s 10.1.0.0/16 ! -o sybraaaa -j MASQUERADE" in text
    assert text.count("COMMIT") == 3


def test_name_table_services_aliases_links_and_round_robin():
    eps = [
        {"IPAddress": "10.1.0.2", "GlobalIPv6Address": "", "DNSNames": ["s-web-1", "web"], "Aliases": ["www"]},
        {"IPAddress": "10.1.0.3", "GlobalIPv6Address": "fd00::3", "DNSNames": ["s-web-2", "web"], "Aliases": []},
        {"IPAddress": "10.1.0.4", "GlobalIPv6Address": "", "DNSNames": ["client"], "Aliases": [],
         "Links": ["s-web-1:legacy"]},
    ]
    table = build_table(eps)
    assert table.lookup("WEB.") == (Endpoint("10.1.0.2", None), Endpoint("10.1.0.3", "fd00::3"))
    assert table.lookup("www") == (Endpoint("10.1.0.2", None),)
    assert table.lookup("legacy") is None  # a link is visible to the linking container only
    assert table.lookup("legacy", client="10.1.0.4") == (Endpoint("10.1.0.2", None),)
    assert table.lookup("db") is None
    both = table.lookup("web")
    assert rotate(both, 0) == list(both) and rotate(both, 1) == [both[1], both[0]]


def test_hairpin_masquerade_only_for_bridges_with_published_ports():
    text = rules.nft_ruleset("t", [A, B], [PORT])
    assert 'ct status dnat ip saddr 10.1.0.0/16 oifname "sybraaaa" masquerade' in text
    assert 'ct status dnat ip saddr 10.2.0.0/16' not in text


def test_link_forms():
    from runtime.network.dnsnames import parse_link
    assert parse_link("db") == ("db", "db")
    assert parse_link("db:database") == ("db", "database")
    assert parse_link("/app-db-1:/app-web-1/database") == ("app-db-1", "database")


GW_A = rules.BridgeRule("sybraaaa", "10.1.0.0/16", internal=False, masquerade=True, gateway4="10.1.0.1")
GW_INT = rules.BridgeRule("sybrcccc", "10.3.0.0/16", internal=True, masquerade=True, gateway4="10.3.0.1")


def test_nft_drops_loopback_destinations_from_our_bridges_before_conntrack():
    text = rules.nft_ruleset("t", [GW_A, GW_INT], [PORT])
    raw = text[text.index("chain localnet"):]
    raw = raw[:raw.index("}\n")]
    assert "type filter hook prerouting priority raw;" in raw
    assert 'iifname { "sybraaaa", "sybrcccc" } ip daddr 127.0.0.0/8 drop' in raw


def test_nft_internal_bridge_reaches_the_host_only_for_its_own_dns():
    text = rules.nft_ruleset("t", [GW_A, GW_INT], [])
    inp = text[text.index("chain input"):]
    inp = inp[:inp.index("}\n\tchain")]
    lines = [l.strip() for l in inp.splitlines()[2:] if l.strip()]
    assert lines == ['iifname "sybrcccc" ip saddr != 10.3.0.0/16 drop',  # a borrowed source first
                     'iifname "sybrcccc" ct state established,related accept',
                     'iifname "sybrcccc" ip daddr 10.3.0.1 meta l4proto { tcp, udp } th dport 53 accept',
                     'iifname "sybrcccc" drop']  # the normal network's input is not filtered


def test_iptables_raw_and_input_chains():
    text = rules.iptables_restore("abc", [GW_A, GW_INT], [PORT], guard_forward=True)
    assert text.startswith("*raw\n:SY-abc-RAW - [0:0]\n")
    assert "-A SY-abc-RAW -i sybraaaa -d 127.0.0.0/8 -j DROP" in text
    assert "-A SY-abc-IN -i sybrcccc -d 10.3.0.1/32 -p udp -m udp --dport 53 -j ACCEPT" in text
    assert text.index("--dport 53 -j ACCEPT") < text.index("-A SY-abc-IN -i sybrcccc -j DROP")
    assert "-A SY-abc-IN -i sybraaaa" not in text
    assert text.index("-A SY-abc-IN -i sybrcccc ! -s 10.3.0.0/16 -j DROP") < text.index("--dport 53 -j ACCEPT")
    # the forwarding guard spares every instance's bridges
    assert text.index("-A SY-abc-FWD -i sybr+ -j RETURN") < text.index("-A SY-abc-FWD -j DROP")
    assert rules.iptables_chains("abc")["SY-abc-RAW"] == ("raw", "PREROUTING")
    assert rules.iptables_chains("abc")["SY-abc-IN"] == ("filter", "INPUT")


def test_nft_forward_guard_spares_other_instances_bridges():
    text = rules.nft_ruleset("t", [GW_A], [], guard_forward=True)
    assert 'iifname != "sybr*" oifname != "sybr*" iifname != { "sybraaaa" }' in text
    # bridges renamed by option: any instance's by link group, ours also by name
    assert f"iifgroup != {rules.BRIDGE_GROUP} oifgroup != {rules.BRIDGE_GROUP} " in text
    renamed = rules.BridgeRule("mybr0", "10.9.0.0/24", internal=False, masquerade=True)
    ipt = rules.iptables_restore("abc", [renamed], [], guard_forward=True)
    drop = ipt.index("-A SY-abc-FWD -j DROP")
    for rule in ("-A SY-abc-FWD -o mybr0 -j RETURN", "-m devgroup --src-group 0x5359 -j RETURN",
                 "-m devgroup --dst-group 0x5359 -j RETURN"):
        assert ipt.index(rule) < drop


def test_client_views_union_of_the_containers_networks():
    front = build_table([
        {"IPAddress": "10.1.0.2", "GlobalIPv6Address": "", "DNSNames": ["web"], "Aliases": []},
        {"IPAddress": "10.1.0.3", "GlobalIPv6Address": "", "DNSNames": ["x", "dup"], "Aliases": [],
         "Links": ["web:site"]},
        {"IPAddress": "10.1.0.4", "GlobalIPv6Address": "", "DNSNames": ["y"], "Aliases": []},
    ])
    back = build_table([
        {"IPAddress": "10.2.0.2", "GlobalIPv6Address": "fd00::2", "DNSNames": ["db", "dup"], "Aliases": []},
        {"IPAddress": "10.2.0.3", "GlobalIPv6Address": "", "DNSNames": ["x"], "Aliases": []},
    ])
    views = client_views([(["10.1.0.3", "10.2.0.3"], [(front, False), (back, True)]),
                          (["10.1.0.4"], [(front, False)]),
                          (["10.2.0.2", "fd00::2"], [(back, True)]),
                          ([], [])])
    x = views["10.1.0.3"]
    assert views["10.2.0.3"] is x and x.forward  # one view whichever interface asks
    assert x.table.lookup("db") == (Endpoint("10.2.0.2", "fd00::2"),)
    assert x.table.lookup("web") == (Endpoint("10.1.0.2", None),)
    assert x.table.lookup("dup") == (Endpoint("10.1.0.3", None),)  # the first network wins
    assert x.table.lookup("site", client="10.2.0.3") == (Endpoint("10.1.0.2", None),)  # its link, from either address
    y = views["10.1.0.4"]
    assert y.table.lookup("db") is None and y.table.lookup("site", client="10.1.0.4") is None
    db = views["fd00::2"]
    assert not db.forward and db.table.lookup("web") is None  # only internal networks: no upstream
    assert "10.9.9.9" not in views
    assert client_views([(["10.5.0.2"], [(NameTable(), False)])])["10.5.0.2"].table.lookup("a") is None


def test_ip6tables_text_isolates_and_closes_internal_networks():
    text = rules.ip6tables_restore("abc", [A, B, INT])
    assert text.startswith("*filter\n:SY-abc-FWD - [0:0]\n:SY-abc-IN - [0:0]\n") and text.endswith("COMMIT\n")
    assert "-A SY-abc-FWD -i sybraaaa -o sybrbbbb -j DROP" in text
    assert "-A SY-abc-FWD -o sybrcccc -j DROP" in text
    assert text.index("-A SY-abc-IN -i sybrcccc -m conntrack") < text.index("-A SY-abc-IN -i sybrcccc -j DROP")
    assert "-A SY-abc-IN -i sybraaaa" not in text and "MASQUERADE" not in text and "DNAT --to" not in text
    assert set(rules.ip6tables_chains("abc")) == {"SY-abc-FWD", "SY-abc-IN"}


def test_forwarding_to_and_from_another_instances_bridges_is_dropped():
    nft = rules.nft_ruleset("t", [A, B], [])
    assert f'iifname {{ "sybraaaa", "sybrbbbb" }} oifgroup {rules.BRIDGE_GROUP} drop' in nft
    assert f'iifgroup {rules.BRIDGE_GROUP} oifname {{ "sybraaaa", "sybrbbbb" }} drop' in nft
    assert nft.index("ct status dnat accept") < nft.index("oifgroup")  # published ports still pass
    ipt = rules.iptables_restore("abc", [A], [])
    assert "-A SY-abc-FWD -i sybraaaa -m devgroup --dst-group 0x5359 -j DROP" in ipt
    assert "-A SY-abc-FWD -o sybraaaa -m devgroup --src-group 0x5359 -j DROP" in ipt
