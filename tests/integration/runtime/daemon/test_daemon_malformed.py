"""Malformed requests (bad JSON, wrong types, unknown fields, huge bodies, bad query values and paths, HTTP
garbage, half-sent requests) get a 4xx with `{"message": …}` — never a 500, never a dropped
daemon — and a slow client never blocks the others.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def api(stackyard_daemon, busybox_ref):
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(stackyard_daemon.socket)),
                          base_url="http://stackyard/v1.41", timeout=30)
    repo, tag = busybox_ref.rsplit(":", 1)
    pulled = client.post("/images/create", params={"fromImage": repo, "tag": tag})
    assert pulled.status_code == 200 and b'"error"' not in pulled.content, pulled.text
    try:
        yield client
    finally:
        client.close()


def alive(daemon) -> None:
    """The daemon process is up and answers on a fresh connection."""
    assert daemon.process.poll() is None, daemon.log_text()[-3000:]
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), timeout=5) as fresh:
        assert fresh.get("http://stackyard/_ping").text == "OK"


def assert_client_error(response, *, word: str = "") -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    assert word.lower() in body["message"].lower(), body
    return body["message"]


def raw(daemon, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes on a raw connection, read until the daemon closes or goes quiet."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    sock.connect(str(daemon.socket))
    try:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before we finished sending: read the answer
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


BAD_JSON = [b"{", b"not json", b'{"Image": "x",}', b"\xff\xfe\x00", b"[1, 2", b"null x"]


@pytest.mark.parametrize("path", ["/containers/create", "/networks/create", "/volumes/create",
                                  "/auth", "/containers/nope/update"])
def test_bad_json_bodies_are_400(api, stackyard_daemon, path):
    for body in BAD_JSON:
        response = api.post(path, content=body, headers={"Content-Type": "application/json"})
        if path.endswith("/update") and response.status_code == 404:
            continue  # the container is looked up first there, as Docker does
        assert_client_error(response)
    for body in (b"[]", b"5", b'"text"', b"true"):
        assert_client_error(api.post(path, content=body, headers={"Content-Type": "application/json"}))
    alive(stackyard_daemon)


WRONG_TYPES = [
    ({"Cmd": 5}, "Cmd"),
    ({"Cmd": [1, 2]}, "Cmd"),
    ({"Entrypoint": {"a": 1}}, "Entrypoint"),
    ({"Env": "A=1"}, "Env"),
    ({"Env": [{"A": 1}]}, "Env"),
    ({"Labels": ["a=b"]}, "Labels"),
    ({"Labels": {"a": 1}}, "Labels"),
    ({"Image": 5}, "Image"),
    ({"Tty": "yes"}, "Tty"),
    ({"ExposedPorts": ["80/tcp"]}, "ExposedPorts"),
    ({"WorkingDir": ["/"]}, "WorkingDir"),
    ({"User": 0}, "User"),
    ({"StopTimeout": "10"}, "StopTimeout"),
    ({"Volumes": ["/data"]}, "Volumes"),
    ({"HostConfig": "x"}, "HostConfig"),
    ({"HostConfig": {"Memory": "lots"}}, "Memory"),
    ({"HostConfig": {"Memory": 1.5e300}}, "Memory"),
    ({"HostConfig": {"NanoCpus": "2"}}, "NanoCpus"),
    ({"HostConfig": {"Binds": "/a:/b"}}, "Binds"),
    ({"HostConfig": {"Binds": [5]}}, "Binds"),
    ({"HostConfig": {"PortBindings": ["80:80"]}}, "PortBindings"),
    ({"HostConfig": {"PortBindings": {"80/tcp": "80"}}}, "PortBindings"),
    ({"HostConfig": {"RestartPolicy": "always"}}, "RestartPolicy"),
    ({"HostConfig": {"Mounts": {"Type": "bind"}}}, "Mounts"),
    ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": 5, "Target": "/x"}]}}, "Source"),
    ({"HostConfig": {"CapAdd": 5}}, "CapAdd"),
    ({"HostConfig": {"Dns": "1.1.1.1"}}, "Dns"),
    ({"HostConfig": {"Tmpfs": ["/tmp"]}}, "Tmpfs"),
    ({"HostConfig": {"Privileged": "true"}}, "Privileged"),
    ({"HostConfig": {"Ulimits": {"nofile": 5}}}, "Ulimits"),
    ({"HostConfig": {"LogConfig": "json-file"}}, "LogConfig"),
    ({"NetworkingConfig": "x"}, "NetworkingConfig"),
    ({"NetworkingConfig": {"EndpointsConfig": ["bridge"]}}, "EndpointsConfig"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": "1s"}}, "Interval"),
]


@pytest.mark.parametrize("change,word", WRONG_TYPES, ids=[w + str(i) for i, (_, w) in enumerate(WRONG_TYPES)])
def test_wrong_types_in_container_create_are_400_naming_the_field(api, stackyard_daemon, busybox_ref, change, word):
    body = {"Image": busybox_ref, "Cmd": ["true"]}
    for key, value in change.items():
        body[key] = value
    response = api.post("/containers/create", json=body)
    assert_client_error(response, word=word)
    assert api.get("/containers/json", params={"all": "1"}).json() == []  # nothing half-created
    alive(stackyard_daemon)


def test_wrong_types_elsewhere_are_400(api, stackyard_daemon, busybox_ref):
    checks = [
        ("/networks/create", {"Name": 5}),
        ("/networks/create", {"Name": "n", "Labels": ["a"]}),
        ("/networks/create", {"Name": "n", "IPAM": "x"}),
        ("/networks/create", {"Name": "n", "IPAM": {"Config": {"Subnet": "10.9.0.0/24"}}}),
        ("/networks/create", {"Name": "n", "Internal": "yes"}),
        ("/networks/create", {"Name": "n", "Options": {"a": 1}}),
        ("/volumes/create", {"Name": 5}),
        ("/volumes/create", {"Name": "v", "Labels": ["a"]}),
        ("/volumes/create", {"Name": "v", "DriverOpts": {"a": 1}}),
        ("/auth", {"username": 5, "password": "p", "serveraddress": "127.0.0.1:1"}),
    ]
    for path, body in checks:
        assert_client_error(api.post(path, json=body))
    created = api.post("/containers/create", json={"Image": busybox_ref, "Cmd": ["sleep", "30"]})
    assert created.status_code == 201, created.text
    cid = created.json()["Id"]
    try:
        for body in ({"Cmd": "true"}, {"Cmd": [5]}, {"Env": "A"}, {"Tty": "x"}, {"AttachStdin": 1},
                     {"Cmd": []}, {"User": ["root"]}):
            assert_client_error(api.post(f"/containers/{cid}/exec", json=body))
        network = api.post("/networks/create", json={"Name": "malformed-net"}).json()["Id"]
        try:
            for body in ({"Container": 5}, {"Container": cid, "EndpointConfig": "x"},
                         {"Container": cid, "EndpointConfig": {"Aliases": "a"}}):
                assert_client_error(api.post(f"/networks/{network}/connect", json=body))
        finally:
            api.delete(f"/networks/{network}")
    finally:
        api.delete(f"/containers/{cid}", params={"force": "1"})
    assert api.get("/volumes").json()["Volumes"] in (None, [])
    alive(stackyard_daemon)


UNKNOWN_IN_CREATE = [
    ({"HostConfg": {"Memory": 8 << 20}}, 'unknown field "HostConfg" in the request body (did you mean "HostConfig"?)'),
    ({"HostConfig": {"Memroy": 8 << 20}}, 'unknown field "HostConfig.Memroy"'),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Intervall": 1}}, 'unknown field "Healthcheck.Intervall"'),
    ({"HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Size": 1}}]}},
     'unknown field "HostConfig.Mounts[0].TmpfsOptions.Size"'),
    ({"HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaxRetries": 3}}},
     'unknown field "HostConfig.RestartPolicy.MaxRetries"'),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "Port": "8080"}]}}},
     'unknown field "HostConfig.PortBindings.80/tcp[0].Port"'),
    ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Alias": ["a"]}}}},
     'unknown field "NetworkingConfig.EndpointsConfig.bridge.Alias"'),
]


@pytest.mark.parametrize("change,message", UNKNOWN_IN_CREATE,
                         ids=[f"unknown{i}" for i in range(len(UNKNOWN_IN_CREATE))])
def test_unknown_fields_in_container_create_are_400_naming_the_field(api, stackyard_daemon, busybox_ref,
                                                                       change, message):
    """Unlike dockerd (which ignores them): a typo such as Memroy must not run the container
    without the limit the user asked for."""
    response = api.post("/containers/create", json={"Image": busybox_ref, "Cmd": ["true"], **change})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert api.get("/containers/json", params={"all": "1"}).json() == []  # nothing half-created
    alive(stackyard_daemon)


def test_unknown_fields_elsewhere_are_400_naming_the_field(api, stackyard_daemon, busybox_ref):
    checks = [
        ("/networks/create", {"Name": "unknown-net", "Labls": {}}, '"Labls"'),
        ("/networks/create",
         {"Name": "unknown-net", "IPAM": {"Config": [{"Subnet": "10.97.0.0/24", "Gatway": "10.97.0.1"}]}},
         '"IPAM.Config[0].Gatway"'),
        ("/volumes/create", {"Name": "unknown-vol", "Options": {"type": "tmpfs"}}, '"Options"'),
        ("/auth", {"username": "u", "pass": "p", "serveraddress": "127.0.0.1:1"}, '"pass"'),
        ("/exec/nope/start", {"Detach": True, "Stream": True}, '"Stream"'),
    ]
    for path, body, field in checks:
        assert field in assert_client_error(api.post(path, json=body), word="unknown field")
    assert api.get("/networks", params={"filters": json.dumps({"name": ["unknown-net"]})}).json() == []
    assert api.get("/volumes").json()["Volumes"] in (None, [])
    created = api.post("/containers/create", json={"Image": busybox_ref, "Cmd": ["sleep", "30"]})
    assert created.status_code == 201, created.text
    cid = created.json()["Id"]
    try:
        assert '"Memroy"' in assert_client_error(api.post(f"/containers/{cid}/update", json={"Memroy": 8 << 20}))
        assert api.get(f"/containers/{cid}/json").json()["HostConfig"]["Memory"] == 0
        exec_body = {"Cmd": ["true"], "Command": ["x"]}
        assert '"Command"' in assert_client_error(api.post(f"/containers/{cid}/exec", json=exec_body))
        network = api.post("/networks/create", json={"Name": "malformed-net"}).json()["Id"]
        try:
            message = assert_client_error(api.post(f"/networks/{network}/connect",
                                                   json={"Container": cid, "EndpointConfig": {"Aliasses": ["a"]}}))
            assert '"EndpointConfig.Aliasses"' in message and '"EndpointConfig.Aliases"' in message
            assert '"Forced"' in assert_client_error(api.post(f"/networks/{network}/disconnect",
                                                               json={"Container": cid, "Forced": True}))
            assert api.get(f"/networks/{network}").json()["Containers"] in (None, {})
        finally:
            api.delete(f"/networks/{network}")
    finally:
        api.delete(f"/containers/{cid}", params={"force": "1"})
    alive(stackyard_daemon)


def test_keys_in_another_case_mean_the_known_field_as_in_go(api, stackyard_daemon, busybox_ref):
    """Go's encoding/json matches keys case-insensitively, so dockerd takes "hostconfig" for
    HostConfig; we do the same rather than refuse or ignore it."""
    response = api.post("/containers/create", json={"image": busybox_ref, "cmd": ["true"],
                                                    "hostconfig": {"memory": 8 << 20}, "LABELS": {"k": "v"}})
    assert response.status_code == 201, response.text
    try:
        inspected = api.get(f"/containers/{response.json()['Id']}/json").json()
        assert inspected["HostConfig"]["Memory"] == 8 << 20
        assert inspected["Config"]["Labels"] == {"k": "v"} and inspected["Config"]["Cmd"] == ["true"]
    finally:
        api.delete(f"/containers/{response.json()['Id']}", params={"force": "1"})
    alive(stackyard_daemon)


def test_invalid_query_values_are_400(api, stackyard_daemon, busybox_ref):
    created = api.post("/containers/create", json={"Image": busybox_ref, "Cmd": ["sleep", "30"]}).json()["Id"]
    try:
        cases = [
            ("POST", f"/containers/{created}/stop", {"t": "abc"}),
            ("POST", f"/containers/{created}/restart", {"t": "1.5"}),
            ("POST", f"/containers/{created}/kill", {"signal": "NOSUCHSIGNAL"}),
            ("POST", f"/containers/{created}/kill", {"signal": "99999"}),
            ("POST", f"/containers/{created}/wait", {"condition": "whenever"}),
            ("POST", f"/containers/{created}/resize", {"h": "tall", "w": "80"}),
            ("GET", f"/containers/{created}/logs", {"stdout": "1", "tail": "lots"}),
            ("GET", f"/containers/{created}/logs", {"stdout": "1", "since": "yesterday"}),
            ("GET", "/containers/json", {"filters": "not json"}),
            ("GET", "/containers/json", {"filters": "[1]"}),
            ("GET", "/containers/json", {"filters": '{"status": ["sleepy"]}'}),
            ("GET", "/containers/json", {"filters": '{"bogus": ["x"]}'}),
            ("GET", "/containers/json", {"filters": '{"label": [5]}'}),
            ("GET", "/containers/json", {"limit": "many"}),
            ("GET", "/images/json", {"filters": "{"}),
            ("GET", "/images/json", {"filters": '{"dangling": ["maybe"]}'}),
            ("GET", "/networks", {"filters": "{"}),
            ("GET", "/volumes", {"filters": '{"dangling": 5}'}),
            ("GET", "/events", {"since": "not-a-time", "until": "1"}),
            ("GET", "/events", {"filters": "x", "until": "1"}),
            ("POST", "/images/create", {"fromImage": "UPPER/Case::bad"}),
            ("POST", "/images/create", {"fromImage": ""}),
            ("HEAD", f"/containers/{created}/archive", {"path": "/etc\x00x"}),
            ("GET", f"/containers/{created}/archive", {}),
            ("GET", "/volumes", {"filters": '{"name": ["a\u0000"]}'}),
            ("POST", f"/containers/{created}/rename", {"name": ""}),
            ("POST", f"/containers/{created}/rename", {"name": "bad name/with slash"}),
            ("POST", "/containers/create?name=bad%20name", None),
        ]
        for method, path, params in cases:
            if params is None:
                response = api.request(method, path, json={"Image": busybox_ref})
            else:
                response = api.request(method, path, params=params)
            assert 400 <= response.status_code < 500, (method, path, params, response.status_code, response.text)
            if response.status_code != 404 and method != "HEAD":
                assert_client_error(response)
    finally:
        api.delete(f"/containers/{created}", params={"force": "1"})
    alive(stackyard_daemon)


def test_bad_paths_are_404_or_400(api, stackyard_daemon):
    for method, path in [("GET", "/no/such/path"), ("GET", "/containers/%00/json"),
                         ("GET", "/containers/..%2f..%2fetc/json"), ("GET", "/images/%00x/json"),
                         ("GET", "/volumes/..%2f"), ("GET", "/networks/%ff%fe"),
                         ("DELETE", "/volumes/a%00b"), ("GET", "/exec/%00/json"),
                         ("POST", "/_ping"), ("PATCH", "/containers/json")]:
        response = api.request(method, path)
        assert response.status_code in (400, 404, 405), (method, path, response.status_code, response.text)
        assert_client_error(response)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(stackyard_daemon.socket)), timeout=5) as plain:
        for version in ("v9.99", "v1.0", "v1.23"):
            assert_client_error(plain.get(f"http://stackyard/{version}/version"), word="version")
    alive(stackyard_daemon)


def test_huge_bodies_are_refused_with_a_message_and_the_daemon_lives(api, stackyard_daemon):
    from runtime.daemon.http import MAX_BODY
    # Announced too large: refused before a byte of the body is read.
    head = (b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(MAX_BODY + 1).encode() + b"\r\n\r\n{")
    started = time.monotonic()
    answer = raw(stackyard_daemon, head)
    assert time.monotonic() - started < 4, "the daemon waited for the huge body"
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:500]
    assert b"too large" in rest
    # Sent too large, chunked (no length to refuse up front): refused once the limit is crossed.
    chunk = b"x" * (1024 * 1024)
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(20)
    sock.connect(str(stackyard_daemon.socket))
    try:
        sock.sendall(b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/json\r\n\r\n")
        try:
            for _ in range(MAX_BODY // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and closed before we finished: fine
        answer = b""
        try:
            while not answer.endswith(b"}\n"):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (socket.timeout, ConnectionResetError):
            pass
        assert answer.split(b"\r\n", 1)[0].split()[1] == b"413", answer[:500]
    finally:
        sock.close()
    # Large but allowed JSON of the wrong shape: a plain 400.
    big = json.dumps({"Image": "x", "Env": ["A=" + "y" * (4 * 1024 * 1024)], "Cmd": 5})
    assert_client_error(api.post("/containers/create", content=big), word="Cmd")
    alive(stackyard_daemon)


GARBAGE = [
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n",
    b"GET /" + b"a" * (2 * 1024 * 1024) + b" HTTP/1.1\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nBad Header Line\r\n\r\n",
]


@pytest.mark.parametrize("data", GARBAGE, ids=[f"garbage{i}" for i in range(len(GARBAGE))])
def test_http_garbage_is_answered_400_and_the_daemon_lives(stackyard_daemon, data):
    answer = raw(stackyard_daemon, data)
    if answer:  # a peer too broken to parse may simply be closed on; it must not be left hanging
        status = int(answer.split(b"\r\n", 1)[0].split()[1])
        assert 400 <= status < 500, answer[:300]
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body)["message"], answer[:300]
    alive(stackyard_daemon)


def test_half_sent_requests_do_not_block_other_clients(api, stackyard_daemon):
    slow = []
    try:
        for index in range(30):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(stackyard_daemon.socket))
            # A request line, some headers, a body promised and never sent: the slowloris pattern.
            sock.sendall(b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n" if index % 2 else
                         b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            slow.append(sock)
        started = time.monotonic()
        for _ in range(20):
            assert api.get("/_ping").text == "OK"
        assert api.get("/containers/json").status_code == 200
        assert time.monotonic() - started < 3
    finally:
        for sock in slow:
            sock.close()
    alive(stackyard_daemon)
