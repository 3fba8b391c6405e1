"""Render validation diagnostics as text, JSON, SARIF, GitHub workflow commands or JUnit XML.

Called by `cli.app` (`stackyard validate --format ...`). Pure: every renderer takes the reports
of the validated targets and returns a string; `app` decides where it goes (text to stderr,
the machine formats to stdout) and what the exit code is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from orchestrator.errors import Diagnostic, Severity

TOOL_NAME = "stackyard"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True)
class FileReport:
    """The outcome of validating one target: a PATH given to `validate`, or the discovered files."""

    name: str
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def is_valid(self) -> bool:
        return not self.errors


def _all(reports: Sequence[FileReport]) -> list[Diagnostic]:
    """Every diagnostic, sorted by position; a file seen by two targets is reported once."""
    return sorted(set(d for r in reports for d in r.diagnostics), key=Diagnostic.sort_key)


# ---- text ----------------------------------------------------------------------------------

def render_text(reports: Sequence[FileReport]) -> str:
    """One `file:line:col: path: message` line per diagnostic, like a compiler."""
    return "".join(d.render() + "\n" for d in _all(reports))


# ---- json ----------------------------------------------------------------------------------

def diagnostic_dict(d: Diagnostic) -> dict:
    return {
        "file": d.position.file,
        "line": d.position.line,
        "column": d.position.column,
        "path": d.path,
        "message": d.message,
        "severity": d.severity.value,
        "hint": d.hint,
        "code": d.code,
    }


def render_json(reports: Sequence[FileReport]) -> str:
    return json.dumps([diagnostic_dict(d) for d in _all(reports)], indent=2,
                      ensure_ascii=False) + "\n"


# ---- sarif ---------------------------------------------------------------------------------

def _message(d: Diagnostic) -> str:
    """The diagnostic without its position (machine formats carry the position separately)."""
    text = f"{d.path}: {d.message}" if d.path else d.message
    return f"{text} ({d.hint})" if d.hint else text


def _uri(file: str) -> str:
    # SARIF wants a URI reference: relative paths stay relative (code scanning resolves them
    # against the checkout), absolute ones become file:// URIs.
    from pathlib import PurePath
    from urllib.parse import quote

    path = PurePath(file)
    if path.is_absolute():
        return "file://" + quote(path.as_posix())
    return quote(path.as_posix())


def render_sarif(reports: Sequence[FileReport]) -> str:
    """SARIF 2.1.0, one run, one rule per diagnostic code (for GitHub code scanning)."""
    diagnostics = _all(reports)
    rule_ids = sorted({d.code for d in diagnostics})
    results = []
    for d in diagnostics:
        physical: dict = {"artifactLocation": {"uri": _uri(d.position.file)}}
        # A region is only valid with a 1-based line; file-level problems have none.
        if d.position.line > 0:
            region = {"startLine": d.position.line}
            if d.position.column > 0:
                region["startColumn"] = d.position.column
            physical["region"] = region
        location: dict = {"physicalLocation": physical}
        if d.path:
            location["logicalLocations"] = [{"fullyQualifiedName": d.path, "kind": "member"}]
        results.append({
            "ruleId": d.code,
            "ruleIndex": rule_ids.index(d.code),
            "level": "error" if d.severity is Severity.ERROR else "warning",
            "message": {"text": _message(d)},
            "locations": [location],
        })
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "rules": [{"id": r, "shortDescription": {"text": r}} for r in rule_ids],
            }},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# ---- github workflow commands ---------------------------------------------------------------

def _escape_data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reports: Sequence[FileReport]) -> str:
    """`::error file=F,line=L,col=C::message` lines (annotations in a GitHub Actions run)."""
    lines = []
    for d in _all(reports):
        props = [f"file={_escape_property(d.position.file)}"]
        if d.position.line > 0:
            props.append(f"line={d.position.line}")
            if d.position.column > 0:
                props.append(f"col={d.position.column}")
        props.append(f"title={_escape_property(TOOL_NAME + ' ' + d.code)}")
        level = "error" if d.severity is Severity.ERROR else "warning"
        lines.append(f"::{level} {','.join(props)}::{_escape_data(_message(d))}\n")
    return "".join(lines)


# ---- junit ---------------------------------------------------------------------------------

def render_junit(reports: Sequence[FileReport]) -> str:
    """One <testsuite>, one <testcase> per validated target; errors become its <failure>."""
    import xml.etree.ElementTree as ET

    failures = sum(1 for r in reports if not r.is_valid)
    suite = ET.Element("testsuite", {
        "name": f"{TOOL_NAME} validate",
        "tests": str(len(reports)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
    })
    for report in reports:
        case = ET.SubElement(suite, "testcase", {"classname": f"{TOOL_NAME}.validate",
                                                 "name": report.name})
        errors = sorted(report.errors, key=Diagnostic.sort_key)
        if errors:
            noun = "error" if len(errors) == 1 else "errors"
            failure = ET.SubElement(case, "failure", {"message": f"{len(errors)} {noun}",
                                                      "type": errors[0].code})
            failure.text = "\n".join(d.render() for d in errors)
        warnings = sorted(report.warnings, key=Diagnostic.sort_key)
        if warnings:
            ET.SubElement(case, "system-err").text = "\n".join(d.render() for d in warnings)
    ET.indent(suite)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(suite, encoding="unicode") + "\n")


RENDERERS: dict[str, Callable[[Sequence[FileReport]], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "junit": render_junit,
}


def render(fmt: str, reports: Iterable[FileReport]) -> str:
    """Render `reports` in format `fmt` (a key of `RENDERERS`)."""
    return RENDERERS[fmt](list(reports))
