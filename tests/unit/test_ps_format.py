"""`stackyard ps` columns and JSON (orchestrator/cli/ps_format.py), from engine list entries;
the same against both engines: tests/integration/test_reconcile_dockerd.py."""

import json

import pytest

from orchestrator.cli import ps_format
from runtime.humanize import human_duration

NOW = 1_800_000_000


def entry(service, number, state="running", status="Up 2 minutes", ports=(), created=NOW - 120, command="sleep 3600"):
    return {"Id": f"{service}{number}" * 8, "Names": [f"/st-{service}-{number}"], "Image": "busybox:1",
            "Command": command, "Created": created, "State": state, "Status": status, "Ports": list(ports),
            "Labels": {"com.docker.compose.project": "st", "com.docker.compose.service": service,
                       "com.docker.compose.container-number": str(number)}}


@pytest.mark.parametrize("seconds, text", [
    (0, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (5399, "About an hour"),
    (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (15 * 86400, "2 weeks"),
    (61 * 86400, "2 months"), (800 * 86400, "2 years"),
])
def test_ages_read_as_docker_writes_them(seconds, text):
    assert human_duration(seconds) == text


def test_ports_published_with_their_address_and_exposed_ones_bare():
    summary = {"Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                         {"PrivatePort": 53, "Type": "udp"},
                         {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                         {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]}
    assert ps_format.ports_text(summary) == "53/udp, 127.0.0.1:8080->80/tcp, [::]:8080->80/tcp"
    assert ps_format.publishers(summary) == [
        {"URL": "", "TargetPort": 53, "PublishedPort": 0, "Protocol": "udp"},
        {"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"},
        {"URL": "::", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}]


def test_rows_are_sorted_by_service_and_number_and_stopped_ones_need_all():
    listed = [entry("web", 2), entry("web", 10), entry("db", 1), entry("job", 1, state="exited", status="Exited (3) 1 second ago")]
    assert [r["Name"] for r in ps_format.rows(listed, now=NOW, all_=False)] == ["st-db-1", "st-web-2", "st-web-10"]
    rows = ps_format.rows(listed, now=NOW, all_=True)
    job = next(r for r in rows if r["Service"] == "job")
    assert job["ExitCode"] == 3 and job["RunningFor"] == "2 minutes ago" and job["Project"] == "st"
    lines = ps_format.render_json(rows).splitlines()
    assert [json.loads(line)["Name"] for line in lines] == [r["Name"] for r in rows]  # one object per line
    assert next(r for r in rows if r["Service"] == "db")["ExitCode"] == 0  # running: 0, as compose


def test_running_one_offs_are_listed_only_with_all():
    one_off = entry("web", 1)
    one_off["Names"] = ["/st-web-run-0123456789ab"]
    one_off["Labels"]["com.docker.compose.oneoff"] = "True"
    listed = [entry("web", 1), one_off]
    assert [r["Name"] for r in ps_format.rows(listed, now=NOW, all_=False)] == ["st-web-1"]
    assert {r["Name"] for r in ps_format.rows(listed, now=NOW, all_=True)} == {"st-web-1", "st-web-run-0123456789ab"}


def test_the_table_has_composes_columns_and_shortens_long_commands():
    rows = ps_format.rows([entry("web", 1, command="sh -c while true; do date; sleep 1; done",
                                 ports=[{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])],
                          now=NOW, all_=False)
    header, line = ps_format.render_table(rows).splitlines()
    assert header.split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert '"sh -c while true; d…"' in line
    assert line.startswith("st-web-1") and line.endswith("127.0.0.1:8080->80/tcp")
    assert header.index("PORTS") == line.index("127.0.0.1")
