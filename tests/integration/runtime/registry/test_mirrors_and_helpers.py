"""docker.io mirrors (pulls try them first, pushes never) and credentials from helpers, for real.

"Docker Hub" here is a local registry (RegistryConfig.docker_hub_url), so nothing leaves
127.0.0.1; the mirror and the hub sit behind counting proxies.
"""

import json
import os
import sys

import pytest

from runtime import errdefs
from runtime.registry import RegistryClient
from tests.integration.runtime.registry.faultproxy import FaultProxy
from tests.integration.runtime.registry.helpers import ACCEPT, client_config, push_image, tiny_image
from tests.integration.runtime.registry.registries import ConfiguredRegistry

HELPER = """#!{python}
import json, sys
store = {store!r}
data = json.load(open(store))
action, raw = sys.argv[1], sys.stdin.read()
if action == "get":
    if raw.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(data[raw.strip()]))
elif action == "store":
    item = json.loads(raw)
    data[item["ServerURL"]] = {{"Username": item["Username"], "Secret": item["Secret"]}}
    json.dump(data, open(store, "w"))
"""


@pytest.fixture
def hub_and_mirror(registry):
    """(hub proxy, mirror proxy): the session registry as "Docker Hub", a second registry as mirror."""
    mirror = ConfiguredRegistry()
    hub_proxy = mirror_proxy = None
    try:
        mirror.start()
        hub_proxy = FaultProxy(registry.address).start()
        mirror_proxy = FaultProxy(mirror.address).start()
        yield hub_proxy, mirror_proxy
    finally:
        for proxy in (hub_proxy, mirror_proxy):
            if proxy is not None:
                proxy.stop()
        mirror.stop()


def test_pull_uses_the_mirror_first_and_falls_back_to_the_hub(tmp_path, hub_and_mirror):
    hub, mirror = hub_and_mirror
    config = client_config(tmp_path, mirrors=[f"http://{mirror.address}"], docker_hub_url=f"http://{hub.address}")
    only_hub, in_both = tiny_image("hub-only"), tiny_image("mirrored")
    with RegistryClient(client_config(tmp_path / "direct")) as direct:
        push_image(direct, hub.address, "library/onlyhub", "1", only_hub)
        push_image(direct, hub.address, "library/both", "1", in_both)
        push_image(direct, mirror.address, "library/both", "1", in_both)
    hub.seen.clear()
    mirror.seen.clear()
    with RegistryClient(config) as client:
        _, body = client.get_manifest("docker.io", "library/both", "1", ACCEPT)
        assert body == in_both.manifest
        assert hub.requests(contains="/library/") == []  # served by the mirror alone
        _, body = client.get_manifest("docker.io", "library/onlyhub", "1", ACCEPT)
        assert body == only_hub.manifest
        assert [s.method for s in mirror.requests(contains="/library/onlyhub/")] == ["GET"]  # 404 there
        # A push to docker.io goes to the hub, never to a mirror.
        push_image(client, "docker.io", "library/pushed", "1", tiny_image("pushed"))
        assert mirror.requests(contains="/library/pushed/") == []
        assert hub.requests("PUT", "/library/pushed/manifests/1")


def test_dead_mirror_is_skipped(tmp_path, hub_and_mirror):
    hub, mirror = hub_and_mirror
    image = tiny_image("dead-mirror")
    with RegistryClient(client_config(tmp_path / "direct")) as direct:
        push_image(direct, hub.address, "library/deadmirror", "1", image)
    mirror.stop()  # a mirror that is down: connection refused
    config = client_config(tmp_path, mirrors=[f"http://{mirror.address}"], docker_hub_url=f"http://{hub.address}")
    with RegistryClient(config) as client:
        assert client.resolve("docker.io", "library/deadmirror", "1", ACCEPT).digest == image.manifest_digest


def test_credentials_from_creds_store_and_cred_helpers_reach_the_registry(tmp_path, basic_registry, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "store.json"
    store.write_text(json.dumps({basic_registry.address: {"Username": "alice", "Secret": "wonderland"}}))
    for name in ("sytest-store", "sytest-helper"):
        script = bindir / f"docker-credential-{name}"
        script.write_text(HELPER.format(python=sys.executable, store=str(store)))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    image = tiny_image("helpers")
    for docker_config in ({"credsStore": "sytest-store"},
                          {"credHelpers": {basic_registry.address: "sytest-helper"}, "credsStore": "absent"}):
        config = client_config(tmp_path / str(len(docker_config)))
        os.makedirs(os.path.dirname(config.docker_config_path))
        with open(config.docker_config_path, "w") as handle:
            json.dump(docker_config, handle)
        with RegistryClient(config) as client:
            assert push_image(client, basic_registry.address, "sytest/helpers", "1", image) == image.manifest_digest
    # The helper knows nothing about this registry: no credentials, a clear refusal.
    store.write_text("{}")
    with RegistryClient(config) as client:
        with pytest.raises(errdefs.Unauthenticated, match="no credentials for"):
            client.resolve(basic_registry.address, "sytest/helpers", "1", ACCEPT)
