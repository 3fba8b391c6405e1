"""Tests for schemas/stack.schema.json (our JSON Schema for the Compose specification)."""

from __future__ import annotations

import csv
import datetime
import json
import os
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "schemas" / "stack.schema.json"


def _shared_dir() -> Path:
    env = os.environ.get("STACKYARD_SHARED")
    if env:
        return Path(env)
    # shared/ lives beside the repository checkout.
    return Path(__file__).resolve().parents[3] / "shared"


SHARED = _shared_dir()
CORPUS = SHARED / "corpus"
REFERENCE_SCHEMA = SHARED / "reference" / "compose-spec" / "compose-go-compose-spec.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, doc: object) -> list:
    return sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))


# --------------------------------------------------------------------------- schema itself


def test_schema_is_valid_draft_2020_12(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "definitions" not in schema
    Draft202012Validator.check_schema(schema)


def test_all_refs_resolve(schema: dict) -> None:
    defs = schema["$defs"]
    missing: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/$defs/"), ref
                if ref.removeprefix("#/$defs/") not in defs:
                    missing.add(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert not missing


# --------------------------------------------------------------------------- hand-written documents


def test_minimal_documents_accepted(validator: Draft202012Validator) -> None:
    assert validator.is_valid({})
    assert validator.is_valid({"services": {"web": {"image": "nginx"}}})
    assert validator.is_valid({"name": "demo", "version": "3.9", "services": {"web": {}}})


def test_misspelled_service_key_rejected(validator: Draft202012Validator) -> None:
    errors = _errors(validator, {"services": {"web": {"imagee": "nginx"}}})
    assert len(errors) == 1
    err = errors[0]
    assert list(err.absolute_path) == ["services", "web"]
    assert err.validator == "additionalProperties"
    assert "imagee" in err.message


def test_unknown_top_level_key_rejected(validator: Draft202012Validator) -> None:
    errors = _errors(validator, {"service": {"web": {"image": "nginx"}}})
    assert [e.validator for e in errors] == ["additionalProperties"]
    assert list(errors[0].absolute_path) == []


def test_extension_keys_accepted(validator: Draft202012Validator) -> None:
    doc = {
        "x-foo": {"anything": [1, 2, {"goes": True}]},
        "services": {
            "web": {
                "image": "nginx",
                "x-foo": "bar",
                "build": {"context": ".", "x-note": 1},
                "ports": [{"target": 80, "x-port-note": "ok"}],
                "logging": {"driver": "json-file", "x-log": None},
            }
        },
        "networks": {"front": {"x-net": 1}},
        "volumes": {"data": {"x-vol": 1}},
    }
    assert _errors(validator, doc) == []


@pytest.mark.parametrize(
    "port",
    [
        "8080:80",
        80,
        "127.0.0.1:8080:80/udp",
        {"target": 80, "published": "8080", "protocol": "tcp", "mode": "host"},
        {"target": "80", "published": 8080, "host_ip": "0.0.0.0", "name": "web", "app_protocol": "http"},
    ],
)
def test_ports_short_and_long_syntax(validator: Draft202012Validator, port: object) -> None:
    doc = {"services": {"web": {"image": "nginx", "ports": [port]}}}
    assert _errors(validator, doc) == []


def test_ports_long_syntax_unknown_key_rejected(validator: Draft202012Validator) -> None:
    doc = {"services": {"web": {"ports": [{"targt": 80}]}}}
    errors = _errors(validator, doc)
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["services", "web", "ports", 0], "additionalProperties")
    ]


