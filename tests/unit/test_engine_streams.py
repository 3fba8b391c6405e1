"""The Engine API stream decoders (orchestrator/engine/streams.py) and the pure helpers of the
engine client (address parsing, filters, references, version negotiation), without a daemon."""

import json
import struct

import pytest

from orchestrator.engine import streams
from orchestrator.engine.query import encode_filters, split_reference
from orchestrator.engine.runargs import create_body
from orchestrator.engine.transport import negotiate, parse_host
from runtime import errdefs


def _frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def _split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_json_lines_whole_lines():
    data = b'{"status":"a"}\n{"status":"b"}\n'
    assert list(streams.iter_json_lines([data])) == [{"status": "a"}, {"status": "b"}]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_json_lines_objects_split_across_chunks(size):
    messages = [{"status": "Downloading", "progressDetail": {"current": i, "total": 9}, "id": "é€"}
                for i in range(5)]
    data = b"".join(json.dumps(m, ensure_ascii=False).encode() + b"\r\n" for m in messages)
    assert list(streams.iter_json_lines(_split_every(data, size))) == messages


def test_json_lines_last_object_without_newline_and_blank_lines():
    assert list(streams.iter_json_lines([b'\n{"a":1}\n\n', b'{"b":', b"2}"])) == [{"a": 1}, {"b": 2}]


def test_json_lines_objects_back_to_back_on_one_line():
    assert list(streams.iter_json_lines([b'{"a":1}{"b":2} {"c":3}\n'])) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_json_lines_malformed_is_internal():
    with pytest.raises(errdefs.Internal, match="malformed JSON stream"):
        list(streams.iter_json_lines([b'{"a":\n']))


def test_json_lines_empty_stream():
    assert list(streams.iter_json_lines([])) == []
    assert list(streams.iter_json_lines([b"", b"\n"])) == []


@pytest.mark.parametrize("message, expected", [
    ({"status": "Pulling"}, None),
    ({"error": "boom"}, "boom"),
    ({"errorDetail": {"message": "detailed"}, "error": "short"}, "detailed"),
    ({"errorDetail": {}, "error": "short"}, "short"),
])
def test_stream_error(message, expected):
    assert streams.stream_error(message) == expected


@pytest.mark.parametrize("size", [1, 3, 8, 9, 1000])
def test_frames_demultiplexed_across_chunks(size):
    data = _frame(1, b"out 1\n") + _frame(2, b"err\n") + _frame(1, b"") + _frame(1, b"x" * 300)
    assert list(streams.iter_frames(_split_every(data, size))) == [
        (streams.STDOUT, b"out 1\n"), (streams.STDERR, b"err\n"), (streams.STDOUT, b"x" * 300)]


def test_frames_truncated_stream_is_internal():
    data = _frame(1, b"hello")[:-2]
    with pytest.raises(errdefs.Internal, match="inside a frame"):
        list(streams.iter_frames([data]))


def test_frames_large_payload_size_field_is_big_endian():
    payload = b"y" * 70000
    assert list(streams.iter_frames([_frame(2, payload)])) == [(2, payload)]


def test_raw_frames_and_demux():
    assert list(streams.raw_frames([b"a", b"", b"b"])) == [(1, b"a"), (1, b"b")]
    assert streams.demux([(1, b"a"), (2, b"e"), (1, b"b")]) == (b"ab", b"e")


@pytest.mark.parametrize("url, base, socket_path", [
    ("unix:///var/run/docker.sock", "http://docker", "/var/run/docker.sock"),
    ("/tmp/x/docker.sock", "http://docker", "/tmp/x/docker.sock"),
    ("tcp://127.0.0.1:2375", "http://127.0.0.1:2375", None),
    ("tcp://example.com", "http://example.com:2375", None),
    ("https://example.com", "https://example.com:2376", None),
    ("tcp://[::1]:2375", "http://[::1]:2375", None),
])
def test_parse_host(url, base, socket_path):
    endpoint = parse_host(url)
    assert (endpoint.base_url, endpoint.socket_path) == (base, socket_path)


def test_parse_host_tcp_with_tls_uses_https_and_2376():
    assert parse_host("tcp://example.com", tls=True).base_url == "https://example.com:2376"


@pytest.mark.parametrize("url", ["ssh://user@host", "npipe:////./pipe/docker_engine", "tcp://", "unix://"])
def test_parse_host_rejects_unsupported(url):
    with pytest.raises(errdefs.InvalidArgument):
        parse_host(url)


def test_encode_filters():
    assert json.loads(encode_filters({"label": ["a=b", "c"], "dangling": True, "name": "x"})) == {
        "label": ["a=b", "c"], "dangling": ["true"], "name": ["x"]}
    assert encode_filters({}) is None and encode_filters(None) is None


@pytest.mark.parametrize("server, expected", [("1.43", "1.41"), ("1.41", "1.41"), ("1.40", "1.40"),
                                              ("1.9", "1.9"), (None, "1.41")])
def test_negotiate_caps_at_1_41(server, expected):
    assert negotiate(server) == expected


@pytest.mark.parametrize("ref, expected", [
    ("busybox", ("busybox", None)), ("busybox:1.36", ("busybox", "1.36")),
    ("127.0.0.1:5000/a/b", ("127.0.0.1:5000/a/b", None)), ("127.0.0.1:5000/a:2", ("127.0.0.1:5000/a", "2")),
    ("a@sha256:abc", ("a", "sha256:abc")),
])
def test_split_reference(ref, expected):
    assert split_reference(ref) == expected


def test_create_body_translates_docker_py_arguments():
    body, name = create_body("img", "sh -c 'echo hi'", name="sytest-x", detach=True,
                             environment={"A": "1"}, labels=["l"], ports={8080: ("127.0.0.1", 18080)},
                             volumes={"data": {"bind": "/data", "mode": "ro"}}, network="net",
                             mem_limit="64m", restart_policy={"Name": "always"})
    assert name == "sytest-x"
    assert body["Cmd"] == ["sh", "-c", "echo hi"] and body["Env"] == ["A=1"] and body["Labels"] == {"l": ""}
    assert body["ExposedPorts"] == {"8080/tcp": {}} and body["Volumes"] == {"/data": {}}
    host = body["HostConfig"]
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert host["Binds"] == ["data:/data:ro"] and host["NetworkMode"] == "net"
    assert host["Memory"] == 64 * 1024 * 1024 and host["RestartPolicy"] == {"Name": "always"}
    assert body["AttachStdout"] is False


def test_create_body_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="bogus"):
        create_body("img", bogus=1)


def test_tls_config_from_env(tmp_path):
    from orchestrator.engine.transport import TLSConfig

    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("")
    config = TLSConfig.from_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert config == TLSConfig(ca_cert=str(tmp_path / "ca.pem"),
                               client_cert=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")), verify=True)
    assert TLSConfig.from_env({"DOCKER_CERT_PATH": str(tmp_path)}).verify is False
    assert TLSConfig.from_env({}) is None
    assert TLSConfig.from_env({"DOCKER_TLS_VERIFY": ""}) is None
