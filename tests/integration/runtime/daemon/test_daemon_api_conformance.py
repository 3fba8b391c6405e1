"""Every JSON response of the implemented Engine API paths validates against Docker's swagger
(docs/api v1.41), and a schemathesis run over the non-streaming paths finds no 5xx and no schema
violation.

The swagger is Swagger 2.0: its `definitions` become JSON Schema (Draft 4) with `x-nullable: true`
read as "null is allowed too"; additional properties are allowed, as Docker's schemas intend.
"""

from __future__ import annotations

import copy
import json
import socket
import time
import uuid
from functools import lru_cache
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")
httpx = pytest.importorskip("httpx")

SWAGGER = Path("/work/shared/reference/docker-engine-api-v1.41.yaml")
if not SWAGGER.exists():
    SWAGGER = Path(__file__).resolve().parents[4] / "shared/reference/docker-engine-api-v1.41.yaml"


def _nullable(node):
    """Swagger's `x-nullable: true` → JSON Schema's 'or null' (recursively)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("x-nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def errata(document: dict) -> dict:
    """Known mistakes of the v1.41 document, corrected as dockerd (and later API versions) have it."""
    # `ContainerSummary` is typed as the whole list (fixed in v1.42), so `/system/df`'s
    # `Containers: [ContainerSummary]` would ask for a list of lists; dockerd sends objects.
    df = document["paths"]["/system/df"]["get"]["responses"][200]["schema"]
    df["properties"]["Containers"]["items"] = document["definitions"]["ContainerSummary"]["items"]
    # dockerd answers `ExitCode: null` while the exec runs (moby's backend.ExecInspect.ExitCode
    # is *int); clients such as docker-py poll on it.
    inspect = document["paths"]["/exec/{id}/json"]["get"]["responses"][200]["schema"]
    inspect["properties"]["ExitCode"]["x-nullable"] = True
    return document


@lru_cache(maxsize=1)
def swagger() -> dict:
    if not SWAGGER.exists():
        pytest.skip(f"the Engine API swagger is not at {SWAGGER}")
    return errata(yaml.safe_load(SWAGGER.read_text()))


@lru_cache(maxsize=1)
def definitions() -> dict:
    return _nullable(copy.deepcopy(swagger()["definitions"]))


def response_schema(method: str, path: str, status: int) -> dict | None:
    """The schema of the swagger's response for (METHOD, /templated/path, status), if any."""
    operation = swagger()["paths"][path][method.lower()]
    response = operation["responses"].get(status)
    assert response is not None, f"{method} {path}: status {status} is not documented in the swagger"
    schema = response.get("schema")
    if schema is None:
        return None
    return {**_nullable(copy.deepcopy(schema)), "definitions": definitions()}


def violations(method: str, path: str, status: int, body) -> list[str]:
    schema = response_schema(method, path, status)
    if schema is None:
        return []
    validator = jsonschema.Draft4Validator(schema)
    return [f"{method} {path} {status}: at {'/'.join(map(str, error.absolute_path)) or '<root>'}: "
            f"{error.message[:300]}" for error in validator.iter_errors(body)]


class Checked:
    """An httpx client over the daemon's socket that validates every JSON answer it receives."""

    def __init__(self, socket_path: str) -> None:
        self.client = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                                   base_url="http://stackyard/v1.41", timeout=60)
        self.failures: list[str] = []
        self.checked: set[tuple[str, str, int]] = set()

    def call(self, method: str, template: str, *, expect: int, params=None, json_body=None,
             lines: bool = False, **values):
        response = self.client.request(method, template.format(**values), params=params, json=json_body)
        assert response.status_code == expect, (method, template, response.status_code, response.text)
        body = None
        if response.content:
            if response.headers.get("content-type", "").startswith("application/json"):
                if lines:
                    body = [json.loads(line) for line in response.text.splitlines() if line.strip()]
                    for item in body:
                        self.failures += violations(method, template, expect, item)
                else:
                    body = response.json()
                    self.failures += violations(method, template, expect, body)
        self.checked.add((method, template, expect))
        return body

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module")
def api(stackyard_daemon, busybox_ref):
    checked = Checked(str(stackyard_daemon.socket))
    try:
        yield checked
    finally:
        checked.close()


