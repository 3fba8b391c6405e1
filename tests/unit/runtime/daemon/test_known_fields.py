"""Unknown fields in JSON request bodies are refused with a 400 naming the field and where it is.

Pure checks of runtime/daemon/validate.py against the generated runtime/daemon/known_fields.py,
and a regeneration of that module from the v1.41 swagger (so the two cannot drift).
"""

from __future__ import annotations

import pytest

from runtime import errdefs
from runtime.daemon import known_fields, known_fields_gen, validate


def test_known_fields_module_is_what_the_generator_makes_from_the_swagger():
    swagger = known_fields_gen.DEFAULT_SWAGGER
    if not swagger.exists():
        pytest.skip(f"the swagger is not here ({swagger}); cannot check known_fields.py against it")
    pytest.importorskip("yaml")
    committed = known_fields_gen.OUTPUT.read_text()
    assert known_fields_gen.generate(swagger) == committed, (
        "runtime/daemon/known_fields.py is stale: run `python3 -m runtime.daemon.known_fields_gen`")


@pytest.mark.parametrize("spec,value,message", [
    (validate.CONTAINER_CREATE, {"Image": "busybox", "HostConfg": {}},
     'unknown field "HostConfg" in the request body (did you mean "HostConfig"?)'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Memroy": 1 << 20}},
     'unknown field "HostConfig.Memroy" in the request body (did you mean "HostConfig.Memory"?)'),
    (validate.CONTAINER_CREATE, {"Healthcheck": {"Intervall": 1}}, 'unknown field "Healthcheck.Intervall"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Mounts": [{"Target": "/a"}, {"BindOptions": {"Propagaton": "x"}}]}},
     'unknown field "HostConfig.Mounts[1].BindOptions.Propagaton"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Mounts": [{"VolumeOptions": {"DriverConfig": {"Nme": "x"}}}]}},
     'unknown field "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Nme"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Mounts": [{"TmpfsOptions": {"Size": 1}}]}},
     'unknown field "HostConfig.Mounts[0].TmpfsOptions.Size"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"LogConfig": {"Typ": "json-file"}}},
     'unknown field "HostConfig.LogConfig.Typ"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"RestartPolicy": {"MaxRetries": 3}}},
     'unknown field "HostConfig.RestartPolicy.MaxRetries"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Ulimits": [{"Name": "nofile", "Max": 5}]}},
     'unknown field "HostConfig.Ulimits[0].Max"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"Devices": [{"Path": "/dev/null"}]}},
     'unknown field "HostConfig.Devices[0].Path"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"DeviceRequests": [{"Drivers": "nvidia"}]}},
     'unknown field "HostConfig.DeviceRequests[0].Drivers"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "Port": "8080"}]}}},
     'unknown field "HostConfig.PortBindings.80/tcp[0].Port"'),
    (validate.CONTAINER_CREATE, {"HostConfig": {"BlkioWeightDevice": [{"Path": "/dev/sda", "Weigth": 5}]}},
     'unknown field "HostConfig.BlkioWeightDevice[0].Weigth"'),
    (validate.CONTAINER_CREATE, {"NetworkingConfig": {"EndpointConfig": {}}},
     'unknown field "NetworkingConfig.EndpointConfig"'),
    (validate.CONTAINER_CREATE, {"NetworkingConfig": {"EndpointsConfig": {"front": {"Alias": ["a"]}}}},
     'unknown field "NetworkingConfig.EndpointsConfig.front.Alias" in the request body (did you mean '
     '"NetworkingConfig.EndpointsConfig.front.Aliases"?)'),
    (validate.CONTAINER_CREATE,
     {"NetworkingConfig": {"EndpointsConfig": {"front": {"IPAMConfig": {"IPv4": "10.0.0.2"}}}}},
     'unknown field "NetworkingConfig.EndpointsConfig.front.IPAMConfig.IPv4"'),
    (validate.CONTAINER_UPDATE, {"Memory": 1, "Restart": {}}, 'unknown field "Restart"'),
    (validate.CONTAINER_UPDATE, {"RestartPolicy": {"Nam": "always"}}, 'unknown field "RestartPolicy.Nam"'),
    (validate.EXEC_CREATE, {"Cmd": ["true"], "Command": ["x"]}, 'unknown field "Command"'),
    (validate.EXEC_START, {"Detach": True, "Stream": True}, 'unknown field "Stream"'),
    (validate.NETWORK_CREATE, {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gatway": "10.9.0.1"}]}},
     'unknown field "IPAM.Config[0].Gatway"'),
    (validate.NETWORK_CREATE, {"Name": "n", "IPAM": {"Drivr": "default"}}, 'unknown field "IPAM.Drivr"'),
    (validate.NETWORK_CONNECT, {"Container": "c", "EndpointConfig": {"Aliasses": []}},
     'unknown field "EndpointConfig.Aliasses"'),
    (validate.NETWORK_DISCONNECT, {"Container": "c", "Forced": True}, 'unknown field "Forced"'),
    (validate.VOLUME_CREATE, {"Name": "v", "Options": {}}, 'unknown field "Options"'),
    (validate.AUTH, {"username": "u", "pass": "p"}, 'unknown field "pass"'),
])
def test_an_unknown_field_is_refused_naming_its_path(spec, value, message):
    with pytest.raises(errdefs.InvalidArgument) as failure:
        validate.body(value, spec)
    assert message in str(failure.value)


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(errdefs.InvalidArgument) as failure:
        validate.body({"Zzzzqqq": 1}, validate.CONTAINER_CREATE)
    assert str(failure.value) == 'unknown field "Zzzzqqq" in the request body'


def test_keys_match_case_insensitively_as_in_go_and_take_the_known_spelling():
    body = validate.body({"image": "busybox", "hostconfig": {"memory": 5, "restartpolicy": {"name": "always"}},
                          "networkingconfig": {"endpointsconfig": {"Front": {"aliases": ["a"]}}}},
                         validate.CONTAINER_CREATE)
    assert body == {"Image": "busybox", "HostConfig": {"Memory": 5, "RestartPolicy": {"Name": "always"}},
                    "NetworkingConfig": {"EndpointsConfig": {"Front": {"Aliases": ["a"]}}}}
    # Types are checked under the known spelling too.
    with pytest.raises(errdefs.InvalidArgument, match="HostConfig.Memory"):
        validate.body({"hostconfig": {"MEMORY": "lots"}}, validate.CONTAINER_CREATE)


def test_the_last_of_two_spellings_wins_as_in_go():
    assert validate.body({"Tty": True, "tty": False}, validate.CONTAINER_CREATE) == {"Tty": False}


def test_free_form_maps_take_any_key():
    body = {"Labels": {"anything.goes": "x"}, "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
            "HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1"}, "Tmpfs": {"/run": "size=1m"},
                           "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
                           "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "81/udp": None},
                           "StorageOpt": {"size": "1G"}},
            "NetworkingConfig": {"EndpointsConfig": {"any-network-name": {"DriverOpts": {"k": "v"}}}}}
    assert validate.body(body, validate.CONTAINER_CREATE)["HostConfig"]["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert validate.body({"Name": "v", "DriverOpts": {"type": "tmpfs"}, "Labels": {"a": "b"}},
                         validate.VOLUME_CREATE)["DriverOpts"] == {"type": "tmpfs"}


