"""Firewall rules of the network manager, as text (pure).

Called by `firewall` with the whole desired state (every bridge, every published port) and
applied atomically: nftables gets one `nft -f` batch that replaces our table, iptables one
`iptables-restore --noflush` that rewrites our chains. Rebuilding the whole thing each time is
simpler than diffing and costs ~4 ms (RUNTIME-NOTES), paid on network create/remove and
publish/unpublish only, never on connect.

What the rules do (issue 6, "Isolation" and "Published ports"):
- forward: traffic between two of our bridges, or one of ours and another instance's (link
  group BRIDGE_GROUP), is dropped (networks are isolated); an internal
  network's bridge neither sends nor receives forwarded traffic (no way out); a connection
  that was DNATed by a published port passes, as in Docker.
- postrouting: outbound traffic of a non-internal network is masqueraded (switchable off);
  traffic from 127.0.0.0/8 DNATed onto a bridge is masqueraded (pitfall 8, together with
  route_localnet=1 on that bridge).
- prerouting/output: published ports: DNAT of host-local destinations to the container.
- raw prerouting (before conntrack and NAT): anything arriving from one of our bridges for
  127.0.0.0/8 is dropped. route_localnet=1 on our bridges (needed for DNAT from 127.0.0.1)
  would otherwise let a container (CAP_NET_RAW) reach services bound to the host's loopback
  with a hand-made frame (the CVE-2020-8558 class). Replies of DNATed localhost connections
  are unaffected: they arrive addressed to the gateway (masqueraded) and are un-NATed later.
- input: an internal network's bridge may reach the host only for DNS on its own gateway (and
  replies to connections the host opened); otherwise an internal container with a hand-made
  route or frame could use host services (another network's DNS forwarding upstream) to get
  out. Packets from an internal bridge with a source outside its subnet are dropped first: the
  DNS answers (and forwards upstream) by source address, so a forged source of a container on
  a normal network would carry queries out.
- When the manager itself turned on ip_forward, forwarded traffic that neither enters nor
  leaves one of our bridges (by their recorded names) or a bridge of another instance (link
  group BRIDGE_GROUP, which every instance sets on its bridges whatever their name, or the
  `sybr` prefix of bridges made before the group existed) is dropped, so the host does not
  become a router by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.network.naming import BRIDGE_GROUP, BRIDGE_PREFIX

BRIDGE_WILDCARD = BRIDGE_PREFIX + "*"  # every instance's default-named bridges


@dataclass(frozen=True)
class BridgeRule:
    bridge: str
    subnet4: str | None
    internal: bool
    masquerade: bool
    gateway4: str | None = None


@dataclass(frozen=True)
class PortRule:
    proto: str  # tcp | udp
    host_ip: str  # "" = every local address
    host_port: int
    dest_ip: str
    dest_port: int
    bridge: str


def _set(names) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in sorted(names)) + " }"


def nft_ruleset(table: str, bridges: list[BridgeRule], ports: list[PortRule],
                guard_forward: bool = False) -> str:
    """An `nft -f` batch that atomically replaces `table inet <table>` (or deletes it when
    there is nothing to do)."""
    head = f"table inet {table}\ndelete table inet {table}\n"
    if not bridges and not ports:
        return head
    ours = [b.bridge for b in bridges]
    fwd = []
    for b in bridges:
        fwd.append(f'iifname "{b.bridge}" oifname "{b.bridge}" accept')
    for b in bridges:
        if b.internal:
            fwd.append(f'iifname "{b.bridge}" drop')
            fwd.append(f'oifname "{b.bridge}" drop')
    fwd.append("ct status dnat accept")
    if len(ours) > 1:
        fwd.append(f"iifname {_set(ours)} oifname {_set(ours)} drop")
    if ours:
        # and between ours and another instance's (a second daemon's, a test daemon's); not
        # within one of theirs (with br_netfilter, bridged traffic passes this hook too)
        fwd.append(f"iifname {_set(ours)} oifgroup {BRIDGE_GROUP} drop")
        fwd.append(f"iifgroup {BRIDGE_GROUP} oifname {_set(ours)} drop")
    if guard_forward and ours:
        # other instances' bridges (another state dir) are exempt too: their traffic relies
        # on the forwarding this instance turned on
        fwd.append(f"iifgroup != {BRIDGE_GROUP} oifgroup != {BRIDGE_GROUP} "
                   f'iifname != "{BRIDGE_WILDCARD}" oifname != "{BRIDGE_WILDCARD}" '
                   f"iifname != {_set(ours)} oifname != {_set(ours)} drop")
    post = []
    dnat_bridges = sorted({p.bridge for p in ports})
    for br in dnat_bridges:
        post.append(f'oifname "{br}" ip saddr 127.0.0.0/8 masquerade')
    for b in bridges:
        if b.masquerade and not b.internal and b.subnet4:
            post.append(f'ip saddr {b.subnet4} oifname != "{b.bridge}" masquerade')
    for br in dnat_bridges:
        # hairpin: a container reaching a published port of its own network through a host
        # address; without this the reply would bypass the host and be dropped by the client
        # (with br_netfilter loaded, bridged conntrack un-NATs the reply anyway; without it
        # this rule is what makes hairpin work)
        b = next((x for x in bridges if x.bridge == br), None)
        if b is not None and b.subnet4:
            post.append(f'ct status dnat ip saddr {b.subnet4} oifname "{br}" masquerade')
    dnat = []
    for p in ports:
        match = f"ip daddr {p.host_ip} " if p.host_ip else "meta nfproto ipv4 "
        dnat.append(f"{match}{p.proto} dport {p.host_port} dnat ip to {p.dest_ip}:{p.dest_port}")
    raw = [f"iifname {_set(ours)} ip daddr 127.0.0.0/8 drop"] if ours else []
    inp = []
    for b in bridges:
        if b.internal:
            if b.subnet4:
                # a source outside its subnet is forged (the DNS would answer and forward
                # upstream for the container whose address it borrowed)
                inp.append(f'iifname "{b.bridge}" ip saddr != {b.subnet4} drop')
            inp.append(f'iifname "{b.bridge}" ct state established,related accept')
            if b.gateway4:
                inp.append(f'iifname "{b.bridge}" ip daddr {b.gateway4} meta l4proto {{ tcp, udp }} th dport 53 accept')
            inp.append(f'iifname "{b.bridge}" drop')
    body = [f"table inet {table} {{"]
    body += _chain("localnet", "type filter hook prerouting priority raw; policy accept;", raw)
    body += _chain("input", "type filter hook input priority filter; policy accept;", inp)
    body += _chain("ports", None, dnat)
    body += _chain("prerouting", "type nat hook prerouting priority -100; policy accept;",
                   ["fib daddr type local jump ports"])
    body += _chain("output", "type nat hook output priority -100; policy accept;",
                   ["fib daddr type local jump ports"])
    body += _chain("postrouting", "type nat hook postrouting priority 100; policy accept;", post)
    body += _chain("forward", "type filter hook forward priority 0; policy accept;", fwd)
    body.append("}")
    return head + "\n".join(body) + "\n"


def _chain(name: str, hook: str | None, rules: list[str]) -> list[str]:
    out = [f"\tchain {name} {{"]
    if hook:
        out.append(f"\t\t{hook}")
    out += [f"\t\t{r}" for r in rules]
    out.append("\t}")
    return out


def iptables_chains(tag: str) -> dict[str, tuple[str, str]]:
    """Our chains → (table, built-in chain that jumps to it)."""
    return {f"SY-{tag}-PRE": ("nat", "PREROUTING"), f"SY-{tag}-OUT": ("nat", "OUTPUT"),
            f"SY-{tag}-POST": ("nat", "POSTROUTING"), f"SY-{tag}-FWD": ("filter", "FORWARD"),
            f"SY-{tag}-IN": ("filter", "INPUT"), f"SY-{tag}-RAW": ("raw", "PREROUTING")}


def iptables_restore(tag: str, bridges: list[BridgeRule], ports: list[PortRule],
                     guard_forward: bool = False) -> str:
    """`iptables-restore --noflush` input that rewrites (declares = flushes) our chains.
    The jumps from the built-in chains are added separately, once."""
    pre, out, post, fwd, ports_chain = (f"SY-{tag}-PRE", f"SY-{tag}-OUT", f"SY-{tag}-POST",
                                        f"SY-{tag}-FWD", f"SY-{tag}-PORTS")
    nat = [f":{c} - [0:0]" for c in (pre, out, ports_chain, post)]
    nat.append(f"-A {pre} -m addrtype --dst-type LOCAL -j {ports_chain}")
    nat.append(f"-A {out} -m addrtype --dst-type LOCAL -j {ports_chain}")
    for p in ports:
        dst = f"-d {p.host_ip}/32 " if p.host_ip else ""
        nat.append(f"-A {ports_chain} {dst}-p {p.proto} -m {p.proto} --dport {p.host_port} "
                   f"-j DNAT --to-destination {p.dest_ip}:{p.dest_port}")
    for br in sorted({p.bridge for p in ports}):
        nat.append(f"-A {post} -s 127.0.0.0/8 -o {br} -j MASQUERADE")
    for b in bridges:
        if b.masquerade and not b.internal and b.subnet4:
            nat.append(f"-A {post} -s {b.subnet4} ! -o {b.bridge} -j MASQUERADE")
    for br in sorted({p.bridge for p in ports}):
        b = next((x for x in bridges if x.bridge == br), None)
        if b is not None and b.subnet4:
            nat.append(f"-A {post} -s {b.subnet4} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE")
    inp, raw = f"SY-{tag}-IN", f"SY-{tag}-RAW"
    raw_rules = [f":{raw} - [0:0]"]
    for b in bridges:
        raw_rules.append(f"-A {raw} -i {b.bridge} -d 127.0.0.0/8 -j DROP")
    filt = [f":{fwd} - [0:0]", f":{inp} - [0:0]"]
    for b in bridges:
        if b.internal:
            if b.subnet4:
                filt.append(f"-A {inp} -i {b.bridge} ! -s {b.subnet4} -j DROP")
            filt.append(f"-A {inp} -i {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            if b.gateway4:
                for proto in ("udp", "tcp"):
                    filt.append(f"-A {inp} -i {b.bridge} -d {b.gateway4}/32 -p {proto} -m {proto} --dport 53 -j ACCEPT")
            filt.append(f"-A {inp} -i {b.bridge} -j DROP")
    filt += _forward_isolation(fwd, bridges)
    if guard_forward and bridges:
        for b in bridges:  # ours by name, whatever the name
            filt.append(f"-A {fwd} -i {b.bridge} -j RETURN")
            filt.append(f"-A {fwd} -o {b.bridge} -j RETURN")
        filt.append(f"-A {fwd} -m devgroup --src-group {BRIDGE_GROUP:#x} -j RETURN")
        filt.append(f"-A {fwd} -m devgroup --dst-group {BRIDGE_GROUP:#x} -j RETURN")
        filt.append(f"-A {fwd} -i {BRIDGE_PREFIX}+ -j RETURN")
        filt.append(f"-A {fwd} -o {BRIDGE_PREFIX}+ -j RETURN")
        filt.append(f"-A {fwd} -j DROP")
    return ("*raw\n" + "\n".join(raw_rules) + "\nCOMMIT\n*nat\n" + "\n".join(nat) + "\nCOMMIT\n*filter\n"
            + "\n".join(filt) + "\nCOMMIT\n")


def _forward_isolation(fwd: str, bridges: list[BridgeRule]) -> list[str]:
    """The FORWARD rules both families share: a network talks within itself, an internal one
    with nobody else, two networks never with each other; a normal one goes out."""
    out = [f"-A {fwd} -i {b.bridge} -o {b.bridge} -j ACCEPT" for b in bridges]
    for b in bridges:
        if b.internal:
            out.append(f"-A {fwd} -i {b.bridge} -j DROP")
            out.append(f"-A {fwd} -o {b.bridge} -j DROP")
    out.append(f"-A {fwd} -m conntrack --ctstate DNAT -j ACCEPT")
    for a in bridges:
        for b in bridges:
            if a.bridge != b.bridge:
                out.append(f"-A {fwd} -i {a.bridge} -o {b.bridge} -j DROP")
    for b in bridges:  # and another instance's bridges (link group), not within one of theirs
        out.append(f"-A {fwd} -i {b.bridge} -m devgroup --dst-group {BRIDGE_GROUP:#x} -j DROP")
        out.append(f"-A {fwd} -o {b.bridge} -m devgroup --src-group {BRIDGE_GROUP:#x} -j DROP")
    for b in bridges:
        if not b.internal:
            out.append(f"-A {fwd} -i {b.bridge} -j ACCEPT")
            out.append(f"-A {fwd} -o {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    return out


def ip6tables_chains(tag: str) -> dict[str, tuple[str, str]]:
    """Our IPv6 chains (iptables backend) → (table, built-in chain that jumps to it)."""
    return {f"SY-{tag}-FWD": ("filter", "FORWARD"), f"SY-{tag}-IN": ("filter", "INPUT")}


def ip6tables_restore(tag: str, bridges: list[BridgeRule]) -> str:
    """`ip6tables-restore --noflush` input: with the iptables backend, the IPv6 half of what
    the nft `inet` table does for both families — isolation between networks and internal
    networks closed to the outside and to the host (the embedded DNS listens on IPv4 only, so
    an internal bridge gets no IPv6 exception). No NAT: IPv6 is not masqueraded or published."""
    fwd, inp = f"SY-{tag}-FWD", f"SY-{tag}-IN"
    filt = [f":{fwd} - [0:0]", f":{inp} - [0:0]"]
    for b in bridges:
        if b.internal:
            filt.append(f"-A {inp} -i {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            filt.append(f"-A {inp} -i {b.bridge} -j DROP")
    filt += _forward_isolation(fwd, bridges)
    return "*filter\n" + "\n".join(filt) + "\nCOMMIT\n"
