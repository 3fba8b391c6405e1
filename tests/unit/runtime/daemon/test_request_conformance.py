"""The daemon's boundary checks (pure): body type checks, path parameters, response shapes."""

import pytest

from runtime import errdefs
from runtime.daemon import shapes, validate
from runtime.daemon.http import Request
from runtime.daemon.router import Router


def create(body):
    return validate.body(body, validate.CONTAINER_CREATE)


def test_a_valid_create_body_passes_and_strslices_become_lists():
    body = create({"Image": "busybox", "Cmd": "true", "Entrypoint": None, "Env": ["A=1"],
                   "HostConfig": {"Memory": 1024, "CapAdd": "NET_ADMIN", "PortBindings": {"80/tcp": None},
                                  "RestartPolicy": {"Name": "always"}}})
    assert body["Cmd"] == ["true"] and body["HostConfig"]["CapAdd"] == ["NET_ADMIN"]


@pytest.mark.parametrize("body,where", [
    ({"Cmd": 5}, "Cmd"), ({"HostConfig": "x"}, "HostConfig"), ({"HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
    ({"Labels": ["a=b"]}, "Labels"), ({"Labels": {"a": 1}}, "Labels.a"), ({"Tty": 1}, "Tty"),
    ({"HostConfig": {"Memory": True}}, "HostConfig.Memory"), ({"HostConfig": {"Memory": 2 ** 63}}, "HostConfig.Memory"),
    ({"HostConfig": {"Mounts": [{"Source": 5}]}}, "HostConfig.Mounts[0].Source"),
    ({"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "a"}}}}, "EndpointsConfig.n.Aliases"),
])
def test_wrong_types_name_the_field(body, where):
    with pytest.raises(errdefs.InvalidArgument) as failure:
        create(body)
    assert where in str(failure.value)


def test_nulls_inside_lists_and_maps_are_go_zero_values():
    body = validate.body({"Labels": {"a": None}, "Name": None}, validate.VOLUME_CREATE)
    assert body == {"Labels": {"a": ""}, "Name": None}


@pytest.mark.parametrize("raw", [[], 5, "x", None])
def test_a_body_must_be_an_object(raw):
    with pytest.raises(errdefs.InvalidArgument, match="expected an object"):
        validate.body(raw, validate.NETWORK_CREATE)


def _resolve(path):
    router = Router()

    async def handler(request):
        return None
    router.add("GET", "/volumes/{name}", handler)
    router.add("GET", "/images/{name:path}/json", handler)
    request = Request("GET", path, path, {}, {})
    router.resolve(request)
    return request.params


def test_path_parameters_that_could_escape_or_overflow_a_file_name_are_refused():
    assert _resolve("/volumes/data")["name"] == "data"
    assert _resolve("/images/127.0.0.1:5000/a/b:1/json")["name"] == "127.0.0.1:5000/a/b:1"
    for path in ("/volumes/..", "/volumes/" + "a" * 256, "/images/a/../b/json", "/volumes/a\x00"):
        with pytest.raises(errdefs.InvalidArgument):
            _resolve(path)


def test_response_shapes_drop_nulls_the_swagger_does_not_allow():
    inspect = shapes.container_inspect({"HostConfig": {"CapAdd": None, "Memory": 0,
                                                       "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
                                        "GraphDriver": {"Name": "overlay2", "Data": None}})
    assert inspect["HostConfig"] == {"Memory": 0, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}
    assert inspect["GraphDriver"]["Data"] == {}
    assert shapes.wait_result({"StatusCode": 0, "Error": None}) == {"StatusCode": 0}
    assert shapes.wait_result({"StatusCode": -1, "Error": {"Message": "x"}})["Error"] == {"Message": "x"}
    network = shapes.network({"IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "AuxiliaryAddresses": {}}]}})
    assert network["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24"}]
