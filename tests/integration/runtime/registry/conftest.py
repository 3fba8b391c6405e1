"""Fixtures for the registry client tests: an htpasswd registry, a token server and a token registry.

Session-scoped (each is a real docker-registry process, stopped by PID at the end); the plain
registry is the `registry` fixture of tests/integration/conftest.py.
"""

import pytest

from tests.integration.registry import missing_registry
from tests.integration.runtime.registry.registries import (MISSING_BCRYPT, bcrypt, htpasswd_registry,
                                                           token_registry)
from tests.integration.runtime.registry.tokenserver import ISSUER, SERVICE, TokenServer

USERS = {"alice": "wonderland", "bob": "builder"}


@pytest.fixture(scope="session")
def basic_registry():
    if missing_registry():
        pytest.skip(missing_registry())
    if bcrypt is None:
        pytest.skip(MISSING_BCRYPT)
    server = htpasswd_registry(USERS)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_server():
    server = TokenServer(USERS, {"alice": ("pull", "push"), "bob": ("pull",)}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_reg(token_server):
    if missing_registry():
        pytest.skip(missing_registry())
    server = token_registry(token_server.url, SERVICE, ISSUER, token_server.cert_pem())
    try:
        server.start()
        yield server
    finally:
        server.stop()
