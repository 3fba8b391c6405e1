"""Phase 2: YAML with positions, YAML 1.2 scalars, anchors, merge keys, tags, bad input."""

import time

from orchestrator.errors import Report
from orchestrator.loader.parse import parse
from orchestrator.loader.tree import locate, plain


def _parse(text):
    report = Report()
    docs = parse(text, "compose.yaml", report)
    return docs, [d.render() for d in report.diagnostics]


def test_parse_positions_of_keys_and_values_are_one_based():
    docs, errors = _parse("services:\n  web:\n    image: nginx\n")
    assert errors == []
    assert str(locate(docs[0], ("services", "web", "image"))) == "compose.yaml:3:12"
    assert str(locate(docs[0], ("services", "web", "image"), key=True)) == "compose.yaml:3:5"


def test_parse_scalars_follow_yaml_1_2_like_compose():
    docs, _ = _parse("a: yes\nb: on\nc: 22:22\nd: true\ne: 0440\nf: 1.5\ng: ~\nh: '1'\ni: !!str 7\n")
    assert plain(docs[0]) == {"a": "yes", "b": "on", "c": "22:22", "d": True, "e": 0o440,
                              "f": 1.5, "g": None, "h": "1", "i": "7"}


def test_parse_anchors_aliases_and_merge_keys():
    docs, errors = _parse(
        "x-base: &base\n  image: busybox\n  environment: {A: '1'}\n"
        "services:\n  web:\n    <<: *base\n    image: nginx\n  worker: *base\n")
    assert errors == []
    services = plain(docs[0])["services"]
    assert services["web"] == {"image": "nginx", "environment": {"A": "1"}}
    assert services["worker"] == {"image": "busybox", "environment": {"A": "1"}}


def test_parse_aliased_values_are_independent_copies():
    docs, _ = _parse("a: &x {k: v}\nb: *x\n")
    docs[0]["a"]["k"] = "changed"
    assert docs[0]["b"]["k"] == "v"


def test_parse_duplicate_key_is_an_error_naming_both_lines():
    _, errors = _parse("services:\n  web: {}\n  web: {}\n")
    assert errors == ["compose.yaml:3:3: services.web: duplicate key 'web' (first defined at line 2)"]


def test_parse_non_string_key_is_an_error():
    _, errors = _parse("services:\n  123:\n    image: x\n")
    assert errors == ["compose.yaml:2:3: services: non-string key in services: 123 (quote it to make it a string)"]


def test_parse_reset_and_override_tags_are_recorded():
    docs, errors = _parse("services:\n  web:\n    ports: !reset []\n    command: !override [a]\n")
    assert errors == []
    assert docs[0]["services"]["web"].tags == {"ports": "reset", "command": "override"}


def test_parse_billion_laughs_fails_fast():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.monotonic()
    docs, errors = _parse("\n".join(lines) + "\n")
    assert docs == []
    assert "excessive aliasing" in errors[0]
    assert time.monotonic() - start < 5


def test_parse_syntax_error_has_position():
    _, errors = _parse("services:\n  web:\n    image: [a\n")
    assert errors and errors[0].startswith("compose.yaml:") and "YAML syntax error" in errors[0]


def test_parse_empty_file_and_non_mapping_are_errors():
    assert _parse("")[1] == ["compose.yaml:1:1: file is empty: expected a mapping with `services`"]
    assert _parse("# only a comment\n")[1][0].endswith("file is empty: expected a mapping with `services`")
    assert _parse("- a\n- b\n")[1] == ["compose.yaml:1:1: top-level object must be a mapping, got a list"]


def test_parse_unknown_tag_is_an_error():
    _, errors = _parse("a: !vault xyz\n")
    assert errors == ["compose.yaml:1:4: a: unsupported YAML tag !vault"]


def test_parse_several_documents_give_several_trees():
    docs, errors = _parse("a: 1\n---\nb: 2\n")
    assert errors == [] and [plain(d) for d in docs] == [{"a": 1}, {"b": 2}]


def test_parse_deep_nesting_is_an_error_not_a_crash():
    _, errors = _parse("a: " + "[" * 100000 + "]" * 100000 + "\n")
    assert errors == ["compose.yaml:1:103: YAML nesting deeper than 100 levels is not supported"]


def test_parse_alias_chains_nesting_deeper_than_the_text_are_refused():
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 300)]
    _, errors = _parse("\n".join(lines) + "\n")
    assert errors == ["compose.yaml:1:1: YAML nesting deeper than 100 levels (through aliases) is not supported"]