def test_wrong_shapes_are_still_reported_as_types_not_as_unknown_keys():
    with pytest.raises(errdefs.InvalidArgument, match="invalid HostConfig: expected an object"):
        validate.body({"HostConfig": ["x"]}, validate.CONTAINER_CREATE)
    with pytest.raises(errdefs.InvalidArgument, match=r"invalid HostConfig.Mounts: expected a list"):
        validate.body({"HostConfig": {"Mounts": {"Target": "/a"}}}, validate.CONTAINER_CREATE)


def test_the_keys_real_clients_send_beyond_the_swagger_are_accepted():
    # docker CLI 20.10/28 exec, network create and endpoint bodies (Go structs marshalled whole), our
    # orchestrator's healthcheck StartInterval, docker compose's CreateMountpoint, the CLI's auth.
    validate.body({"User": "", "Privileged": False, "Tty": False, "AttachStdin": False, "AttachStderr": True,
                   "AttachStdout": True, "Detach": False, "DetachKeys": "", "Env": None, "WorkingDir": "",
                   "Cmd": ["true"]}, validate.EXEC_CREATE)
    validate.body({"Container": "x", "Cmd": ["true"]}, validate.EXEC_CREATE)  # docker-py 7.1
    validate.body({"Detach": False, "Tty": True, "ConsoleSize": [24, 80]}, validate.EXEC_START)
    validate.body({"Name": "n", "CheckDuplicate": True, "Driver": "bridge", "Scope": "", "EnableIPv6": False,
                   "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24"}]},
                   "Internal": False, "Attachable": False, "Ingress": False, "ConfigOnly": False,
                   "ConfigFrom": None, "Options": {}, "Labels": {}}, validate.NETWORK_CREATE)
    endpoint = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": None}  # what docker CLI 28 sends for every network
    validate.body({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"default": endpoint}}},
                  validate.CONTAINER_CREATE)
    validate.body({"Container": "x", "EndpointConfig": endpoint}, validate.NETWORK_CONNECT)
    validate.body({"Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 100}, "HostConfig": {
        "Mounts": [{"Type": "bind", "Source": "/a", "Target": "/b", "BindOptions": {"CreateMountpoint": True}}]}},
        validate.CONTAINER_CREATE)
    validate.body({"username": "u", "password": "p", "auth": "", "email": "", "serveraddress": "r",
                   "identitytoken": "", "registrytoken": ""}, validate.AUTH)


