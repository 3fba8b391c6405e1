"""What a build sends: the `POST /build` parameters of a service (engine_spec.build_request),
the context tar (engine/build.py, against real files in a temp dir) and how the engine's
JSON-lines answer is read (a failure names the service and the step)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from orchestrator.engine import build as b
from orchestrator.engine_spec import SpecError, build_request, image_name
from orchestrator.loader import LoadOptions, load_stack
from runtime import errdefs


def _stack(tmp_path: Path, text: str, environ=None):
    (tmp_path / "compose.yaml").write_text(text)
    result = load_stack(LoadOptions(cwd=str(tmp_path), environ=environ or {}))
    assert result.stack is not None, result
    return result.stack


def _tar_members(request) -> dict[str, tarfile.TarInfo | bytes]:
    chunks, dockerfile = b.context_chunks(request)
    data = b"".join(chunks)
    assert len(data) % 512 == 0
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            out[member.name] = (tar.extractfile(member).read() if member.isfile() else member)
            assert member.uid == 0 and member.gid == 0
    out["<dockerfile>"] = dockerfile
    return out


# ---- request -------------------------------------------------------------------------------

def test_request_parameters(tmp_path) -> None:
    (tmp_path / "app").mkdir()
    stack = _stack(tmp_path, """
name: demo
services:
  web:
    build:
      context: ./app
      dockerfile: docker/Dockerfile
      args: {A: "1", FROM_ENV: null, UNSET: null}
      labels: {x: "y"}
      target: prod
      network: host
      shm_size: 64m
      extra_hosts: ["db:10.0.0.2"]
      cache_from: [demo-web:cache]
      tags: [registry.local/web:1]
      no_cache: true
      platforms: [linux/amd64, linux/arm64]
""")
    request = build_request(stack, stack.services["web"], environ={"FROM_ENV": "e"},
                            build_args={"A": "override"}, pull=True)
    assert request.tag == "demo-web" == image_name("demo", stack.services["web"])
    assert request.context == str(tmp_path / "app") and not request.remote
    assert request.dockerfile == "docker/Dockerfile"
    assert request.extra_tags == ("registry.local/web:1",)
    p = request.params
    assert json.loads(p["buildargs"]) == {"A": "override", "FROM_ENV": "e"}
    assert json.loads(p["labels"]) == {"x": "y"}
    assert (p["target"], p["networkmode"], p["shmsize"]) == ("prod", "host", 64 * 1024 * 1024)
    assert p["extrahosts"] == ["db:10.0.0.2"]
    assert json.loads(p["cachefrom"]) == ["demo-web:cache"]
    assert p["nocache"] is True and p["pull"] is True and p["rm"] is True and p["forcerm"] is True
    assert "platform" not in p
    assert request.warnings == ('service "web": build.platforms lists 2 platforms; the engine '
                                "builds one image for its own platform",)
    params = b.build_params(request, "docker/Dockerfile")
    assert params["t"] == ["demo-web", "registry.local/web:1"] and params["dockerfile"] == "docker/Dockerfile"


def test_image_given_is_the_tag_and_inline_context_is_resolved(tmp_path) -> None:
    stack = _stack(tmp_path, """
name: demo
services:
  job:
    image: registry.local/job:3
    build:
      dockerfile_inline: "FROM scratch\\n"
""")
    request = build_request(stack, stack.services["job"])
    assert request.tag == "registry.local/job:3" and request.context == str(tmp_path)
    assert request.dockerfile_inline == "FROM scratch\n"


@pytest.mark.parametrize("section, message", [
    ("ssh: [default]", "build.ssh is not supported: ssh agent forwarding needs BuildKit"),
    ("secrets: [s]", "build.secrets is not supported: build secrets need BuildKit"),
])
def test_buildkit_only_keys_are_refused_clearly(tmp_path, section, message) -> None:
    (tmp_path / "s.txt").write_text("x")
    stack = _stack(tmp_path, f"""
name: demo
services:
  web:
    build:
      context: .
      {section}
secrets:
  s: {{file: ./s.txt}}
