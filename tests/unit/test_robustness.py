"""Bad input never crashes the loader: any document either loads or raises StackFileError
with positioned diagnostics (property-based, with hypothesis)."""

import atexit
import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from orchestrator.errors import StackFileError
from orchestrator.loader import LoadOptions, load_stack

VALID = """\
name: demo
services:
  web:
    image: nginx:${TAG:-1}
    ports: ["8080:80", "127.0.0.1::443/udp"]
    volumes: ["./html:/usr/share/nginx/html:ro", "data:/data"]
    environment: [A=1, B]
    depends_on:
      db: {condition: service_healthy}
    healthcheck: {test: "curl -f localhost", interval: 10s}
    deploy: {resources: {limits: {memory: 512m, cpus: "0.5"}}}
  db:
    image: postgres
    networks: [back]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 65535}
networks:
  back: {}
volumes:
  data: {}
"""

_DIR = tempfile.mkdtemp(prefix="stackyard-robust-")
atexit.register(shutil.rmtree, _DIR, True)


def _load_text(text: str) -> None:
    with open(os.path.join(_DIR, "compose.yaml"), "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)
    try:
        load_stack(LoadOptions(cwd=_DIR, environ={"HOME": "/root"}))
    except StackFileError as exc:
        assert exc.diagnostics, "an error without diagnostics"
        for d in exc.errors:
            assert d.position.file and d.message


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=12))
yaml_values = st.recursive(yaml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(min_value=0, max_value=40),
       st.text(max_size=10))
def test_loader_survives_mutated_documents(start, length, insert):
    _load_text(VALID[:start] + insert + VALID[start + length:])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["web", "db", "x"]), st.dictionaries(
    st.sampled_from(["image", "ports", "volumes", "environment", "depends_on", "networks", "command",
                     "healthcheck", "deploy", "ulimits", "extends", "build", "env_file", "secrets"]),
    yaml_values, max_size=5), max_size=3))
def test_loader_survives_random_service_values(services):
    import json
    _load_text(json.dumps({"services": services}))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_loader_survives_random_bytes(data):
    with open(os.path.join(_DIR, "compose.yaml"), "wb") as f:
        f.write(data)
    try:
        load_stack(LoadOptions(cwd=_DIR, environ={}))
    except StackFileError as exc:
        assert exc.diagnostics
