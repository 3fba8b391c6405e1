"""Building services' images through the engine's own builder (`POST /build`), on a private
dockerd, through the CLI; and the clear refusal of the built-in engine, which has no builder.

Every Dockerfile starts `FROM` the locally imported busybox tag (the legacy builder uses a
local image as is and never pulls it), so nothing reaches a registry. Proves: `up` builds a
missing image and runs it (target stage, build args, labels, .dockerignore), a second `up`
builds and writes nothing, a changed context file with `up --build` recreates exactly the
service whose image changed (the other one's rebuild hits the cache and keeps its container),
`stackyard build --build-arg` then `up --no-build`, a failing RUN names the service and the
step and leaves the running container alone, `--no-build` with a missing image is refused.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestrator.engine import EngineClient

pytestmark = pytest.mark.dockerd

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _runner(project: Path, host: str, image: str, home: Path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": str(ROOT), "STACKYARD_ENGINE": host,
           "STACKYARD_EXAMPLE_IMAGE": image, "WEB_PORT": str(_free_port())}

    def run(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "stackyard.main", *args], cwd=project,
                              env=env, capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"stackyard {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.port = int(env["WEB_PORT"])
    return run


@pytest.fixture
def stack(tmp_path, dockerd, busybox_image):
    """(project dir, CLI runner, engine client) for a stack in tmp_path/project; the stack is
    taken down and the images it built are removed afterwards."""
    project = tmp_path / "project"
    client = EngineClient(dockerd.host)
    made: dict = {}

    def make(source: Path | None = None, files: dict[str, str] | None = None):
        if source is not None:
            shutil.copytree(source, project)
        for name, text in (files or {}).items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        made["run"] = _runner(project, dockerd.host, busybox_image, tmp_path)
        return project, made["run"], client

    try:
        yield make
    finally:
        if "run" in made:
            made["run"]("down", "-t", "1", "--remove-orphans", check=False)
        for image in client.list_images():
            if any(not t.startswith("sytest/") for t in image.get("RepoTags") or ["<none>"]):
                try:
                    client.remove_image(image["Id"], force=True)
                except Exception:
                    pass
        client.close()


def _ids(client, project: str) -> dict[str, str]:
    return {c["Labels"]["com.docker.compose.service"]: c["Id"]
            for c in client.list_containers(all=True, filters={"label": [f"com.docker.compose.project={project}"]})}


def _exec(run, service: str, *command: str) -> str:
    return run("exec", "-T", service, *command).stdout


def _get(port: int, path: str, timeout: float = 10.0) -> bytes:
    """GET from the web container, retrying while its server is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _container_events(client, since: int, until: int) -> list:
    events = client.events(since=since, until=until, filters={"type": ["container", "image", "network"]})
    try:
        passive = {"exec_create", "exec_start", "exec_die", "attach", "top"}
        return [(e.get("Type"), e.get("Action")) for e in events
                if e.get("Action", "").split(":")[0] not in passive]
    finally:
        events.close()


