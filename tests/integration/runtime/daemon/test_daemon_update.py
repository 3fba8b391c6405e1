"""`docker update` against our daemon, driven by clients nobody here wrote: the docker CLI
(20.10) and docker-py. The limits must show in the container's own cgroup files, in
`docker inspect`, survive `docker restart`; bad values are a 400 with Docker's text and change
nothing; an unknown container is a 404."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest

from tests.integration.runtime.daemon.test_daemon_containers_cli import docker

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")

MB = 1024 * 1024


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


@pytest.fixture
def api(stackyard_daemon):
    transport = httpx.HTTPTransport(uds=str(stackyard_daemon.socket))
    with httpx.Client(transport=transport, base_url="http://stackyard/v1.41", timeout=60) as client:
        yield client


@pytest.fixture
def sleeper(stackyard_daemon, image):
    """A running busybox container, force-removed afterwards whatever happened."""
    cid = docker(stackyard_daemon, "run", "-d", image, "sleep", "300").stdout.strip()
    try:
        yield cid
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def cgroup_files(pid: int) -> dict[str, str]:
    """The limits in the cgroup the container's init is really in (host side, from /proc)."""
    from runtime.executor.oci_runtime import handle_from_pid
    handle = handle_from_pid(pid)
    if handle.mode == "v2":
        names = {"memory": "memory.max", "swap": "memory.swap.max", "cpu": "cpu.max", "pids": "pids.max"}
        folder = {k: handle.paths["unified"] for k in names}
    else:
        names = {"memory": "memory.limit_in_bytes", "swap": "memory.memsw.limit_in_bytes",
                 "cpu": "cpu.cfs_quota_us", "pids": "pids.max"}
        folder = {"memory": handle.paths["memory"], "swap": handle.paths["memory"], "cpu": handle.paths["cpu"],
                  "pids": handle.paths["pids"]}
    out = {}
    for key, name in names.items():
        path = os.path.join(folder[key], name)
        if os.path.exists(path):
            with open(path) as f:
                out[key] = f.read().strip()
    return out


def inspect(daemon, ref: str) -> dict:
    return json.loads(docker(daemon, "inspect", ref).stdout)[0]


def expected(mode_v2: bool) -> dict[str, str]:
    if mode_v2:
        return {"memory": str(64 * MB), "swap": str(64 * MB), "cpu": "50000 100000", "pids": "50"}
    return {"memory": str(64 * MB), "swap": str(128 * MB), "cpu": "50000", "pids": "50"}


def test_docker_update_limits_reach_the_cgroup_inspect_and_survive_restart(stackyard_daemon, sleeper):
    from runtime.executor import cgroups
    v2 = cgroups.host_layout()[0].mode == "v2"
    before = cgroup_files(inspect(stackyard_daemon, sleeper)["State"]["Pid"])
    assert before["pids"] == "max"
    out = docker(stackyard_daemon, "update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5",
                 "--pids-limit", "50", sleeper)
    assert out.stdout.strip() == sleeper and out.stderr == ""
    want = {k: v for k, v in expected(v2).items() if k in before}  # no swap file: no swap accounting
    assert cgroup_files(inspect(stackyard_daemon, sleeper)["State"]["Pid"]) == want
    host = inspect(stackyard_daemon, sleeper)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (64 * MB, 128 * MB, 5 * 10 ** 8, 50)
    # the container sees the limit: a fork bomb of 60 sleeps stops at 50 processes
    forks = docker(stackyard_daemon, "exec", sleeper, "sh", "-c",
                   "for i in $(seq 60); do sleep 20 & done 2>&1 | head -1; true", check=False)
    assert "can't fork" in forks.stdout + forks.stderr or "Resource temporarily" in forks.stdout + forks.stderr
    docker(stackyard_daemon, "restart", "-t", "0", sleeper)
    after = inspect(stackyard_daemon, sleeper)
    assert after["State"]["Running"] and cgroup_files(after["State"]["Pid"]) == want
    assert after["HostConfig"]["Memory"] == 64 * MB and after["HostConfig"]["PidsLimit"] == 50