def test_short_and_long_syntaxes(validator: Draft202012Validator) -> None:
    doc = {
        "services": {
            "a": {
                "image": "busybox",
                "environment": ["A=1", "B"],
                "depends_on": ["b"],
                "volumes": ["./data:/data:ro", "named:/srv"],
                "networks": ["front"],
                "command": "echo hi",
                "env_file": ".env",
                "extra_hosts": ["host.docker.internal:host-gateway"],
            },
            "b": {
                "image": "busybox",
                "environment": {"A": 1, "B": None, "C": True, "D": "x"},
                "depends_on": {"a": {"condition": "service_healthy", "required": False, "restart": True}},
                "volumes": [{"type": "bind", "source": ".", "target": "/src", "bind": {"create_host_path": True}}],
                "networks": {"front": {"aliases": ["b1"], "ipv4_address": "10.0.0.2"}, "back": None},
                "command": ["echo", "hi"],
                "env_file": [{"path": ".env", "required": False}, "other.env"],
                "extra_hosts": {"somehost": ["162.242.195.82", "::1"]},
                "cpus": "0.5",
                "mem_limit": "512m",
                "shm_size": 1024,
                "healthcheck": {"test": ["CMD", "true"], "interval": "10s", "retries": "3"},
                "gpus": "all",
                "deploy": {"resources": {"limits": {"cpus": 1.5, "memory": "1g"}}},
                "develop": {"watch": [{"path": "./src", "action": "sync", "target": "/src"}]},
                "pre_start": [{"command": "true", "image": "busybox"}],
                "post_start": [{"command": ["sh", "-c", "true"]}],
                "pre_stop": [{"command": "true", "user": "root"}],
                "provider": {"type": "model", "options": {"model": "ai/smollm2", "flags": ["a", 1]}},
                "models": {"llm": {"endpoint_var": "URL"}},
                "label_file": ["./labels"],
            },
        },
        "networks": {"front": None, "back": {"driver": "bridge", "external": False}},
        "volumes": {"named": None},
        "secrets": {"token": {"file": "./token"}},
        "configs": {"conf": {"content": "hello"}},
        "models": {"llm": {"model": "ai/smollm2", "context_size": 2048}},
        "include": ["other.yaml", {"path": ["a.yaml", "b.yaml"], "project_directory": "."}],
    }
    assert _errors(validator, doc) == []


@pytest.mark.parametrize(
    ("service", "path", "keyword"),
    [
        ({"depends_on": {"db": {"condition": "whenever"}}}, ["depends_on", "db", "condition"], "enum"),
        ({"depends_on": {"db": {}}}, ["depends_on", "db"], "required"),
        ({"environment": {"A": {"nested": 1}}}, ["environment", "A"], "type"),
        ({"volumes": [{"source": "x", "target": "/x"}]}, ["volumes", 0], "required"),
        ({"gpus": "some"}, ["gpus"], "const"),
        ({"build": {"contxt": "."}}, ["build"], "additionalProperties"),
        ({"ports": [True]}, ["ports", 0], "type"),
        ({"oom_score_adj": 5000}, ["oom_score_adj"], "maximum"),
        ({"command": 42}, ["command"], "type"),
    ],
)
def test_errors_point_at_the_offending_value(
    validator: Draft202012Validator, service: dict, path: list, keyword: str
) -> None:
    errors = _errors(validator, {"services": {"web": service}})
    assert [(list(e.absolute_path), e.validator) for e in errors] == [(["services", "web", *path], keyword)]


# --------------------------------------------------------------------------- corpus agreement


def _json_compatible(node: object) -> object:
    """PyYAML (YAML 1.1) may produce non-string keys and dates; make the tree JSON-like."""
    if isinstance(node, dict):
        return {str(k): _json_compatible(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_compatible(v) for v in node]
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    return node


class _CorpusLoader(yaml.SafeLoader):
    """safe_load plus Compose's local tags (``!reset``, ``!override``), kept as their plain value."""


def _construct_local_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_CorpusLoader.add_multi_constructor("!", _construct_local_tag)


def _corpus_rows() -> list[dict]:
    with (CORPUS / "manifest.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        r
        for r in rows
        if r["category"] == "valid"
        and r["scope"] in ("full", "no-consistency")
        and r["role"] == "standalone"
        and r["schema_go_ok"] == "yes"
    ]


@pytest.mark.corpus
def test_corpus_agrees_with_compose_go_reference_schema(validator: Draft202012Validator) -> None:
    if not (CORPUS / "manifest.tsv").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS} (set STACKYARD_SHARED to the shared/ folder)")
    if not REFERENCE_SCHEMA.is_file():
        pytest.skip(f"reference schema not found at {REFERENCE_SCHEMA}")
    with REFERENCE_SCHEMA.open(encoding="utf-8") as fh:
        reference = Draft202012Validator(json.load(fh))

    rows = _corpus_rows()
    assert rows, "no corpus rows selected"
    disagreements: list[str] = []
    for row in rows:
        with (CORPUS / row["file"]).open(encoding="utf-8") as fh:
            doc = _json_compatible(yaml.load(fh, Loader=_CorpusLoader))  # noqa: S506 - SafeLoader subclass
        ref_ok = reference.is_valid(doc)
        ours_ok = validator.is_valid(doc)
        if ref_ok != ours_ok:
            first = next(iter(validator.iter_errors(doc)), None)
            detail = f"{list(first.absolute_path)}: {first.message}" if first else ""
            disagreements.append(f"{row['file']}: reference={'ok' if ref_ok else 'error'} ours={'ok' if ours_ok else 'error'} {detail}")
    assert not disagreements, f"{len(disagreements)} of {len(rows)} corpus files disagree:\n" + "\n".join(disagreements)