def test_up_builds_runs_reapplies_and_rebuilds_only_what_changed(stack):
    project, run, client = stack(ROOT / "examples" / "build")
    plan = run("plan").stdout
    assert "build web: image build-web not present" in plan
    assert "build worker: image build-worker not present" in plan

    up = run("up", "-d", "--progress", "plain")
    assert "Step 4/7 : COPY static/ /srv/" in up.stderr + up.stdout
    image = client.inspect_image("build-web")
    assert image["Config"]["Labels"]["org.example.stack"] == "build"
    # Target `runtime`: the `debug` stage after it was not built; `**/*.tmp` was not sent.
    assert _exec(run, "web", "ls", "/srv").split() == ["greeting.txt", "index.html"]
    assert _exec(run, "web", "cat", "/srv/greeting.txt") == "hello from the build\n"
    assert _exec(run, "worker", "cat", "/worker.txt") == "worker built\n"   # dockerfile_inline
    body = _get(run.port, "/index.html")
    assert body == b"<h1>built by the engine</h1>\n"

    # A second up builds nothing and writes nothing.
    before = _ids(client, "build")
    assert run("plan", "--detailed-exitcode", check=False).returncode == 0
    time.sleep(1.1)
    since = int(time.time())
    run("up", "-d")
    assert _container_events(client, since, int(time.time()) + 1) == []
    assert _ids(client, "build") == before

    # A changed context file + --build: web's image changes and only web is recreated;
    # worker's rebuild comes out of the cache identical, so its container stays.
    (project / "web" / "static" / "index.html").write_text("<h1>changed</h1>\n")
    up = run("up", "-d", "--build", "--progress", "plain")
    output = up.stdout + up.stderr
    assert "build-web-1" in output and "image rebuilt (sha256:" in output
    after = _ids(client, "build")
    assert {s for s in before if before[s] != after[s]} == {"web"}
    body = _get(run.port, "/index.html")
    assert body == b"<h1>changed</h1>\n"
    # Rebuilding without a change (the same command again: --build is never short-cut as
    # converged): identical images, nothing recreated.
    again = run("up", "-d", "--build", "--progress", "plain")
    assert "Successfully tagged build-web:latest" in again.stdout + again.stderr
    assert _ids(client, "build") == after


DOCKERFILE = """\
ARG BASE
FROM $BASE AS base
ARG FLAVOUR=plain
COPY . /ctx/
RUN echo "$FLAVOUR" > /flavour
CMD ["sleep", "3600"]

FROM base AS extra
RUN touch /extra
"""


