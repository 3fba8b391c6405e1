"""The in-process CLI (`stackyard image`, `stackyard login`) reads insecure-registries from the
daemon config file, as the daemon does: an HTTPS registry with a certificate nobody trusts is
refused until the file lists it."""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from runtime.registry import RegistryClient
from tests.integration.runtime.registry.helpers import client_config, digest_of
from tests.integration.runtime.registry.test_tls import certs_dir, pki, tls_registry  # noqa: F401 (fixtures)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))


def _stackyard(tmp_path, *args):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker"), HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "stackyard.main", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=60, stdin=subprocess.DEVNULL)


def _push_tar_image(tmp_path, registry, pki, repo, tag):  # noqa: F811
    """A one-layer image (a real tar) pushed with a client that trusts the registry's CA."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    layer = gzip.compress(out.getvalue(), mtime=0)
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(out.getvalue())]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest_of(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": digest_of(layer), "size": len(layer)}]}).encode()
    certs_dir(tmp_path / "pusher", registry, pki)
    with RegistryClient(client_config(tmp_path / "pusher")) as client:
        for blob in (layer, config):
            client.push_blob(registry.address, repo, digest_of(blob), len(blob), blob)
        client.put_manifest(registry.address, repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest)


def _daemon_json(tmp_path, **values):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(values))
    return str(path)


def test_image_pull_honours_insecure_registries_from_the_daemon_config(tmp_path, tls_registry, pki):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("needs root (layer unpacking)")
    _push_tar_image(tmp_path, tls_registry, pki, "sytest/insecure", "v1")
    ref = f"{tls_registry.address}/sytest/insecure:v1"
    root = str(tmp_path / "root")
    refused = _stackyard(tmp_path, "image", "--root", root, "--config-file", _daemon_json(tmp_path),
                         "pull", "-q", ref)
    assert refused.returncode == 1 and tls_registry.address in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1
    config = _daemon_json(tmp_path, **{"insecure-registries": [tls_registry.address],
                                       "registry-mirrors": ["http://127.0.0.1:9"]})
    pulled = _stackyard(tmp_path, "image", "--root", root, "--config-file", config, "pull", "-q", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip().startswith("sha256:")


def test_login_honours_insecure_registries_from_the_daemon_config(tmp_path, tls_registry):  # noqa: F811
    args = ["login", tls_registry.address, "-u", "someone", "--password-stdin"]

    def login(config):
        env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker"), HOME=str(tmp_path))
        return subprocess.run([sys.executable, "-m", "stackyard.main", *args, "--config-file", config],
                              input="secret\n", capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=60)

    refused = login(_daemon_json(tmp_path))
    assert refused.returncode == 1 and tls_registry.address in refused.stderr, refused.stderr
    done = login(_daemon_json(tmp_path, **{"insecure-registries": [tls_registry.address]}))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Login Succeeded\n"


@pytest.mark.parametrize("content, message", [
    ('{"insecure-registries": "127.0.0.1:5000"}', "insecure-registries must be a list"),
    ('{"registry-mirrors": [5]}', "registry-mirrors must be a list of strings"),
    ('{"no-such-key": 1}', "unknown configuration key 'no-such-key'"),
    ("{", "invalid JSON"),
])
def test_a_bad_daemon_config_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "daemon.json"
    path.write_text(content)
    result = _stackyard(tmp_path, "image", "--root", str(tmp_path / "root"), "--config-file", str(path),
                        "pull", "127.0.0.1:1/x:1")
    assert result.returncode == 2 and message in result.stderr and str(path) in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    missing = _stackyard(tmp_path, "image", "--root", str(tmp_path / "root"),
                         "--config-file", str(tmp_path / "nope.json"), "pull", "127.0.0.1:1/x:1")
    assert missing.returncode == 2 and "cannot read daemon config" in missing.stderr