""")
    with pytest.raises(SpecError, match=f'service "web": {message}'):
        build_request(stack, stack.services["web"])


# ---- context -------------------------------------------------------------------------------

def _request(context: Path, **kwargs):
    from orchestrator.engine_spec import BuildRequest

    fields = dict(service="web", tag="demo-web", extra_tags=(), context=str(context), remote=False,
                  dockerfile="Dockerfile", dockerfile_inline=None, params={})
    fields.update(kwargs)
    return BuildRequest(**fields)


def test_context_honours_dockerignore_and_always_sends_dockerfile_and_dockerignore(tmp_path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "src" / "deep").mkdir(parents=True)
    (ctx / "logs").mkdir()
    (ctx / "Dockerfile").write_text("FROM x\n")
    (ctx / ".dockerignore").write_text("Dockerfile\n.dockerignore\n**/*.tmp\nlogs\n!logs/keep.txt\nsecret\n")
    (ctx / "src" / "a.py").write_text("a")
    (ctx / "src" / "deep" / "b.tmp").write_text("b")
    (ctx / "logs" / "x.log").write_text("x")
    (ctx / "logs" / "keep.txt").write_text("k")
    (ctx / "secret").write_text("s")
    os.symlink("src/a.py", ctx / "link")
    os.chmod(ctx / "src" / "a.py", 0o750)
    members = _tar_members(_request(ctx))
    names = sorted(k for k in members if k != "<dockerfile>")
    assert names == [".dockerignore", "Dockerfile", "link", "logs/keep.txt", "src", "src/a.py", "src/deep"]
    assert members["<dockerfile>"] == "Dockerfile"
    assert members["src/a.py"] == b"a" and members["logs/keep.txt"] == b"k"
    assert members["link"].issym() and members["link"].linkname == "src/a.py"
    with tarfile.open(fileobj=io.BytesIO(b"".join(b.context_chunks(_request(ctx))[0]))) as tar:
        assert tar.getmember("src/a.py").mode == 0o750


def test_inline_and_outside_dockerfiles_get_a_generated_name(tmp_path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f.txt").write_text("f")
    members = _tar_members(_request(ctx, dockerfile=None, dockerfile_inline="FROM x\nRUN true\n"))
    name = members["<dockerfile>"]
    assert name.startswith(".stackyard.Dockerfile.") and members[name] == b"FROM x\nRUN true\n"
    (tmp_path / "Other.Dockerfile").write_text("FROM y\n")
    members = _tar_members(_request(ctx, dockerfile=str(tmp_path / "Other.Dockerfile")))
    assert members[members["<dockerfile>"]] == b"FROM y\n" and "f.txt" in members


def test_missing_context_or_dockerfile_is_an_error_naming_them(tmp_path) -> None:
    with pytest.raises(errdefs.InvalidArgument, match=f'service "web": build context {tmp_path}/nope is not a directory'):
        b.context_chunks(_request(tmp_path / "nope"))
    with pytest.raises(errdefs.InvalidArgument, match=f"Dockerfile {tmp_path}/Dockerfile does not exist"):
        b.context_chunks(_request(tmp_path))


# ---- the engine's answer ---------------------------------------------------------------------

def test_stream_decoding_gives_lines_and_the_image_id() -> None:
    lines: list[str] = []
    image = b.decode_build_stream([
        {"stream": "Step 1/2 : FROM x\n"}, {"stream": " ---> abc\n"},
        {"status": "Pulling fs layer", "id": "123", "progress": "[=> ]"},
        {"aux": {"ID": "sha256:" + "f" * 64}}, {"stream": "Successfully built ffffffffffff\n"},
    ], "web", lines.append)
    assert image == "sha256:" + "f" * 64
    assert lines == ["Step 1/2 : FROM x", " ---> abc", "123 Pulling fs layer [=> ]",
                     "Successfully built ffffffffffff"]


def test_a_failing_step_names_the_service_and_the_step() -> None:
    messages = [{"stream": "Step 1/3 : FROM x\n"}, {"stream": "Step 2/3 : RUN false\n"},
                {"stream": " ---> Running in 1\n"},
                {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c false' returned a non-zero code: 1"},
                 "error": "The command '/bin/sh -c false' returned a non-zero code: 1"}]
    with pytest.raises(b.BuildFailed) as caught:
        b.decode_build_stream(messages, "web", lambda _line: None)
    assert str(caught.value) == ('building service "web" failed at step 2/3 (RUN false): '
                                 "The command '/bin/sh -c false' returned a non-zero code: 1")


def test_an_engine_without_a_builder_is_reported_clearly(tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")

    class NoBuilder:
        def build_image(self, *args, **kwargs):
            raise errdefs.Unsupported("building images is not supported by the stackyard engine yet")

    with pytest.raises(errdefs.Unsupported) as caught:
        b.build_image(NoBuilder(), _request(tmp_path))
    assert str(caught.value).startswith('building service "web": the stackyard engine cannot build '
                                        "images yet; build with --engine docker or give the service an image")


def test_a_lost_connection_keeps_its_category_and_names_the_service(tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")

    class Dropping:
        def build_image(self, chunks, **kwargs):
            b"".join(chunks)  # the whole context is produced and sent

            class Stream:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    return None

                def __iter__(self):
                    yield {"stream": "Step 1/1 : FROM x\n"}
                    raise errdefs.Unavailable("lost the connection to the engine at unix:///x")

            return Stream()

    with pytest.raises(errdefs.Unavailable, match='^building service "web" failed: lost the connection'):
        b.build_image(Dropping(), _request(tmp_path))
