"""`stackyard ps` output: the columns and JSON fields of `docker compose ps`.

Called by the `ps` command with the engine's container list entries (`GET /containers/json`)
of one stack. Pure: the caller passes the time, so the "ago" texts are testable.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from orchestrator.observe import container_from_summary
from runtime.humanize import human_duration

COLUMNS = ("NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS")
COMMAND_WIDTH = 20


def _port_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def publishers(summary: Mapping[str, Any]) -> list[dict]:
    """The published and exposed ports, as `docker compose ps --format json` lists them."""
    found = {(p.get("IP") or "", p.get("PrivatePort") or 0, p.get("PublicPort") or 0, p.get("Type") or "tcp")
             for p in summary.get("Ports") or ()}
    return [{"URL": ip, "TargetPort": target, "PublishedPort": published, "Protocol": proto}
            for ip, target, published, proto in sorted(found, key=lambda p: (p[1], p[3], p[2], p[0]))]


def ports_text(summary: Mapping[str, Any]) -> str:
    """`127.0.0.1:8080->80/tcp, 53/udp`: published ports with their host address, others bare."""
    texts = []
    for entry in publishers(summary):
        port = f"{entry['TargetPort']}/{entry['Protocol']}"
        if entry["PublishedPort"]:
            port = f"{_port_host(entry['URL'] or '0.0.0.0')}:{entry['PublishedPort']}->{port}"
        if port not in texts:
            texts.append(port)
    return ", ".join(texts)


def _command(command: str) -> str:
    if len(command) > COMMAND_WIDTH:
        command = command[:COMMAND_WIDTH - 1] + "…"
    return f'"{command}"'


def rows(summaries: list[Mapping[str, Any]], *, now: float, all_: bool) -> list[dict]:
    """One JSON object per container, sorted by service and number; stopped ones and one-offs
    (`stackyard run`) only with `all_`, as docker compose ps."""
    chosen = []
    for summary in summaries:
        observed = container_from_summary(dict(summary))
        if all_ or (observed.state == "running" and not observed.oneoff):
            chosen.append((observed, summary))
    chosen.sort(key=lambda pair: (pair[0].service, pair[0].number, pair[0].name))
    out = []
    for observed, summary in chosen:
        created = int(summary.get("Created") or 0)
        out.append({
            "ID": summary.get("Id", ""), "Name": observed.name,
            "Names": ",".join(n.lstrip("/") for n in summary.get("Names") or ()),
            "Image": observed.image, "Command": summary.get("Command") or "",
            "Project": observed.labels.get("com.docker.compose.project", ""), "Service": observed.service,
            "Created": created, "RunningFor": human_duration(now - created) + " ago" if created else "",
            "State": observed.state, "Status": summary.get("Status") or "", "Health": observed.health or "",
            "ExitCode": observed.exit_code or 0, "Ports": ports_text(summary), "Publishers": publishers(summary),
            "Labels": dict(observed.labels),
        })
    return out


def render_json(entries: list[dict]) -> str:
    """One object per line, as docker compose ps --format json prints since v2.21 (so `| jq
    .Name` reads each container)."""
    return "".join(json.dumps(entry) + "\n" for entry in entries)


def render_table(entries: list[dict]) -> str:
    """The table `docker compose ps` prints: columns as wide as their longest cell."""
    table = [list(COLUMNS)] + [[e["Name"], e["Image"], _command(e["Command"]), e["Service"],
                                 e["RunningFor"], e["Status"], e["Ports"]] for e in entries]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return "".join("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n"
                   for row in table)