def test_every_implemented_path_answers_as_the_swagger_says(api, busybox_ref):
    repo, tag = busybox_ref.rsplit(":", 1)
    suffix = uuid.uuid4().hex[:6]
    api.call("GET", "/_ping", expect=200)
    api.call("HEAD", "/_ping", expect=200)
    api.call("GET", "/version", expect=200)
    api.call("GET", "/info", expect=200)
    since = int(time.time()) - 1
    pull = api.call("POST", "/images/create", expect=200, params={"fromImage": repo, "tag": tag}, lines=True)
    assert not any("error" in line for line in pull), pull
    images = api.call("GET", "/images/json", expect=200)
    assert any(busybox_ref in (image.get("RepoTags") or []) for image in images)
    image = api.call("GET", "/images/{name}/json", name=busybox_ref, expect=200)
    api.call("GET", "/images/{name}/history", name=busybox_ref, expect=200)
    api.call("POST", "/images/{name}/tag", name=busybox_ref, expect=201,
             params={"repo": f"127.0.0.1:1/conformance/{suffix}", "tag": "x"})
    deleted = api.call("DELETE", "/images/{name}", name=f"127.0.0.1:1/conformance/{suffix}:x", expect=200)
    assert deleted and all("Untagged" in d or "Deleted" in d for d in deleted)

    network = api.call("POST", "/networks/create", expect=201,
                       json_body={"Name": f"conf-{suffix}", "Labels": {"suite": "conformance"}})
    volume = api.call("POST", "/volumes/create", expect=201,
                      json_body={"Name": f"confvol-{suffix}", "Labels": {"suite": "conformance"}})
    try:
        api.call("GET", "/networks", expect=200)
        api.call("GET", "/networks/{id}", id=network["Id"], expect=200)
        api.call("GET", "/volumes", expect=200)
        api.call("GET", "/volumes/{name}", name=volume["Name"], expect=200)

        created = api.call("POST", "/containers/create", expect=201, params={"name": f"conf-{suffix}"},
                           json_body={"Image": busybox_ref, "Cmd": ["sh", "-c", "echo hello; sleep 30"],
                                      "Labels": {"suite": "conformance"}, "Env": ["A=1"],
                                      "HostConfig": {"Binds": [f"{volume['Name']}:/data"],
                                                     "NetworkMode": f"conf-{suffix}"}})
        cid = created["Id"]
        api.call("GET", "/containers/{id}/json", id=cid, expect=200)
        api.call("GET", "/containers/json", params={"all": "1"}, expect=200)
        api.call("POST", "/containers/{id}/start", id=cid, expect=204)
        api.call("GET", "/containers/{id}/json", id=cid, expect=200, params={"size": "1"})
        listed = api.call("GET", "/containers/json", expect=200,
                          params={"filters": json.dumps({"label": ["suite=conformance"]})})
        assert [c["Id"] for c in listed] == [cid]
        api.call("GET", "/containers/{id}/top", id=cid, expect=200)
        other = api.call("POST", "/networks/create", expect=201, json_body={"Name": f"conf2-{suffix}"})
        try:
            api.call("POST", "/networks/{id}/connect", id=other["Id"], expect=200,
                     json_body={"Container": cid, "EndpointConfig": {"Aliases": ["conf-alias"]}})
            attached = api.call("GET", "/networks/{id}", id=other["Id"], expect=200)
            assert cid in (attached.get("Containers") or {}), attached
            api.call("POST", "/networks/{id}/disconnect", id=other["Id"], expect=200, json_body={"Container": cid})
        finally:
            api.call("DELETE", "/networks/{id}", id=other["Id"], expect=204)
        api.call("GET", "/containers/{id}/stats", id=cid, expect=200, params={"stream": "0"})
        execution = api.call("POST", "/containers/{id}/exec", id=cid, expect=201,
                             json_body={"Cmd": ["true"], "AttachStdout": True})
        api.call("GET", "/exec/{id}/json", id=execution["Id"], expect=200)
        api.call("POST", "/exec/{id}/start", id=execution["Id"], expect=200, json_body={"Detach": True})
        deadline = time.monotonic() + 10
        while api.call("GET", "/exec/{id}/json", id=execution["Id"], expect=200)["Running"]:
            assert time.monotonic() < deadline, "the detached exec did not finish"
            time.sleep(0.05)
        df = api.call("GET", "/system/df", expect=200)
        assert image["Id"] in [i["Id"] for i in df["Images"]] and df["LayersSize"] > 0, df
        assert cid in [c["Id"] for c in df["Containers"]], df
        usage = {v["Name"]: v["UsageData"] for v in df["Volumes"]}
        assert usage[volume["Name"]]["RefCount"] == 1, df
        api.call("POST", "/containers/{id}/pause", id=cid, expect=204)
        api.call("POST", "/containers/{id}/unpause", id=cid, expect=204)
        api.call("POST", "/containers/{id}/rename", id=cid, expect=204, params={"name": f"conf2-{suffix}"})
        api.call("POST", "/containers/{id}/kill", id=cid, expect=204)
        api.call("POST", "/containers/{id}/wait", id=cid, expect=200)
        api.call("GET", "/containers/{id}/json", id=cid, expect=200)
        api.call("POST", "/containers/{id}/restart", id=cid, expect=204, params={"t": "0"})
        api.call("POST", "/containers/{id}/stop", id=cid, expect=204, params={"t": "0"})
        api.call("GET", "/containers/json", params={"all": "1", "size": "1"}, expect=200)
        events = api.call("GET", "/events", expect=200, lines=True,
                          params={"since": str(since), "until": str(int(time.time()) + 1)})
        assert {"create", "start", "die"} <= {e.get("Action") for e in events}, events
        # the errors are documented shapes too
        api.call("GET", "/containers/{id}/json", id="no-such-container", expect=404)
        api.call("GET", "/images/{name}/json", name="no-such-image:1", expect=404)
        api.call("GET", "/networks/{id}", id="no-such-network", expect=404)
        api.call("GET", "/volumes/{name}", name="no-such-volume", expect=404)
        api.call("DELETE", "/containers/{id}", id=cid, expect=204, params={"v": "1"})
        api.call("POST", "/containers/prune", expect=200)
    finally:
        api.client.delete(f"/networks/{network['Id']}")
        api.client.delete(f"/volumes/{volume['Name']}")
    api.call("POST", "/networks/prune", expect=200)
    api.call("POST", "/volumes/prune", expect=200, params={"filters": json.dumps({"label": ["suite=conformance"]})})
    api.call("POST", "/images/prune", expect=200)
    assert image["Id"].startswith("sha256:")
    assert not api.failures, "\n".join(api.failures)


