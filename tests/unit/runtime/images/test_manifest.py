"""Manifest parsing, refusals and platform selection."""

import json

import pytest

from runtime import errdefs
from runtime.images import manifest as m

D1, D2, D3, D4 = ("sha256:" + c * 64 for c in "1234")


def _index(*platforms, media_type=m.OCI_INDEX):
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": [
        {"mediaType": m.OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 10, "platform": p}
        for i, p in enumerate(platforms)]}).encode()


PLATFORMS = [
    {"os": "linux", "architecture": "amd64"},
    {"os": "linux", "architecture": "arm64", "variant": "v8"},
    {"os": "linux", "architecture": "arm", "variant": "v6"},
    {"os": "linux", "architecture": "arm", "variant": "v7"},
    {"os": "unknown", "architecture": "unknown"},
]


@pytest.mark.parametrize("want,index", [
    ("linux/amd64", 0), ("linux/arm64/v8", 1), ("linux/arm64", 1), ("arm64", 1),
    ("linux/arm/v6", 2), ("linux/arm/v7", 3), ("linux/arm", 3), ("linux/aarch64", 1),
])
def test_select_manifest_by_platform(want, index):
    idx = m.parse(_index(*PLATFORMS), None, where="x")
    chosen = m.select_manifest(idx, m.parse_platform(want), where="x")
    assert chosen.digest == f"sha256:{index:064x}"


def test_select_manifest_none_matches_lists_available():
    idx = m.parse(_index(*PLATFORMS[:2]), None, where="img")
    with pytest.raises(errdefs.NotFound) as info:
        m.select_manifest(idx, m.parse_platform("linux/s390x"), where="img")
    assert "linux/s390x" in str(info.value) and "linux/amd64, linux/arm64/v8" in str(info.value)


def test_docker_manifest_list_parsed():
    idx = m.parse(_index(PLATFORMS[0], media_type=m.DOCKER_LIST), m.DOCKER_LIST, where="x")
    assert isinstance(idx, m.Index) and idx.media_type == m.DOCKER_LIST


def test_manifest_parsed_with_layers():
    body = json.dumps({"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST,
                       "config": {"mediaType": m.DOCKER_CONFIG, "digest": D1, "size": 5},
                       "layers": [{"mediaType": m.DOCKER_LAYER_GZIP, "digest": D2, "size": 7},
                                  {"mediaType": m.OCI_LAYER_ZSTD, "digest": D3, "size": 8}]}).encode()
    man = m.parse(body, None, where="x")
    assert isinstance(man, m.Manifest)
    assert [m.LAYER_COMPRESSION[l.media_type] for l in man.layers] == ["gzip", "zstd"]


def test_schema1_refused_with_explanation():
    body = json.dumps({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []}).encode()
    with pytest.raises(errdefs.Unsupported) as info:
        m.parse(body, m.DOCKER_SCHEMA1_SIGNED, where="127.0.0.1:5000/old:1")
    assert "schema 1" in str(info.value) and "127.0.0.1:5000/old:1" in str(info.value)


def test_unknown_media_type_refused():
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json"}).encode()
    with pytest.raises(errdefs.Unsupported) as info:
        m.parse(body, None, where="x")
    assert "application/vnd.example.thing+json" in str(info.value)


def test_unknown_layer_media_type_refused():
    body = json.dumps({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
                       "config": {"mediaType": m.OCI_CONFIG, "digest": D1, "size": 5},
                       "layers": [{"mediaType": "application/x-weird", "digest": D2, "size": 7}]}).encode()
    with pytest.raises(errdefs.Unsupported) as info:
        m.parse(body, None, where="x")
    assert D2 in str(info.value)


def test_malformed_descriptor_refused():
    body = json.dumps({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
                       "config": {"mediaType": m.OCI_CONFIG, "digest": "sha256:zz", "size": 5},
                       "layers": []}).encode()
    with pytest.raises(errdefs.InvalidArgument):
        m.parse(body, None, where="x")


def test_chain_ids():
    import hashlib
    ids = m.chain_ids([D1, D2])
    assert ids[0] == D1
    assert ids[1] == "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()


def test_parse_platform_refuses_garbage():
    with pytest.raises(errdefs.InvalidArgument):
        m.parse_platform("linux//v7")


@pytest.mark.parametrize("want, config, actual", [
    ("linux/s390x", {"os": "linux", "architecture": "amd64"}, "linux/amd64"),
    ("linux/arm/v6", {"os": "linux", "architecture": "arm", "variant": "v7"}, "linux/arm/v7"),
    ("linux/amd64", {"os": "linux", "architecture": "amd64"}, None),
    ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, None),
    ("linux/arm/v7", {"os": "linux", "architecture": "arm"}, None),
    ("linux/amd64", {"rootfs": {}}, None),  # a config naming no platform is not judged
])
def test_config_platform_mismatch(want, config, actual):
    got = m.config_platform_mismatch(m.parse_platform(want), config)
    assert (str(got) if got else None) == actual
