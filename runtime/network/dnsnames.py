"""Name → address tables of the embedded DNS (pure).

Built by `manager` from its persisted state every time an endpoint comes or goes, and read by
the `dns` server threads (the table object is replaced whole, never mutated, so readers need no
lock). One table per network: a name on another network is not in it, which is the isolation
of names Docker gives.
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


def rotate(items: tuple, counter: int) -> list:
    """Round-robin order: each query starts one further along the replicas."""
    if not items:
        return []
    k = counter % len(items)
    return list(items[k:] + items[:k])
