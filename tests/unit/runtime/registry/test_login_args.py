"""`stackyard login/logout` argument handling: which registry a SERVER argument names."""

import pytest

from runtime import errdefs
from runtime.cli.login import registry_host


def test_registry_host_forms():
    assert registry_host(None) == "docker.io"
    assert registry_host("https://index.docker.io/v1/") == "docker.io"
    assert registry_host("registry-1.docker.io") == "docker.io"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert registry_host("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert registry_host(" reg.example ") == "reg.example"


def test_registry_host_refuses_nonsense():
    for bad in ("ftp://reg", "https://", "reg:port", "a b"):
        with pytest.raises(errdefs.InvalidArgument):
            registry_host(bad)
