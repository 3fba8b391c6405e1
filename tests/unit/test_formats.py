"""cli.formats: diagnostics rendered as text, JSON, SARIF, GitHub annotations and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from orchestrator.cli.formats import RENDERERS, FileReport, render
from orchestrator.errors import Diagnostic, Position, Severity

UNDEFINED = Diagnostic(Position("compose.yaml", 14, 7), "services.web.depends_on.db",
                       'service "db" is not defined', code="undefined")
UNKNOWN_KEY = Diagnostic(Position("compose.yaml", 3, 5), "services.web.enviroment",
                         "unknown key", Severity.WARNING, hint="did you mean `environment`?",
                         code="unknown-key")
NO_FILE = Diagnostic(Position("missing.yaml"), "", "no such file", code="not-found")
SYNTAX = Diagnostic(Position("dir, with: comma/b.yaml", 2, 1), "",
                    "YAML syntax error: 50% done\nsecond line", code="yaml")

REPORTS = [
    FileReport("compose.yaml", (UNDEFINED, UNKNOWN_KEY)),
    FileReport("missing.yaml", (NO_FILE,)),
    FileReport("ok.yaml", ()),
]


def test_file_report_is_valid_without_errors():
    assert FileReport("a", (UNKNOWN_KEY,)).is_valid
    assert not FileReport("a", (UNDEFINED, UNKNOWN_KEY)).is_valid


def test_render_text_one_line_per_diagnostic_sorted():
    out = render("text", REPORTS)
    assert out.splitlines() == [
        "compose.yaml:3:5: warning: services.web.enviroment: unknown key "
        "(did you mean `environment`?)",
        'compose.yaml:14:7: services.web.depends_on.db: service "db" is not defined',
        "missing.yaml: no such file",
    ]


def test_render_text_empty_when_valid():
    assert render("text", [FileReport("ok.yaml")]) == ""


def test_render_json_fields():
    items = json.loads(render("json", REPORTS))
    assert [i["line"] for i in items] == [3, 14, 0]
    assert items[1] == {
        "file": "compose.yaml", "line": 14, "column": 7, "path": "services.web.depends_on.db",
        "message": 'service "db" is not defined', "severity": "error", "hint": None,
        "code": "undefined",
    }
    assert items[0]["severity"] == "warning"
    assert items[0]["hint"] == "did you mean `environment`?"


def test_render_json_empty_list_when_valid():
    assert json.loads(render("json", [FileReport("ok.yaml")])) == []


def test_render_sarif_structure():
    log = json.loads(render("sarif", REPORTS))
    assert log["version"] == "2.1.0"
    assert "sarif-2.1.0" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "stackyard"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == sorted({"undefined", "unknown-key", "not-found"})

    results = run["results"]
    assert [r["ruleId"] for r in results] == ["unknown-key", "undefined", "not-found"]
    assert [r["level"] for r in results] == ["warning", "error", "error"]
    for result in results:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]

    undefined = results[1]
    assert undefined["message"]["text"] == \
        'services.web.depends_on.db: service "db" is not defined'
    physical = undefined["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "compose.yaml"
    assert physical["region"] == {"startLine": 14, "startColumn": 7}
    assert undefined["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == \
        "services.web.depends_on.db"


def test_render_sarif_file_level_problem_has_no_region():
    log = json.loads(render("sarif", [FileReport("missing.yaml", (NO_FILE,))]))
    location = log["runs"][0]["results"][0]["locations"][0]
    assert "region" not in location["physicalLocation"]
    assert "logicalLocations" not in location


def test_render_sarif_uris():
    absolute = Diagnostic(Position("/srv/my app/compose.yaml", 1, 1), "", "x")
    log = json.loads(render("sarif", [FileReport("a", (absolute, SYNTAX))]))
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]]
    assert "file:///srv/my%20app/compose.yaml" in uris
    assert "dir%2C%20with%3A%20comma/b.yaml" in uris


def test_render_sarif_valid_has_no_results():
    log = json.loads(render("sarif", [FileReport("ok.yaml")]))
    assert log["runs"][0]["results"] == []


def test_render_github_workflow_commands():
    lines = render("github", REPORTS).splitlines()
    assert lines[0].startswith("::warning file=compose.yaml,line=3,col=5,")
    assert lines[1] == ("::error file=compose.yaml,line=14,col=7,title=stackyard undefined::"
                        'services.web.depends_on.db: service "db" is not defined')
    assert lines[2] == "::error file=missing.yaml,title=stackyard not-found::no such file"


def test_render_github_escapes_properties_and_data():
    (line,) = render("github", [FileReport("x", (SYNTAX,))]).splitlines()
    assert line.startswith("::error file=dir%2C with%3A comma/b.yaml,line=2,col=1,")
    assert line.endswith("::YAML syntax error: 50%25 done%0Asecond line")


def test_render_junit_one_testcase_per_file():
    root = ET.fromstring(render("junit", REPORTS))
    assert root.tag == "testsuite"
    assert root.get("tests") == "3"
    assert root.get("failures") == "2"
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == ["compose.yaml", "missing.yaml", "ok.yaml"]

    failure = cases[0].find("failure")
    assert failure.get("message") == "1 error"
    assert failure.text == \
        'compose.yaml:14:7: services.web.depends_on.db: service "db" is not defined'
    assert "did you mean" in cases[0].find("system-err").text
    assert cases[1].find("failure").text == "missing.yaml: no such file"
    assert cases[2].find("failure") is None


def test_render_junit_escapes_xml():
    bad = Diagnostic(Position("a.yaml", 1, 1), "x", 'value "<&>" is wrong')
    root = ET.fromstring(render("junit", [FileReport("a&b.yaml", (bad,))]))
    assert root.find("testcase").get("name") == "a&b.yaml"
    assert '"<&>"' in root.find("testcase/failure").text


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_render_is_deterministic_and_deduplicated(fmt):
    forward = render(fmt, [FileReport("a", (UNDEFINED, UNKNOWN_KEY))])
    backward = render(fmt, [FileReport("a", (UNKNOWN_KEY, UNDEFINED))])
    assert forward == backward
    if fmt not in ("junit",):
        twice = render(fmt, [FileReport("a", (UNDEFINED,)), FileReport("b", (UNDEFINED,))])
        assert twice == render(fmt, [FileReport("a", (UNDEFINED,))])
