"""`.env` syntax as Docker Compose reads it."""

from orchestrator.errors import Report
from orchestrator.loader.envfile import parse_env_file
from orchestrator.loader.interpolate import substitute


def _parse(text, lookup=None):
    report = Report()
    values = parse_env_file(text, ".env", report, lookup=lookup or {},
                            substitute=lambda v, get: substitute(v, get))
    return values, [d.render() for d in report.diagnostics]


def test_envfile_forms():
    values, errors = _parse(
        "# comment\nA=1\nexport B=two\nC='lit $A'\nD=\"x\\ny ${A}\"\nE=plain # comment\nF: yaml\nG=\n"
        "H=\"multi\nline\"\n")
    assert errors == []
    assert values == {"A": "1", "B": "two", "C": "lit $A", "D": "x\ny 1", "E": "plain", "F": "yaml",
                      "G": "", "H": "multi\nline"}


def test_envfile_bad_line_is_reported_with_its_line():
    _, errors = _parse("A=1\nthis is not valid\n")
    assert errors == [".env:2:1: invalid line in env file: 'this is not valid' (expected KEY=VALUE)"]


def test_envfile_references_lookup_environment():
    values, _ = _parse("URL=http://${HOST:-localhost}:${PORT}\n", {"PORT": "80"})
    assert values == {"URL": "http://localhost:80"}