# --- schemathesis: generated requests (valid and invalid) over the implemented operations -------

# Streaming or hijacking operations (attach, exec start, events, logs, stats), uploads and
# downloads, and everything that could contact a registry (pull, push, auth) are left out: the
# generator would invent names, and no name may be resolved outside this machine. Network create
# is left out too: a generated subnet would be configured on a real bridge of this host.
FUZZED = {
    ("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/version"), ("GET", "/info"), ("GET", "/system/df"),
    ("GET", "/containers/json"), ("POST", "/containers/create"), ("GET", "/containers/{id}/json"),
    ("GET", "/containers/{id}/top"), ("POST", "/containers/{id}/start"), ("POST", "/containers/{id}/stop"),
    ("POST", "/containers/{id}/restart"), ("POST", "/containers/{id}/kill"), ("POST", "/containers/{id}/rename"),
    ("POST", "/containers/{id}/pause"), ("POST", "/containers/{id}/unpause"), ("POST", "/containers/{id}/resize"),
    ("POST", "/containers/{id}/update"), ("POST", "/containers/{id}/wait"), ("DELETE", "/containers/{id}"),
    ("HEAD", "/containers/{id}/archive"), ("POST", "/containers/prune"), ("POST", "/containers/{id}/exec"),
    ("GET", "/exec/{id}/json"), ("POST", "/exec/{id}/resize"),
    ("GET", "/images/json"), ("GET", "/images/{name}/json"), ("GET", "/images/{name}/history"),
    ("POST", "/images/{name}/tag"), ("DELETE", "/images/{name}"), ("POST", "/images/prune"),
    ("GET", "/networks"), ("GET", "/networks/{id}"), ("DELETE", "/networks/{id}"),
    ("POST", "/networks/{id}/connect"), ("POST", "/networks/{id}/disconnect"), ("POST", "/networks/prune"),
    ("GET", "/volumes"), ("POST", "/volumes/create"), ("GET", "/volumes/{name}"), ("DELETE", "/volumes/{name}"),
    ("POST", "/volumes/prune"),
}


def _fuzz_schema():
    try:
        import schemathesis
    except ImportError:
        return None
    if not SWAGGER.exists():
        return None
    raw = errata(yaml.safe_load(SWAGGER.read_text()))
    raw["paths"] = {path: {method: operation for method, operation in operations.items()
                           if method == "parameters" or (method.upper(), path) in FUZZED}
                    for path, operations in raw["paths"].items()}
    raw["paths"] = {path: ops for path, ops in raw["paths"].items() if set(ops) - {"parameters"}}
    return schemathesis.openapi.from_dict(raw)


