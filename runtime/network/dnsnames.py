"""Name → address tables of the embedded DNS (pure).

Built by `manager` from its persisted state every time an endpoint comes or goes, and read by
the `dns` server threads (the objects are replaced whole, never mutated, so readers need no
lock). One table per network; a client is answered from the *view* of its container: the union
of the tables of the networks that container is on (`client_views`), looked up by the client's
source address. A name on a network the container is not on is not in its view, which is the
isolation of names Docker gives, and a container on several networks resolves names of each of
them, as with Docker's 127.0.0.11.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def canonical(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class Endpoint:
    v4: str | None
    v6: str | None


@dataclass(frozen=True)
class NameTable:
    # name → endpoints answering to it, in connection order (the replicas of a service)
    names: dict[str, tuple[Endpoint, ...]] = field(default_factory=dict)
    # client address → {link alias → target name}: `links` are visible to the linking
    # container only
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    def lookup(self, name: str, client: str | None = None) -> tuple[Endpoint, ...] | None:
        name = canonical(name)
        if client is not None:
            target = self.links.get(client, {}).get(name)
            if target is not None:
                return self.names.get(canonical(target))
        return self.names.get(name)


def endpoint_names(ep: dict) -> list[str]:
    """Every name an endpoint answers to: DNSNames (container name, service name, hostname,
    short id…) plus aliases."""
    return [canonical(n) for n in [*ep.get("DNSNames", []), *ep.get("Aliases", [])] if n]


def parse_link(link: str) -> tuple[str, str]:
    """`target[:alias]` (Compose) or Docker's HostConfig form `/target:/container/alias`
    → (target, alias)."""
    target, _, alias = link.partition(":")
    target = target.lstrip("/")
    alias = alias.rsplit("/", 1)[-1]
    return target, alias or target


def build_table(endpoints: list[dict]) -> NameTable:
    """`endpoints`: the endpoint settings of one network, in connection order."""
    names: dict[str, list[Endpoint]] = {}
    links: dict[str, dict[str, str]] = {}
    for ep in endpoints:
        entry = Endpoint(ep.get("IPAddress") or None, ep.get("GlobalIPv6Address") or None)
        for name in dict.fromkeys(endpoint_names(ep)):
            names.setdefault(name, []).append(entry)
        for link in ep.get("Links", []):
            target, alias = parse_link(link)
            for client in (entry.v4, entry.v6):
                if client:
                    links.setdefault(client, {})[canonical(alias)] = target
    return NameTable({k: tuple(v) for k, v in names.items()}, links)


@dataclass(frozen=True)
class ClientView:
    """What one container may resolve: `table` (its networks' names, links keyed by its own
    addresses) and whether other names go upstream (not when all its networks are internal)."""
    table: NameTable
    forward: bool


def merge_tables(tables: list[NameTable]) -> NameTable:
    """Union of several networks' tables, in the container's connection order; a name known
    on several networks is answered from the first one that has it (Docker does the same)."""
    if len(tables) == 1:
        return tables[0]
    names: dict[str, tuple[Endpoint, ...]] = {}
    links: dict[str, dict[str, str]] = {}
    for t in tables:
        for name, eps in t.names.items():
            names.setdefault(name, eps)
        for client, aliases in t.links.items():
            merged = links.setdefault(client, {})
            for alias, target in aliases.items():
                merged.setdefault(alias, target)
    return NameTable(names, links)


def client_views(containers: list[tuple[list[str], list[tuple[NameTable, bool]]]]) -> dict[str, ClientView]:
    """`containers`: for each container, (its addresses, [(table, internal) of each of its
    networks in connection order]) → {source address: view}. A container's links are
    visible from any of its addresses (it may ask from either interface)."""
    views: dict[str, ClientView] = {}
    for addresses, nets in containers:
        if not nets:
            continue
        merged = merge_tables([t for t, _ in nets])
        own_links: dict[str, str] = {}
        for a in addresses:
            for alias, target in merged.links.get(a, {}).items():
                own_links.setdefault(alias, target)
        table = NameTable(merged.names, {a: own_links for a in addresses} if own_links else {})
        view = ClientView(table, forward=any(not internal for _, internal in nets))
        for a in addresses:
            views[a] = view
    return views


def rotate(items: tuple, counter: int) -> list:
    """Round-robin order: each query starts one further along the replicas."""
    if not items:
        return []
    k = counter % len(items)
    return list(items[k:] + items[:k])