def _known_paths(node, prefix=""):
    if node is None:
        return
    if "keys" in node:
        for key, child in node["keys"].items():
            yield f"{prefix}.{key}" if prefix else key
            yield from _known_paths(child, f"{prefix}.{key}" if prefix else key)
    elif "map" in node:
        yield from _known_paths(node["map"], f"{prefix}.*")
    else:
        yield from _known_paths(node["items"], f"{prefix}[]")


def _typed_paths(kind, prefix=""):
    if not isinstance(kind, tuple):
        return
    shape, inner = kind
    if shape == "object":
        for key, child in inner.items():
            yield f"{prefix}.{key}" if prefix else key
            yield from _typed_paths(child, f"{prefix}.{key}" if prefix else key)
    elif shape == "map":
        yield from _typed_paths(inner, f"{prefix}.*")
    else:
        yield from _typed_paths(inner, f"{prefix}[]")


@pytest.mark.parametrize("name", ["CONTAINER_CREATE", "CONTAINER_UPDATE", "EXEC_CREATE", "EXEC_START",
                                  "NETWORK_CREATE", "NETWORK_CONNECT", "NETWORK_DISCONNECT",
                                  "VOLUME_CREATE", "AUTH"])
def test_every_type_checked_field_is_a_known_field(name):
    # A field the type tables check but the known tree lacks would be refused before its check.
    spec = getattr(validate, name)
    assert set(_typed_paths(spec.kind)) - set(_known_paths(spec.known)) == set()


def test_the_bodies_cover_every_route_the_generator_knows():
    assert set(known_fields.BODIES) == set(known_fields_gen.ROUTES)


def test_the_swaggers_own_example_bodies_pass():
    swagger = known_fields_gen.DEFAULT_SWAGGER
    if not swagger.exists():
        pytest.skip(f"the swagger is not here ({swagger})")
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(swagger.read_text())
    specs = {"containers/create": validate.CONTAINER_CREATE, "containers/update": validate.CONTAINER_UPDATE,
             "containers/exec": validate.EXEC_CREATE, "exec/start": validate.EXEC_START,
             "networks/create": validate.NETWORK_CREATE, "networks/connect": validate.NETWORK_CONNECT,
             "volumes/create": validate.VOLUME_CREATE}
    for route, spec in specs.items():
        path, method = known_fields_gen.ROUTES[route]
        schema = next(p["schema"] for p in document["paths"][path][method]["parameters"] if p["in"] == "body")
        example = schema.get("example") or next(part["example"] for part in schema["allOf"] if "example" in part)
        if route == "containers/create":
            # The example's MaximumIOps/MaximumIOBps are no fields of Go's HostConfig (dockerd
            # ignores them; the real ones are IOMaximumIOps/IOMaximumBandwidth), and its
            # DeviceRequests[0] has a typo `DeviceIDs"`: we refuse all three.
            with pytest.raises(errdefs.InvalidArgument, match='did you mean "HostConfig.IOMaximumIOps"'):
                validate.body(example, spec)
            host = {key: value for key, value in example["HostConfig"].items()
                    if key not in ("MaximumIOps", "MaximumIOBps")}
            with pytest.raises(errdefs.InvalidArgument, match='"HostConfig.DeviceRequests\\[0\\].DeviceIDs"'):
                validate.body({**example, "HostConfig": host}, spec)
            host["DeviceRequests"] = [{key.rstrip('"'): value for key, value in request.items()}
                                      for request in host["DeviceRequests"]]
            example = {**example, "HostConfig": host}
        validate.body(example, spec)
