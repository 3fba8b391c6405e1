"""The daemon's pure parts: path versions, routing, event filters and timestamps, config files."""

import asyncio
import json

import pytest

from runtime import errdefs
from runtime.config import make_config, read_config_file
from runtime.daemon.http import Request
from runtime.daemon.router import MethodNotAllowed, Router, check_version, split_version
from runtime.events import EventBus, make_event, matches, parse_timestamp


def request(method, path):
    return Request(method=method, target=path, path=path, query={}, headers={})


def test_split_and_check_versions():
    assert split_version("/v1.41/containers/json") == ("1.41", "/containers/json")
    assert split_version("/containers/json") == (None, "/containers/json")
    assert check_version(None) == "1.41"
    assert check_version("1.24") == "1.24"
    with pytest.raises(errdefs.InvalidArgument, match="too new. Maximum supported API version is 1.41"):
        check_version("1.43")
    with pytest.raises(errdefs.InvalidArgument, match="too old. Minimum supported API version is 1.24"):
        check_version("1.12")


async def _handler(request):
    return request.params


def test_routes_match_names_with_slashes_only_where_declared():
    router = Router()
    router.add("GET", "/images/{name:path}/json", _handler)
    router.add("POST", "/containers/{id}/start", _handler)
    req = request("GET", "/v1.41/images/127.0.0.1:5000/team/app:1/json")
    handler = router.resolve(req)
    assert asyncio.run(handler(req)) == {"name": "127.0.0.1:5000/team/app:1"}
    assert req.api_version == "1.41" and req.path == "/images/127.0.0.1:5000/team/app:1/json"
    with pytest.raises(errdefs.NotFound, match="page not found"):
        router.resolve(request("POST", "/containers/a/b/start"))
    with pytest.raises(MethodNotAllowed):
        router.resolve(request("GET", "/containers/abc/start"))


def test_head_is_served_by_get_routes():
    router = Router()
    router.add("GET", "/_ping", _handler)
    assert router.resolve(request("HEAD", "/_ping")) is _handler


def test_event_filters_follow_docker_rules():
    start = make_event("container", "start", "abc123", {"name": "web-1", "image": "busybox",
                                                       "com.docker.compose.project": "demo"})
    health = make_event("container", "health_status: healthy", "abc123", {"name": "web-1"})
    net = make_event("network", "connect", "net1", {"name": "demo_default"})
    assert matches(start, {"type": ["container"], "event": ["start", "die"]})
    assert not matches(start, {"type": ["network"]})
    assert matches(health, {"event": ["health_status"]})
    assert matches(start, {"label": ["com.docker.compose.project=demo"]})
    assert not matches(start, {"label": ["com.docker.compose.project=other"]})
    assert matches(start, {"container": ["web-1"]}) and matches(start, {"container": ["abc"]})
    assert matches(start, {"image": ["busybox"]})
    assert matches(net, {"network": ["demo_default"]}) and not matches(start, {"network": ["demo_default"]})
    assert start["status"] == "start" and start["from"] == "busybox"


def test_timestamps_in_every_form_docker_accepts():
    now = 1_800_000_000 * 10**9
    assert parse_timestamp("1700000000") == 1_700_000_000 * 10**9
    assert parse_timestamp("1700000000.5") == 1_700_000_000 * 10**9 + 500_000_000
    assert parse_timestamp("10m", now) == now - 600 * 10**9
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1_700_000_000 * 10**9
    assert parse_timestamp(None) is None
    with pytest.raises(errdefs.InvalidArgument, match="invalid timestamp 'yesterday'"):
        parse_timestamp("yesterday")


def test_subscribers_replay_history_and_follow_until():
    async def scenario():
        bus = EventBus()
        bus.emit("container", "create", "a1", {"name": "one"})
        since = bus.history[0]["timeNano"]
        got = []

        async def consume():
            async for event in bus.subscribe({"type": ["container"]}, since_ns=since):
                got.append(event["Action"])
                if len(got) == 3:
                    return
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        bus.emit("network", "create", "n1", {"name": "net"})   # filtered out
        bus.emit("container", "start", "a1", {"name": "one"})
        bus.emit("container", "die", "a1", {"name": "one"})
        await asyncio.wait_for(task, 2)
        assert bus.subscribers == []
        return got
    assert asyncio.run(scenario()) == ["create", "start", "die"]


def test_config_file_keys_are_checked(tmp_path):
    good = tmp_path / "daemon.json"
    good.write_text(json.dumps({"insecure-registries": ["registry.lan:5000"], "log-level": "debug"}))
    config = make_config(read_config_file(str(good)), root="/srv/sy", hosts=None)
    assert config.root == "/srv/sy" and config.log_level == "debug"
    assert config.insecure_registries == ("registry.lan:5000",)
    assert config.socket_paths == ["/run/stackyard/stackyard.sock"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"insecure-registry": []}))
    with pytest.raises(errdefs.InvalidArgument, match="unknown configuration key 'insecure-registry'"):
        read_config_file(str(bad))
    with pytest.raises(errdefs.InvalidArgument, match="invalid host"):
        make_config({}, hosts=["/run/x.sock"])
