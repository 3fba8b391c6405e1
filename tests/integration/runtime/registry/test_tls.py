"""HTTPS registries: CAs and client certificates from certs.d/<host:port>/, verification failures."""

import pytest

from runtime import errdefs
from runtime.registry import RegistryClient
from tests.integration.registry import missing_registry
from tests.integration.runtime.registry.helpers import ACCEPT, client_config, push_image, tiny_image
from tests.integration.runtime.registry.pki import self_signed, write_pair
from tests.integration.runtime.registry.registries import ConfiguredRegistry


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Server and client certificates (each self-signed, so each is its own CA)."""
    root = tmp_path_factory.mktemp("pki")
    server_key, server_cert = self_signed("sytest registry", san=["127.0.0.1"])
    client_key, client_cert = self_signed("sytest client")
    write_pair(server_key, server_cert, root / "server.crt", root / "server.key")
    write_pair(client_key, client_cert, root / "client.cert", root / "client.key")
    return root


def start_tls_registry(pki, *, client_ca: bool) -> ConfiguredRegistry:
    if missing_registry():
        pytest.skip(missing_registry())
    registry = ConfiguredRegistry(tls=(str(pki / "server.crt"), str(pki / "server.key")))
    if client_ca:
        # Registry config: require a client certificate signed by this CA.
        registry.tls_extra = f"    clientcas:\n      - {pki / 'client.cert'}\n"
    registry.start()
    return registry


@pytest.fixture(scope="module")
def tls_registry(pki):
    registry = start_tls_registry(pki, client_ca=False)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def mtls_registry(pki):
    registry = start_tls_registry(pki, client_ca=True)
    try:
        yield registry
    finally:
        registry.stop()


def certs_dir(tmp_path, registry, pki, *, ca=True, client=False):
    directory = tmp_path / "certs.d" / registry.address
    directory.mkdir(parents=True)
    if ca:
        (directory / "ca.crt").write_bytes((pki / "server.crt").read_bytes())
    if client:
        (directory / "client.cert").write_bytes((pki / "client.cert").read_bytes())
        (directory / "client.key").write_bytes((pki / "client.key").read_bytes())


def test_https_registry_trusted_through_certs_d(tmp_path, tls_registry, pki):
    certs_dir(tmp_path, tls_registry, pki)
    image = tiny_image("tls")
    with RegistryClient(client_config(tmp_path)) as client:
        push_image(client, tls_registry.address, "sytest/tls", "1", image)
        _, body = client.get_manifest(tls_registry.address, "sytest/tls", "1", ACCEPT)
    assert body == image.manifest


def test_https_registry_with_unknown_ca_is_refused_clearly(tmp_path, tls_registry, pki):
    certs_dir(tmp_path, tls_registry, pki, ca=False)  # the directory exists, without the CA
    with RegistryClient(client_config(tmp_path)) as client:
        with pytest.raises(errdefs.Unavailable) as caught:
            client.resolve(tls_registry.address, "sytest/tls", "1", ACCEPT)
    message = str(caught.value)
    assert message.startswith(f"cannot reach registry at {tls_registry.address}: https: ")
    assert "certificate verify failed: self-signed certificate" in message
    assert "http: GET /v2/ answered HTTP 400" in message  # the HTTP fallback hit a TLS port


def test_client_certificate_from_certs_d(tmp_path, mtls_registry, pki):
    certs_dir(tmp_path / "with", mtls_registry, pki, client=True)
    with RegistryClient(client_config(tmp_path / "with")) as client:
        push_image(client, mtls_registry.address, "sytest/mtls", "1", tiny_image("mtls"))
    certs_dir(tmp_path / "without", mtls_registry, pki)
    with RegistryClient(client_config(tmp_path / "without")) as client:
        with pytest.raises(errdefs.Unavailable) as caught:
            client.resolve(mtls_registry.address, "sytest/mtls", "1", ACCEPT)
    message = str(caught.value)
    assert message.startswith(f"cannot reach registry at {mtls_registry.address}: https: TLS handshake failed")


def _read_all(stream, size=1 << 20):
    out, buf = bytearray(), memoryview(bytearray(size))
    while n := stream.readinto(buf):
        out += buf[:n]
    return bytes(out)


def test_big_blob_over_https_is_read_from_the_tls_socket(tmp_path, tls_registry, pki):
    from runtime.registry.blobs import RAW_BODY_MIN
    from tests.integration.runtime.registry.helpers import digest_of
    certs_dir(tmp_path, tls_registry, pki)
    image = tiny_image("tls-big", (RAW_BODY_MIN + 100_000,))
    layer = image.layers[0]
    with RegistryClient(client_config(tmp_path)) as client:
        push_image(client, tls_registry.address, "sytest/tlsbig", "1", image)
        with client.open_blob(tls_registry.address, "sytest/tlsbig", digest_of(layer)) as stream:
            assert _read_all(stream) == layer
        # Decrypted bytes, through the TLS socket (not httpx's pieces) for all but h11's first.
        assert stream.direct_bytes > len(layer) - (64 << 10)
