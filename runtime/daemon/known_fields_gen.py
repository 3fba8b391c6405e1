"""Writes runtime/daemon/known_fields.py: the keys each JSON request body may carry, from the swagger.

Run by hand after changing the swagger or the allowances below:
`python3 -m runtime.daemon.known_fields_gen [SWAGGER]`; the default swagger is
`../shared/reference/docker-engine-api-v1.41.yaml` next to the checkout. The unit test
tests/unit/runtime/daemon/test_known_fields.py regenerates the module and compares, so the
committed data cannot drift from the spec. The daemon itself never imports this module (it cannot
read ../shared at run time; it imports the generated data).

A node of the generated tree is `None` (a scalar or a free-form object: any keys),
`{"keys": {name: node}}` (an object with a fixed set of keys), `{"map": node}` (an object whose
keys are free, e.g. Labels, PortBindings) or `{"items": node}` (a list).
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SWAGGER = ROOT.parent / "shared" / "reference" / "docker-engine-api-v1.41.yaml"
OUTPUT = Path(__file__).resolve().with_name("known_fields.py")

# Route key -> (swagger path, method, ) : the body parameter of that operation is the schema.
ROUTES = {
    "containers/create": ("/containers/create", "post"),
    "containers/update": ("/containers/{id}/update", "post"),
    "containers/exec": ("/containers/{id}/exec", "post"),
    "exec/start": ("/exec/{id}/start", "post"),
    "networks/create": ("/networks/create", "post"),
    "networks/connect": ("/networks/{id}/connect", "post"),
    "networks/disconnect": ("/networks/{id}/disconnect", "post"),
    "volumes/create": ("/volumes/create", "post"),
    "auth": ("/auth", "post"),
}

# A path step "[]" goes into a list's items, "*" into a map's values, anything else into a key.
STEPS = {"[]": "items", "*": "map"}

# Keys real clients send although the v1.41 swagger does not list them (they are fields of the
# Go structs dockerd decodes into, so dockerd accepts them). Each: (route, path of the object,
# key, node). Keep this small, and say who sends the key.
ALLOWED_EXTRA: list[tuple[str, tuple[str, ...], str, Any]] = [
    # docker CLI 20.10 marshals types.ExecConfig whole, including Detach.
    ("containers/exec", (), "Detach", None),
    # docker-py 7.1 exec_create puts the container id in the body as well as in the path.
    ("containers/exec", (), "Container", None),
    # docker CLI 23+ (API 1.42 types) sends ConsoleSize on exec create/start even when it
    # negotiated 1.41 with us.
    ("containers/exec", (), "ConsoleSize", None),
    ("exec/start", (), "ConsoleSize", None),
    # docker CLI 20.10 marshals types.NetworkCreate whole: Scope, ConfigOnly, ConfigFrom (docker-py
    # and orchestrator/engine/highlevel.py send Scope when asked for one).
    ("networks/create", (), "Scope", None),
    ("networks/create", (), "ConfigOnly", None),
    ("networks/create", (), "ConfigFrom", {"keys": {"Network": None}}),
    # Our orchestrator (orchestrator/engine_spec.py, a compose healthcheck.start_interval) and
    # docker CLI 25+ (--health-start-interval) send it; runtime/containers/health.py honours it.
    ("containers/create", ("Healthcheck",), "StartInterval", None),
    # docker compose v2 (API 1.42 types) sends it for binds that may create their source;
    # runtime/executor/spec_mounts.py honours it.
    ("containers/create", ("HostConfig", "Mounts", "[]", "BindOptions"), "CreateMountpoint", None),
    # docker CLI 25+ marshals network.EndpointSettings whole, with DNSNames (API 1.44) and
    # GwPriority (API 1.48), even when it negotiated 1.41 with us (docker 28 is on PATH here).
    ("containers/create", ("NetworkingConfig", "EndpointsConfig", "*"), "DNSNames", {"items": None}),
    ("containers/create", ("NetworkingConfig", "EndpointsConfig", "*"), "GwPriority", None),
    ("networks/connect", ("EndpointConfig",), "DNSNames", {"items": None}),
    ("networks/connect", ("EndpointConfig",), "GwPriority", None),
    # docker CLI and docker-py send types.AuthConfig: auth, identitytoken, registrytoken.
    ("auth", (), "auth", None),
    ("auth", (), "identitytoken", None),
    ("auth", (), "registrytoken", None),
]

# Where the swagger is looser than the Go type dockerd decodes into: IPAM.Config items are
# "string maps" in the 1.41 swagger, but network.IPAMConfig has exactly these fields (and
# AuxiliaryAddresses is a map, not a string) — every example in the swagger uses them.
IPAM_CONFIG = {"keys": {"Subnet": None, "IPRange": None, "Gateway": None,
                        "AuxiliaryAddresses": {"map": None}}}


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = self.document["definitions"][name]
        return schema

    def node(self, schema: dict[str, Any] | None, stack: tuple[str, ...] = ()) -> Any:
        if schema is None:
            return None
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name in stack:  # recursive definitions: not in the bodies we serve; be lenient
                return None
            if name == "IPAM":
                tree = self.node(self.resolve(schema), stack + (name,))
                tree["keys"]["Config"] = {"items": IPAM_CONFIG}
                return tree
            return self.node(self.resolve(schema), stack + (name,))
        properties: dict[str, Any] = {}
        for part in schema.get("allOf", []):
            merged = self.node(part, stack)
            if isinstance(merged, dict) and "keys" in merged:
                properties.update(merged["keys"])
        if schema.get("type") == "array":
            return {"items": self.node(schema.get("items"), stack)}
        for key, sub in schema.get("properties", {}).items():
            properties[key] = self.node(sub, stack)
        if properties:
            return {"keys": properties}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            inner = self.node(extra, stack)
            return {"map": inner}
        return None

    def body(self, path: str, method: str) -> Any:
        operation = self.document["paths"][path][method]
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "body":
                return self.node(parameter["schema"])
        raise KeyError(f"{method.upper()} {path} takes no body in the swagger")


def build(document: dict[str, Any]) -> dict[str, Any]:
    spec = Spec(document)
    bodies = {route: spec.body(path, method) for route, (path, method) in ROUTES.items()}
    for route, where, key, node in ALLOWED_EXTRA:
        target = bodies[route]
        for step in where:
            target = target[STEPS[step]] if step in STEPS else target["keys"][step]
        target["keys"].setdefault(key, node)
    return bodies


def render(bodies: dict[str, Any], source: str) -> str:
    head = (
        f'"""GENERATED by runtime/daemon/known_fields_gen.py from {source} — do not edit.\n\n'
        "The keys each JSON request body may carry (Docker Engine API v1.41 plus the few keys real\n"
        "clients send beyond it). Read by runtime/daemon/validate.py. A node is None (anything),\n"
        '{"keys": {...}} (fixed keys), {"map": node} (free keys) or {"items": node} (a list).\n'
        '"""\n\n'
    )
    return head + "BODIES = " + pprint.pformat(bodies, width=100, sort_dicts=True) + "\n"


def generate(swagger: Path) -> str:
    import yaml  # only the generator needs it; the daemon imports the generated data

    document = yaml.safe_load(swagger.read_text())
    return render(build(document), swagger.name)


def main(argv: list[str]) -> int:
    swagger = Path(argv[1]) if len(argv) > 1 else DEFAULT_SWAGGER
    OUTPUT.write_text(generate(swagger))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
