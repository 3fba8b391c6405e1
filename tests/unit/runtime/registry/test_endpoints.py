"""Which endpoints (scheme, TLS verification, mirrors) serve a registry host."""

import pytest

from runtime import errdefs
from runtime.registry.config import RegistryConfig
from runtime.registry.endpoints import endpoints_for, insecure_reason, is_loopback, realm_endpoint, split_host


def config(tmp_path, **kwargs):
    return RegistryConfig(certs_dir=str(tmp_path / "certs.d"), docker_config_path=str(tmp_path / "c.json"), **kwargs)


def test_split_host_forms():
    assert split_host("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert split_host("[::1]:5000") == ("::1", 5000)
    assert split_host("::1") == ("::1", None)
    assert split_host("registry.example") == ("registry.example", None)
    with pytest.raises(errdefs.InvalidArgument, match="invalid port"):
        split_host("host:abc")


def test_loopback_hosts():
    assert all(is_loopback(h) for h in ("127.0.0.1:5000", "127.3.4.5", "[::1]:80", "localhost:5000", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("10.0.0.1:5000", "registry.example", "localhost.example"))


def test_insecure_by_name_port_and_cidr():
    insecure = ["myreg:5000", "plain.example", "10.1.0.0/16", "not-a-cidr/x"]
    assert insecure_reason("myreg:5000", insecure) == "listed as insecure (myreg:5000)"
    assert insecure_reason("plain.example:443", insecure) == "listed as insecure (plain.example)"
    assert insecure_reason("10.1.2.3:5000", insecure) == "in insecure range 10.1.0.0/16"
    assert insecure_reason("10.2.0.1", insecure) is None
    assert insecure_reason("myreg:5001", insecure) is None


def test_secure_registry_is_https_only(tmp_path):
    [endpoint] = endpoints_for("registry.example:5000", config(tmp_path))
    assert (endpoint.base_url, endpoint.tls, endpoint.verify) == ("https://registry.example:5000", True, True)


def test_loopback_goes_straight_to_http_unless_it_has_certificates(tmp_path):
    [endpoint] = endpoints_for("127.0.0.1:5000", config(tmp_path))
    assert endpoint.base_url == "http://127.0.0.1:5000"
    (tmp_path / "certs.d" / "127.0.0.1:5000").mkdir(parents=True)
    first, second = endpoints_for("127.0.0.1:5000", config(tmp_path))
    assert (first.base_url, first.verify) == ("https://127.0.0.1:5000", True)
    assert second.base_url == "http://127.0.0.1:5000"


def test_configured_insecure_tries_https_without_verification_first(tmp_path):
    first, second = endpoints_for("myreg:5000", config(tmp_path, insecure_registries=["myreg:5000"]))
    assert (first.base_url, first.tls, first.verify) == ("https://myreg:5000", True, False)
    assert (second.base_url, second.tls) == ("http://myreg:5000", False)


def test_a_listed_loopback_registry_is_insecure_not_just_loopback(tmp_path):
    """An HTTPS registry on 127.0.0.1 with a certificate nobody trusts: listing it (as a user
    does in daemon.json) accepts its certificate, as Docker does."""
    assert insecure_reason("127.0.0.1:5000", ["127.0.0.1:5000"]) == "listed as insecure (127.0.0.1:5000)"
    assert insecure_reason("127.0.0.1:5000", ["127.0.0.0/8"]) == "in insecure range 127.0.0.0/8"
    assert insecure_reason("127.0.0.1:5000", []) == "loopback"
    first, second = endpoints_for("127.0.0.1:5000", config(tmp_path, insecure_registries=["127.0.0.1:5000"]))
    assert (first.base_url, first.tls, first.verify) == ("https://127.0.0.1:5000", True, False)
    assert second.base_url == "http://127.0.0.1:5000"


def test_docker_hub_mirrors_first_for_pulls_only(tmp_path):
    cfg = config(tmp_path, mirrors=["https://mirror.example", "127.0.0.1:5001"])
    pull = endpoints_for("docker.io", cfg)
    assert [(e.base_url, e.mirror) for e in pull] == [
        ("https://mirror.example", True), ("https://127.0.0.1:5001", True), ("https://registry-1.docker.io", False)]
    push = endpoints_for("index.docker.io", cfg, push=True)
    assert [e.base_url for e in push] == ["https://registry-1.docker.io"]
    assert push[0].host == "registry-1.docker.io"


def test_token_realm_endpoint(tmp_path):
    cfg = config(tmp_path, insecure_registries=["auth.insecure:443"])
    assert realm_endpoint("https://auth.example/token", cfg) == realm_endpoint("https://auth.example/x?y", cfg)
    endpoint = realm_endpoint("https://auth.example/token", cfg)
    assert (endpoint.base_url, endpoint.host, endpoint.tls, endpoint.verify) == (
        "https://auth.example", "auth.example", True, True)
    assert realm_endpoint("https://auth.insecure:443/token", cfg).verify is False
    assert realm_endpoint("http://127.0.0.1:8080/token", cfg).tls is False
    with pytest.raises(errdefs.InvalidArgument, match="not an http"):
        realm_endpoint("ftp://x/token", cfg)
