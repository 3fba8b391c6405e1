"""The SSL context built from a certs.d directory (CAs, client certificate pairs, mistakes)."""

import ssl

import pytest

from runtime import errdefs
from runtime.registry.tls import certs_files, ssl_context_for
from tests.integration.runtime.registry.pki import self_signed, write_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    key, cert = self_signed("unit test CA")
    write_pair(key, cert, root / "x.crt", root / "x.key")
    return root / "x.crt", root / "x.key", cert


def test_missing_directory_is_system_cas_only(tmp_path):
    assert certs_files(str(tmp_path / "nope")) == ([], [])
    context = ssl_context_for("reg:5000", str(tmp_path))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_cas_and_client_pairs_are_loaded(tmp_path, pair):
    crt, key, cert = pair
    directory = tmp_path / "reg:5000"
    directory.mkdir()
    (directory / "ca.crt").write_bytes(crt.read_bytes())
    (directory / "client.cert").write_bytes(crt.read_bytes())
    (directory / "client.key").write_bytes(key.read_bytes())
    (directory / "README").write_text("ignored")
    cas, pairs = certs_files(str(directory))
    assert cas == [str(directory / "ca.crt")]
    assert pairs == [(str(directory / "client.cert"), str(directory / "client.key"))]
    context = ssl_context_for("reg:5000", str(tmp_path))
    subjects = [dict(x[0] for x in c["subject"]).get("commonName") for c in context.get_ca_certs()]
    assert "unit test CA" in subjects


def test_insecure_context_does_not_verify(tmp_path):
    context = ssl_context_for("reg:5000", str(tmp_path), verify=False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_half_pairs_and_bad_files_are_named(tmp_path, pair):
    crt, key, _ = pair
    directory = tmp_path / "reg:5000"
    directory.mkdir()
    (directory / "client.cert").write_bytes(crt.read_bytes())
    with pytest.raises(errdefs.InvalidArgument, match="client certificate client.cert has no key client.key"):
        ssl_context_for("reg:5000", str(tmp_path))
    (directory / "client.cert").unlink()
    (directory / "lonely.key").write_bytes(key.read_bytes())
    with pytest.raises(errdefs.InvalidArgument, match="key lonely.key has no client certificate lonely.cert"):
        ssl_context_for("reg:5000", str(tmp_path))
    (directory / "lonely.key").unlink()
    (directory / "broken.crt").write_text("not a certificate")
    with pytest.raises(errdefs.InvalidArgument, match="CA certificate .*broken.crt"):
        ssl_context_for("reg:5000", str(tmp_path))


def test_hosts_without_certs_share_one_system_context(tmp_path):
    """Loading the system CAs is paid once per process, not per client (each pull made one)."""
    first = ssl_context_for("a.example:5000", str(tmp_path))
    assert ssl_context_for("b.example", str(tmp_path)) is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    insecure = ssl_context_for("a.example:5000", str(tmp_path), verify=False)
    assert insecure is not first and insecure.verify_mode == ssl.CERT_NONE
    assert ssl_context_for("c.example", str(tmp_path), verify=False) is insecure
