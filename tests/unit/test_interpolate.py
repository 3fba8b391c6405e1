"""Phase 3: the template syntax, unset variables, required variables and typed fields."""

import pytest

from orchestrator.errors import Report
from orchestrator.loader.interpolate import TemplateError, interpolate, substitute
from orchestrator.loader.parse import parse
from orchestrator.loader.tree import plain

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080"}


@pytest.mark.parametrize("template, expected", [
    ("$SET", "value"), ("${SET}", "value"), ("a$$b", "a$b"), ("$$SET", "$SET"),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"),
    ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${UNSET:-${SET}}", "value"), ("${UNSET:-${ALSO:-deep}}", "deep"),
    ("price: $5", "price: $5"), ("x-${SET}-y", "x-value-y"),
])
def test_substitute_syntax(template, expected):
    assert substitute(template, ENV.get) == expected


@pytest.mark.parametrize("template, message", [
    ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
    ("${EMPTY:?}", "required variable EMPTY is missing a value"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${foo!}", "invalid template"),
    ("${SET", "missing closing brace"),
])
def test_substitute_errors(template, message):
    with pytest.raises(TemplateError, match=message.replace("?", r"\?")):
        substitute(template, ENV.get)


def _run(text, env=ENV, hermetic=False):
    report = Report()
    doc = parse(text, "compose.yaml", report)[0]
    interpolate(doc, env, report, hermetic=hermetic)
    return plain(doc), [d.render() for d in report.diagnostics]


def test_interpolate_unset_variable_warns_with_position_and_name():
    doc, diags = _run("services:\n  web:\n    image: 'nginx:${TAG}'\n")
    assert doc["services"]["web"]["image"] == "nginx:"
    assert diags == ['compose.yaml:3:12: warning: services.web.image: variable "TAG" is not set, '
                     'using an empty string (set TAG in the environment or .env, or write ${TAG:-default})']


def test_interpolate_required_variable_is_an_error_unless_hermetic():
    text = "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n"
    _, diags = _run(text)
    assert diags == ["compose.yaml:3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE"]
    _, diags = _run(text, hermetic=True)
    assert diags[0].startswith("compose.yaml:3:12: warning: ")


def test_interpolate_casts_typed_fields():
    doc, diags = _run("services:\n  web:\n    cpus: ${CPUS:-1.5}\n    tty: '${TTY:-yes}'\n"
                      "    scale: '${N:-2}'\n    ports: ['${PORT}:80']\n    labels: {n: '${N:-2}'}\n")
    web = doc["services"]["web"]
    assert web["cpus"] == 1.5 and web["tty"] is True and web["scale"] == 2
    assert web["ports"] == ["8080:80"] and web["labels"] == {"n": "2"}
    assert diags == []


def test_interpolate_bad_cast_is_an_error_at_the_value():
    _, diags = _run("services:\n  web:\n    scale: ${N:-many}\n")
    assert diags == ["compose.yaml:3:12: services.web.scale: after interpolation: expected an integer, got 'many'"]


def test_interpolate_leaves_keys_alone():
    doc, _ = _run("services:\n  web:\n    environment:\n      ${SET}: x\n")
    assert "${SET}" in doc["services"]["web"]["environment"]
