"""Validate a spec against the OCI runtime-spec JSON schema in /work/shared/reference (test helper)."""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_DIR = Path("/work/shared/reference/oci-runtime-spec")


def validator():
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for name in ("config-linux.json", "defs-linux.json", "defs.json", "config-schema.json"):
        resources.append((name, Resource(json.loads((SCHEMA_DIR / name).read_text()), specification=DRAFT4)))
    # Other platforms' schemas are not in the reference copy; they never apply to Linux specs.
    for name in ("config-solaris.json", "config-windows.json", "config-vm.json", "config-zos.json"):
        resources.append((name, Resource({}, specification=DRAFT4)))
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


def errors(spec: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(spec)]
