"""Phase 5: JSON Schema validation of the merged document against `schemas/stack.schema.json`.

Called by `loader.load_stack` after include/extends/merge, before normalisation (which can
then trust the types). The schema is compiled once per process. Each jsonschema error is
turned into a human message reported at the position where the offending value was written
(positions travel with the values, so that is the right file even after merging), with a
"did you mean" hint for misspelled keys.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from functools import lru_cache
from typing import Any, Iterable

from orchestrator.errors import Report, format_path
from orchestrator.loader.tree import PMap, locate, type_name

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "schemas", "stack.schema.json")

# Keys that newer Compose releases accept but this version of stackyard does not know:
# a warning by default (as the spec recommends), an error with --strict.
NEWER_KEYS: dict[str, str] = {}

# Keys of the Compose spec that stackyard reads but does not act on: a warning by default (the
# stack still loads, the key is ignored), an error with --strict.
UNSUPPORTED_KEYS: dict[tuple, str] = {
    ("services", "*", "develop"): "file watching (`develop`) is not implemented by stackyard",
    ("services", "*", "credential_spec"): "`credential_spec` applies to Windows containers only",
    ("services", "*", "isolation"): "`isolation` applies to Windows containers only",
    ("services", "*", "provider"): "provider services (Compose plugins) are not supported by stackyard",
    ("services", "*", "models"): "AI models (Docker Model Runner) are not supported by stackyard",
    ("models",): "AI models (Docker Model Runner) are not supported by stackyard",
}

_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
               "integer": "an integer", "boolean": "a boolean", "null": "null"}


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported lazily: the schema phase may be skipped

    with open(SCHEMA_PATH, "rb") as handle:
        schema = json.load(handle)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate(document: PMap, report: Report, *, strict: bool = False) -> list[tuple]:
    """Report every schema violation of `document`; returns the paths of the invalid values."""
    invalid: list[tuple] = []
    for error in _validator().iter_errors(document):
        for path, key, message, hint, warn in _describe(error):
            pos = locate(document, path, key=key)
            dotted = format_path(path)
            if warn and not strict:
                report.warning(pos, dotted, message, hint=hint, code="newer-key")
            else:
                report.error(pos, dotted, message, hint=hint, code="schema")
                invalid.append(path)
    _report_unsupported(document, report, strict=strict)
    return invalid


def _report_unsupported(document: PMap, report: Report, *, strict: bool) -> None:
    """Warn (or, with --strict, fail) on spec keys stackyard ignores."""
    services = document.get("services")
    for pattern, reason in UNSUPPORTED_KEYS.items():
        if pattern[0] == "services":
            places = [(("services", name), svc) for name, svc in services.items()] \
                if isinstance(services, dict) else []
        else:
            places = [((), document)]
        key = pattern[-1]
        for prefix, mapping in places:
            if isinstance(mapping, PMap) and key in mapping:
                path = prefix + (key,)
                pos = mapping.key_position(key)
                if strict:
                    report.error(pos, format_path(path), f"unsupported: {reason}", code="unsupported")
                else:
                    report.warning(pos, format_path(path), f"ignored: {reason}", code="unsupported")


def _describe(error: Any) -> Iterable[tuple[tuple, bool, str, str | None, bool]]:
    """(path, point-at-key, message, hint, is-warning) for one jsonschema error."""
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("oneOf", "anyOf"):
        best = _best_branch(error)
        if best is not None:
            yield from _describe(best)
            return
        yield path, False, _expected(error.schema, error.instance), None, False
        return
    if kind in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        extras = [k for k in error.instance if k not in allowed
                  and not any(re.search(p, k) for p in patterns)]
        for key in extras:
            if key in NEWER_KEYS:
                yield (path + (key,), True,
                       f"`{key}` was added in {NEWER_KEYS[key]} and is not supported by this stackyard",
                       None, True)
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else None
            where = f" in {format_path(path)}" if path else " at top level"
            yield path + (key,), True, f"unknown key `{key}`{where}", hint, False
        return
    if kind == "type":
        yield path, False, _expected(error.schema, error.instance), None, False
        return
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield path, False, f"missing required key `{missing}`", None, False
        return
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in error.validator_value)
        yield path, False, f"must be one of {options}; got {json.dumps(error.instance, default=str)}", None, False
        return
    if kind == "const":
        yield path, False, f"must be {json.dumps(error.validator_value)}; got {json.dumps(error.instance, default=str)}", None, False
        return
    if kind in ("minimum", "exclusiveMinimum"):
        yield path, False, f"must be greater than or equal to {error.validator_value}, got {error.instance}", None, False
        return
    if kind in ("maximum", "exclusiveMaximum"):
        yield path, False, f"must be less than or equal to {error.validator_value}, got {error.instance}", None, False
        return
    if kind == "pattern":
        yield path, False, f"{json.dumps(error.instance)} is not valid here (must match {error.validator_value})", None, False
        return
    if kind in ("uniqueItems",):
        yield path, False, "items must be unique", None, False
        return
    if kind in ("minItems", "minProperties"):
        yield path, False, "must not be empty", None, False
        return
    if kind == "not":
        yield path, False, "this combination of keys is not allowed", None, False
        return
    if kind == "format":
        yield path, False, f"{json.dumps(error.instance)} is not a valid {error.validator_value}", None, False
        return
    yield path, False, error.message, None, False


def _best_branch(error: Any) -> Any:
    """For oneOf/anyOf: the sub-error from the branch that fits the value's type best."""
    context = list(error.context or ())
    if not context:
        return None
    # Branches whose errors are not type mismatches at the value itself accepted the shape:
    # their deeper error is the informative one.
    by_branch: dict[Any, list[Any]] = {}
    for sub in context:
        by_branch.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
    depth = len(error.absolute_path)
    informative = [subs for subs in by_branch.values()
                   if not any(s.validator == "type" and len(s.absolute_path) == depth for s in subs)]
    if len(informative) == 1:
        subs = informative[0]
        return max(subs, key=lambda s: len(s.absolute_path))
    return None


def _expected(schema: dict, instance: Any) -> str:
    types = _schema_types(schema)
    if not types:
        return f"invalid value {json.dumps(instance, default=str)[:60]}"
    words = [_TYPE_WORDS.get(t, t) for t in types]
    words = list(dict.fromkeys(words))
    wanted = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    got = type_name(instance)
    shown = f" {json.dumps(instance, default=str)[:60]}" if not isinstance(instance, (dict, list)) else ""
    return f"expected {wanted}, got {got}{shown}"


def _schema_types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    if "type" in schema:
        value = schema["type"]
        return list(value) if isinstance(value, list) else [value]
    out: list[str] = []
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key, ()):
            out.extend(_schema_types(_deref(branch)))
    if "$ref" in schema:
        out.extend(_schema_types(_deref(schema)))
    return out


def _deref(schema: Any) -> Any:
    if isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#/"):
            node: Any = _validator().schema
            for part in ref[2:].split("/"):
                node = node.get(part, {})
            return node
    return schema
