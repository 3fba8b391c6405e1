"""Phase 4c: override merge rules, !reset / !override, positions after merge."""

from orchestrator.errors import Report
from orchestrator.loader.merge import apply_reset_tags, merge
from orchestrator.loader.parse import parse
from orchestrator.loader.tree import locate, plain


def _merge(base, override):
    report = Report()
    a = parse(base, "a.yaml", report)[0]
    b = parse(override, "b.yaml", report)[0]
    assert report.diagnostics == []
    return apply_reset_tags(merge(apply_reset_tags(a), b))


def test_merge_mappings_and_scalars_later_wins():
    m = _merge("services:\n  web:\n    image: a\n    restart: always\n", "services:\n  web:\n    image: b\n")
    assert plain(m)["services"]["web"] == {"image": "b", "restart": "always"}


def test_merge_command_is_replaced_not_appended():
    m = _merge("services:\n  web:\n    command: [a, b]\n", "services:\n  web:\n    command: [c]\n")
    assert plain(m)["services"]["web"]["command"] == ["c"]


def test_merge_environment_list_and_mapping_meet():
    m = _merge("services:\n  web:\n    environment: [A=1, B=2]\n",
               "services:\n  web:\n    environment: {B: '3', C: '4'}\n")
    assert plain(m)["services"]["web"]["environment"] == {"A": "1", "B": "3", "C": "4"}


def test_merge_ports_unique_and_volumes_by_target():
    m = _merge("services:\n  web:\n    ports: ['80:80']\n    volumes: ['./a:/data', 'v:/other']\n",
               "services:\n  web:\n    ports: ['80:80', '443:443']\n    volumes: ['./b:/data']\n")
    web = plain(m)["services"]["web"]
    assert web["ports"] == ["80:80", "443:443"]
    assert web["volumes"] == ["./b:/data", "v:/other"]


def test_merge_depends_on_list_and_mapping():
    m = _merge("services:\n  web:\n    depends_on: [db]\n",
               "services:\n  web:\n    depends_on:\n      cache: {condition: service_healthy}\n")
    assert plain(m)["services"]["web"]["depends_on"] == {
        "db": {"condition": "service_started"}, "cache": {"condition": "service_healthy"}}


def test_merge_reset_removes_and_override_replaces():
    m = _merge("services:\n  web:\n    ports: ['80:80']\n    labels: {a: '1'}\n",
               "services:\n  web:\n    ports: !reset []\n    labels: !override {b: '2'}\n")
    assert plain(m)["services"]["web"] == {"labels": {"b": "2"}}


def test_merge_keeps_positions_of_each_file():
    m = _merge("services:\n  web:\n    image: a\n    restart: always\n", "services:\n  web:\n    image: b\n")
    assert str(locate(m, ("services", "web", "image"))) == "b.yaml:3:12"
    assert str(locate(m, ("services", "web", "restart"))) == "a.yaml:4:14"