def test_build_command_dockerignore_failing_step_and_no_build(stack, busybox_image):
    project, run, client = stack(files={
        "compose.yaml": "name: bx\nservices:\n  app:\n    build:\n      context: .\n      target: base\n"
                        "      args: {BASE: \"${STACKYARD_EXAMPLE_IMAGE}\"}\n",
        "Dockerfile": DOCKERFILE,
        ".dockerignore": "secrets\n*.key\n!public.key\n",
        "secrets/password": "hunter2\n",
        "private.key": "private\n",
        "public.key": "public\n",
        "keep.txt": "keep\n",
    })
    build = run("build", "--build-arg", "FLAVOUR=spicy", "--progress", "plain")
    assert "build app" in build.stdout + build.stderr
    run("up", "-d", "--no-build")
    assert _exec(run, "app", "cat", "/flavour") == "spicy\n"
    assert sorted(_exec(run, "app", "ls", "-A", "/ctx").split()) == [
        ".dockerignore", "Dockerfile", "compose.yaml", "keep.txt", "public.key"]
    assert _exec(run, "app", "sh", "-c", "test -e /extra && echo yes || echo no") == "no\n"
    first = _ids(client, "bx")

    # `stackyard build` makes another image; the same `up` again (remembered as converged)
    # sees the new image id and recreates the container.
    rebuilt = run("build", "--no-cache", "--build-arg", "FLAVOUR=mild", "--progress", "plain")
    assert "Step 4/6 : COPY . /ctx/" in rebuilt.stdout + rebuilt.stderr
    assert "Using cache" not in rebuilt.stdout + rebuilt.stderr
    up = run("up", "-d", "--no-build")
    assert "image rebuilt (sha256:" in up.stdout + up.stderr
    assert _exec(run, "app", "cat", "/flavour") == "mild\n"
    before = _ids(client, "bx")
    assert before["app"] != first["app"]

    # A failing RUN: one clear line naming the service and the step; the old container stays.
    (project / "Dockerfile").write_text(DOCKERFILE.replace('CMD ["sleep"', 'RUN echo boom && false\nCMD ["sleep"'))
    failed = run("up", "-d", "--build", check=False)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert ('stackyard: building service "app" failed at step 6/7 (RUN echo boom && false): '
            "The command '/bin/sh -c echo boom && false' returned a non-zero code: 1") in failed.stderr
    assert _ids(client, "bx") == before
    assert client.inspect_container(before["app"])["State"]["Running"]

    # --no-build with a missing image: refused before anything is done (exit 2).
    client.remove_container(before["app"], force=True)
    client.remove_image("bx-app", force=True)
    refused = run("up", "-d", "--no-build", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert 'service "app" runs image bx-app, which is not present, and --no-build forbids building it' in refused.stderr
    assert _ids(client, "bx") == {}


def test_builtin_engine_refuses_to_build_clearly(tmp_path, builtin_engine):
    host, image = builtin_engine
    project = tmp_path / "project"
    project.mkdir()
    (project / "compose.yaml").write_text("name: bb\nservices:\n  app:\n    build: .\n")
    (project / "Dockerfile").write_text(f"FROM {image}\nRUN true\n")
    # A context the engine refuses before reading it: the answer still gets through.
    (project / "big.bin").write_bytes(os.urandom(1 << 20) * 24)
    run = _runner(project, host, image, tmp_path)
    try:
        failed = run("up", "-d", check=False)
        assert failed.returncode == 1
        assert "Traceback" not in failed.stderr
        assert ('building service "app": the stackyard engine cannot build images yet; build with '
                "--engine docker or give the service an image") in failed.stderr
        with EngineClient(host) as client:
            assert _ids(client, "bb") == {}
    finally:
        run("down", "-t", "1", check=False)


IGNORE_TREE = {
    "Dockerfile": "", "README.md": "r", "notes.md": "n", "docs/a.md": "a", "docs/deep/b.md": "b",
    "src/main.go": "m", "src/main_test.go": "t", "src/vendor/lib.go": "l", "src/vendor/keep/k.go": "k",
    "build/out.bin": "o", "build/keep.txt": "k", "tmp1": "1", "tmp12": "12", ".git/HEAD": "h",
    "a/x/y/z.log": "z", "a/z.log": "z", "weird [x].txt": "w", "x!y": "!",
}
IGNORE_RULES = """\
# Docker's rules, compared with the docker CLI's own context
*.md
!README.md
docs
!docs/deep/b.md
**/*_test.go
src/vendor
!src/vendor/keep
build/
!build/keep.txt
tmp?
.git
a/**/*.log
x[!]y
Dockerfile
"""


def test_context_matches_the_docker_cli_s(tmp_path, dockerd, busybox_image):
    """The same context and .dockerignore, sent by the docker CLI (legacy builder) and by us:
    the images hold the same files."""
    from orchestrator.engine.build import build_image
    from orchestrator.engine_spec import BuildRequest

    if shutil.which("docker") is None:
        pytest.skip("needs the docker CLI (Debian package docker.io) to compare with")
    context = tmp_path / "ctx"
    for name, text in IGNORE_TREE.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text)
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY . /ctx/\n")
    (context / ".dockerignore").write_text(IGNORE_RULES)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DOCKER_HOST": dockerd.host, "DOCKER_BUILDKIT": "0"}
    client = EngineClient(dockerd.host)
    try:
        subprocess.run(["docker", "build", "-q", "-t", "sytest-cmp:cli", str(context)], env=env,
                       check=True, capture_output=True, timeout=120)
        build_image(client, BuildRequest(service="cmp", tag="sytest-cmp:ours", extra_tags=(),
                                         context=str(context), remote=False, dockerfile="Dockerfile",
                                         dockerfile_inline=None, params={"rm": True, "forcerm": True}))

        def files(image: str) -> list[str]:
            out = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "find", "/ctx"],
                                 env=env, check=True, capture_output=True, text=True, timeout=60).stdout
            return sorted(out.split("\n"))

        ours, theirs = files("sytest-cmp:ours"), files("sytest-cmp:cli")
        assert ours == theirs
        assert "/ctx/README.md" in ours and "/ctx/docs/deep/b.md" in ours and "/ctx/notes.md" not in ours
    finally:
        for ref in ("sytest-cmp:cli", "sytest-cmp:ours"):
            try:
                client.remove_image(ref, force=True)
            except Exception:
                pass
        client.close()