def test_docker_py_update_mem_limit_and_restart_policy(stackyard_daemon, image):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=stackyard_daemon.host, version="1.41", timeout=60)
    container = client.containers.run(image, ["sh", "-c", "sleep 2; exit 4"], detach=True)
    try:
        result = container.update(mem_limit="96m", memswap_limit="192m",
                                  restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
        assert result == {"Warnings": []}
        container.reload()
        host = container.attrs["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (96 * MB, 192 * MB)
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
        assert cgroup_files(container.attrs["State"]["Pid"])["memory"] == str(96 * MB)
        # the new policy restarts it once after its failing exit, then leaves it down
        assert container.wait(timeout=30)["StatusCode"] == 4
        import time
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["RestartCount"] == 1 and container.status == "exited":
                break
            time.sleep(0.1)
        assert (container.attrs["RestartCount"], container.status) == (1, "exited")
    finally:
        container.remove(force=True)
        client.close()


@pytest.mark.parametrize("body, status, message", [
    ({"Memory": 1 * MB}, 400, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, 400,
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"NanoCpus": 500_000_000, "CpuPeriod": 100_000}, 400,
     "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"CpusetCpus": "0-4096"}, 400, "Requested CPUs are not available"),
    ({"BlkioWeight": 2000}, 400, "Range of blkio weight is from 10 to 1000"),
    ({"Memory": "lots"}, 400, "Memory"),
    ({"Memory": 64 * MB}, 409, "update the memoryswap at the same time"),
])
def test_update_refused_values_answer_dockers_status_and_change_nothing(stackyard_daemon, api, sleeper, body,
                                                                         status, message):
    before = inspect(stackyard_daemon, sleeper)
    reply = api.post(f"/containers/{sleeper}/update", json=body)
    assert reply.status_code == status and message in reply.json()["message"], reply.text
    after = inspect(stackyard_daemon, sleeper)
    assert after["HostConfig"] == before["HostConfig"]
    assert cgroup_files(after["State"]["Pid"]) == cgroup_files(before["State"]["Pid"])


def test_docker_update_errors_through_the_cli(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "create", "--rm", image, "true").stdout.strip()
    try:
        small = docker(stackyard_daemon, "update", "--memory", "1m", cid, check=False)
        assert small.returncode != 0 and "Minimum memory limit allowed is 6MB" in small.stderr
        policy = docker(stackyard_daemon, "update", "--restart", "always", cid, check=False)
        assert policy.returncode != 0
        assert "Restart policy cannot be updated because AutoRemove is enabled for the container" in policy.stderr
        assert inspect(stackyard_daemon, cid)["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")  # API: "" = never
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)
    missing = docker(stackyard_daemon, "update", "--memory", "64m", "no-such-container", check=False)
    assert missing.returncode != 0 and "No such container: no-such-container" in missing.stderr


def test_update_unknown_container_is_404(api):
    reply = api.post("/containers/no-such-container/update", json={"Memory": 64 * MB, "MemorySwap": -1})
    assert reply.status_code == 404 and "No such container" in reply.json()["message"]


def test_update_stopped_container_applies_at_next_start(stackyard_daemon, image, api):
    import time
    since = int(time.time()) - 1
    cid = docker(stackyard_daemon, "create", image, "sleep", "300").stdout.strip()
    try:
        reply = api.post(f"/containers/{cid}/update", json={"PidsLimit": 33, "CpuShares": 256})
        assert reply.status_code == 200 and reply.json() == {"Warnings": []}
        events = api.get("/events", params={"since": str(since), "until": str(int(time.time()) + 1)})
        updates = [json.loads(line) for line in events.text.splitlines() if line.strip()]
        assert [e["Actor"]["ID"] for e in updates if e.get("Action") == "update"] == [cid]  # as dockerd reports it
        docker(stackyard_daemon, "start", cid)
        info = inspect(stackyard_daemon, cid)
        assert cgroup_files(info["State"]["Pid"])["pids"] == "33"
        assert (info["HostConfig"]["PidsLimit"], info["HostConfig"]["CpuShares"]) == (33, 256)
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def test_generated_update_bodies_never_fail_the_server_and_refusals_change_nothing(stackyard_daemon, api, image):
    """Generated bodies (valid and not, huge and negative numbers) against one running container:
    every answer is 200, 400 or 409 — never a 5xx — and a refused one leaves HostConfig and the
    cgroup as they were. (The API conformance fuzzing covers update only for unknown ids.)"""
    from hypothesis import HealthCheck, given, settings, strategies as s

    numbers = s.one_of(s.just(0), s.just(-1), s.integers(-2 ** 40, 2 ** 40), s.integers(-2 ** 63, 2 ** 63 - 1))
    bodies = s.fixed_dictionaries({}, optional={
        "Memory": s.one_of(numbers, s.integers(6 * MB, 512 * MB)), "MemorySwap": s.one_of(numbers, s.integers(6 * MB, 1024 * MB)),
        "MemoryReservation": numbers, "NanoCpus": s.one_of(numbers, s.integers(10 ** 7, 2 * 10 ** 9)),
        "CpuPeriod": numbers, "CpuQuota": numbers, "CpuShares": numbers, "PidsLimit": s.one_of(s.none(), numbers),
        "CpusetCpus": s.sampled_from(["", "0", "1", "0-1", "0,1", "2", "1-0", "x", "0-99999"]),
        "CpusetMems": s.sampled_from(["", "0", "1", "0-"]), "BlkioWeight": numbers, "KernelMemory": numbers,
        "RestartPolicy": s.fixed_dictionaries({"Name": s.sampled_from(["", "no", "always", "on-failure", "bogus"]),
                                               "MaximumRetryCount": s.integers(-2, 5)})})
    cid = docker(stackyard_daemon, "run", "-d", image, "sleep", "300").stdout.strip()
    try:
        pid = inspect(stackyard_daemon, cid)["State"]["Pid"]
        seen: set[int] = set()

        @settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(bodies)
        def check(body):
            before = api.get(f"/containers/{cid}/json").json()["HostConfig"]
            files = cgroup_files(pid)
            reply = api.post(f"/containers/{cid}/update", json=body)
            assert reply.status_code in (200, 400, 409), (body, reply.status_code, reply.text)
            seen.add(reply.status_code)
            if reply.status_code != 200:
                assert reply.json()["message"]
                assert api.get(f"/containers/{cid}/json").json()["HostConfig"] == before, body
                assert cgroup_files(pid) == files, body
        check()
        assert {200, 400} <= seen, seen  # the generator reached both acceptance and refusal
        assert inspect(stackyard_daemon, cid)["State"]["Pid"] == pid  # still the same running container
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)