FUZZ_SCHEMA = _fuzz_schema()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tcp_daemon():
    """A second private daemon that also listens on 127.0.0.1 (schemathesis speaks TCP)."""
    import os
    if os.geteuid() != 0:
        pytest.skip("the stackyard daemon needs root")
    from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon
    daemon = PrivateStackyardDaemon()
    port = _free_port()
    try:
        daemon.start(extra=("-H", f"tcp://127.0.0.1:{port}"))
        daemon.base_url = f"http://127.0.0.1:{port}/v1.41"
        yield daemon
    finally:
        daemon.stop()


if FUZZ_SCHEMA is not None:
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    @FUZZ_SCHEMA.parametrize()
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def test_schemathesis_finds_no_server_error_and_no_schema_violation(case, tcp_daemon):
        case.call_and_validate(base_url=tcp_daemon.base_url, timeout=30,
                               checks=[not_a_server_error, response_schema_conformance])
        assert tcp_daemon.process.poll() is None, tcp_daemon.log_text()[-3000:]

    # The same operations again, their path parameters pointing at real objects (a running busybox
    # container, its image, a network, a volume) so that generated query strings and bodies reach
    # the runtime rather than stopping at a 404. Left out here: what would remove those objects or
    # block (delete, prune, rename, stop/restart with a generated timeout, wait). Update is in:
    # generated resource bodies reach the cgroup writes of a running container.
    REAL_OBJECT_OPERATIONS = {
        ("POST", "/containers/{id}/update"),
        ("GET", "/containers/{id}/json"), ("GET", "/containers/{id}/top"), ("POST", "/containers/{id}/kill"),
        ("POST", "/containers/{id}/start"), ("POST", "/containers/{id}/pause"), ("POST", "/containers/{id}/unpause"),
        ("POST", "/containers/{id}/resize"), ("HEAD", "/containers/{id}/archive"),
        ("POST", "/containers/{id}/exec"), ("GET", "/images/{name}/json"), ("GET", "/images/{name}/history"),
        ("POST", "/images/{name}/tag"), ("GET", "/networks/{id}"), ("POST", "/networks/{id}/connect"),
        ("POST", "/networks/{id}/disconnect"), ("GET", "/volumes/{name}"), ("GET", "/containers/json"),
        ("GET", "/images/json"), ("GET", "/networks"), ("GET", "/volumes"), ("GET", "/system/df"),
        ("POST", "/volumes/create"),
    }

    @pytest.fixture(scope="module")
    def real_objects(tcp_daemon, busybox_ref):
        repo, tag = busybox_ref.rsplit(":", 1)
        with httpx.Client(base_url=tcp_daemon.base_url, timeout=60) as client:
            pulled = client.post("/images/create", params={"fromImage": repo, "tag": tag})
            assert pulled.status_code == 200 and b'"error"' not in pulled.content, pulled.text
            network = client.post("/networks/create", json={"Name": "fuzz-net"}).json()["Id"]
            volume = client.post("/volumes/create", json={"Name": "fuzz-vol"}).json()["Name"]
            created = client.post("/containers/create", params={"name": "fuzz-target"},
                                  json={"Image": busybox_ref, "Cmd": ["sleep", "300"]})
            assert created.status_code == 201, created.text
            cid = created.json()["Id"]
            assert client.post(f"/containers/{cid}/start").status_code == 204
        return {"container": cid, "image": busybox_ref, "network": network, "volume": volume}

    @FUZZ_SCHEMA.include(
        func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in REAL_OBJECT_OPERATIONS).parametrize()
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def test_schemathesis_on_real_objects_finds_no_server_error(case, tcp_daemon, real_objects):
        parameters = case.path_parameters or {}
        if "id" in parameters:
            parameters["id"] = real_objects["network" if case.path.startswith("/networks") else "container"]
        if "name" in parameters:
            parameters["name"] = real_objects["image" if case.path.startswith("/images") else "volume"]
        case.call_and_validate(base_url=tcp_daemon.base_url, timeout=30,
                               checks=[not_a_server_error, response_schema_conformance])
        assert tcp_daemon.process.poll() is None, tcp_daemon.log_text()[-3000:]
else:
    def test_schemathesis_finds_no_server_error_and_no_schema_violation():
        pytest.skip("needs schemathesis (pip install schemathesis) and the Engine API swagger")
