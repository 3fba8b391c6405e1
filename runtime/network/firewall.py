"""Applies the rules of `rules` to the kernel: nftables first, iptables next (issue 6).

Called by `manager` after any change to networks or published ports. The backend is chosen
once, automatically, and logged; `kind` says which ("nft", "iptables" or "none" when neither
works — then networks are not isolated and ports need the userland proxy). The nft table is
`inet` (both families); the iptables backend writes ip6tables chains too, for IPv6 isolation.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from runtime import errdefs
from runtime.network import rules

log = logging.getLogger(__name__)


def _run(argv: list[str], text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=text, capture_output=True, text=True)


def nft_works() -> bool:
    return shutil.which("nft") is not None and _run(["nft", "list", "tables"]).returncode == 0


def iptables_works() -> bool:
    return (shutil.which("iptables") is not None and shutil.which("iptables-restore") is not None
            and _run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).returncode == 0)


def choose(preferred: str = "auto") -> str:
    if preferred in ("nft", "iptables"):
        return preferred
    if nft_works():
        return "nft"
    if iptables_works():
        return "iptables"
    return "none"


class Firewall:
    def __init__(self, kind: str, table: str, tag: str):
        self.kind, self.table, self.tag = kind, table, tag
        # iptables-nft creates the `ip nat`/`ip filter` tables on first use; remember which
        # ones we caused so clear() can remove them again when they are left empty
        self._created: set[str] | None = None
        log.info("network firewall backend: %s", kind)

    def apply(self, bridges: list[rules.BridgeRule], ports: list[rules.PortRule],
              guard_forward: bool) -> None:
        if self.kind == "nft":
            text = rules.nft_ruleset(self.table, bridges, ports, guard_forward)
            done = _run(["nft", "-f", "-"], text)
            if done.returncode != 0:
                raise errdefs.Internal(f"nft -f (table inet {self.table}) failed: {done.stderr.strip()}")
        elif self.kind == "iptables":
            if not bridges and not ports:
                self.clear()
                return
            self._ensure_jumps()
            text = rules.iptables_restore(self.tag, bridges, ports, guard_forward)
            done = _run(["iptables-restore", "--noflush"], text)
            if done.returncode != 0:
                raise errdefs.Internal(f"iptables-restore of the SY-{self.tag}-* chains failed: {done.stderr.strip()}")
            if self._has_ip6tables():
                done = _run(["ip6tables-restore", "--noflush"], rules.ip6tables_restore(self.tag, bridges))
                if done.returncode != 0:
                    raise errdefs.Internal(f"ip6tables-restore of the SY-{self.tag}-* chains failed: {done.stderr.strip()}")

    def _has_ip6tables(self) -> bool:
        return shutil.which("ip6tables") is not None and shutil.which("ip6tables-restore") is not None

    def _families(self) -> list[tuple[str, str, dict]]:
        """(iptables command, nft family of the tables it uses, our chains) per family."""
        out = [("iptables", "ip", rules.iptables_chains(self.tag))]
        if self._has_ip6tables():
            out.append(("ip6tables", "ip6", rules.ip6tables_chains(self.tag)))
        return out

    def _ensure_jumps(self) -> None:
        if self._created is None:
            has_nft = shutil.which("nft") is not None
            self._created = {(family, t) for _, family, chains in self._families()
                             for t in {t for t, _ in chains.values()}
                             if has_nft and _run(["nft", "list", "table", family, t]).returncode != 0}
        for cmd, _, chains in self._families():
            for chain, (table, builtin) in chains.items():
                if _run([cmd, "-t", table, "-S", chain]).returncode != 0:
                    _run([cmd, "-t", table, "-N", chain])
                if _run([cmd, "-t", table, "-C", builtin, "-j", chain]).returncode != 0:
                    done = _run([cmd, "-t", table, "-I", builtin, "1", "-j", chain])
                    if done.returncode != 0:
                        raise errdefs.Internal(f"{cmd} -I {builtin} -j {chain}: {done.stderr.strip()}")

    def clear(self) -> None:
        """Remove everything we installed (table or chains)."""
        if self.kind == "nft":
            _run(["nft", "-f", "-"], rules.nft_ruleset(self.table, [], []))
        elif self.kind == "iptables":
            for cmd, family, ours in self._families():
                chains = dict(ours)
                if cmd == "iptables":
                    chains[f"SY-{self.tag}-PORTS"] = ("nat", None)
                for chain, (table, builtin) in chains.items():
                    if builtin:
                        while _run([cmd, "-t", table, "-D", builtin, "-j", chain]).returncode == 0:
                            pass
                for chain, (table, _) in chains.items():
                    _run([cmd, "-t", table, "-F", chain])
                for chain, (table, _) in chains.items():
                    _run([cmd, "-t", table, "-X", chain])
                for fam, table in self._created or ():
                    if fam != family:
                        continue
                    listing = _run([cmd, "-t", table, "-S"]).stdout.split("\n")
                    if not any(line.startswith(("-A", "-N")) for line in listing):
                        _run(["nft", "delete", "table", family, table])
            self._created = None

    def present(self) -> bool:
        if self.kind == "nft":
            return _run(["nft", "list", "table", "inet", self.table]).returncode == 0
        if self.kind == "iptables":
            return _run(["iptables", "-t", "nat", "-S", f"SY-{self.tag}-POST"]).returncode == 0
        return False
