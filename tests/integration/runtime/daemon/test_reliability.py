"""The daemon survives `kill -9` mid-`up`, and up/down cycles leave nothing behind (issue 7, Reliable).

Each test runs its own private daemon (PrivateStackyardDaemon: temp root, exec root, socket) and
drives it through the real `stackyard` CLI with STACKYARD_ENGINE pointing at it. The fixture
stops the daemon and its supervisor by PID and purges kernel state even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@pytest.fixture
def daemon():
    if os.geteuid() != 0:
        pytest.skip("the stackyard daemon needs root")
    from tests.integration.dockerd import BUSYBOX, import_busybox
    if not os.access(BUSYBOX, os.X_OK):
        pytest.skip(f"needs {BUSYBOX} (Debian package busybox-static)")
    d = PrivateStackyardDaemon()
    try:
        d.start()
        d.image = import_busybox(d.host)
        yield d
    finally:
        d.stop()


def api(d: PrivateStackyardDaemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket)), base_url="http://stackyard", timeout=60)


def project_containers(d: PrivateStackyardDaemon, project: str | None = None) -> list[dict]:
    params = {"all": "1"}
    if project:
        params["filters"] = json.dumps({"label": [f"{PROJECT_LABEL}={project}"]})
    with api(d) as client:
        reply = client.get("/containers/json", params=params)
        reply.raise_for_status()
        return reply.json()


def inspect(d: PrivateStackyardDaemon, cid: str) -> dict:
    with api(d) as client:
        reply = client.get(f"/containers/{cid}/json")
        reply.raise_for_status()
        return reply.json()


def stack_file(directory: Path, n: int, *, depends: bool = True, grace: str = "1s") -> Path:
    """N busybox `sleep` services; s1 and s2 depend on s0, s3 on s1 (a short chain)."""
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", "    image: ${IMAGE}", '    command: ["sleep", "3600"]',
                  f"    stop_grace_period: {grace}", "    networks: [net]"]
        if depends and i in (1, 2, 3):
            lines += ["    depends_on:", f"      - s{1 if i == 3 else 0}"]
    lines += ["networks:", "  net: {}"]
    path = directory / "compose.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(d: PrivateStackyardDaemon, compose: Path, project: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "stackyard.main", "-f", str(compose), "-p", project, *args]


def cli_env(d: PrivateStackyardDaemon) -> dict:
    return {**os.environ, "STACKYARD_ENGINE": d.host, "IMAGE": d.image}


def run_cli(d, compose, project, *args, timeout=120, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(cli(d, compose, project, *args), env=cli_env(d), capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"stackyard {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def supervisor_pid(d: PrivateStackyardDaemon) -> int:
    from runtime.supervisor.client import SupervisorClient
    return SupervisorClient(str(d.exec_root / "supervisor.sock")).ping()["pid"]


def supervisor_state(d: PrivateStackyardDaemon, cid: str) -> dict:
    from runtime.supervisor.client import SupervisorClient
    return SupervisorClient(str(d.exec_root / "supervisor.sock")).call("state", id=cid)["state"]


def half_created(d: PrivateStackyardDaemon) -> list[str]:
    """Containers the network manager has a sandbox for but whose record (config.json) is missing."""
    try:
        sandboxes = json.loads((d.root / "network" / "network.json").read_text())["sandboxes"]
    except (OSError, ValueError, KeyError):
        return []
    return [cid for cid, sandbox in sandboxes.items() if sandbox.get("endpoints")
            and not (d.root / "containers" / cid / "config.json").exists()]


def network_endpoints(d: PrivateStackyardDaemon, name: str) -> dict:
    with api(d) as client:
        reply = client.get(f"/networks/{name}")
        reply.raise_for_status()
        return reply.json().get("Containers") or {}


def direct_children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def test_kill_9_during_up_keeps_containers_and_reup_converges(daemon, tmp_path):
    n, project = 20, "crash"
    compose = stack_file(tmp_path, n)
    mounts_before = mounts_under(daemon.base)
    up = subprocess.Popen(cli(daemon, compose, project, "up", "-d", "--parallel", "2"),
                          env=cli_env(daemon),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # --parallel 2: with creates made as early as their dependencies allow, a wider up makes
    # every container before the first start, and no create is left to catch half done.
    # Kill when part of the stack runs, at the worst moment for recovery: while a create is
        # half done (its network endpoint exists, its container record does not yet). The
        # daemon is frozen (SIGSTOP) to look at its state files, and killed while frozen.
        deadline, ready, caught = time.monotonic() + 60, False, False
        while time.monotonic() < deadline and up.poll() is None and not caught:
            if not ready:
                listed = project_containers(daemon, project)
                ready = len(listed) >= 4 and any(c["State"] == "running" for c in listed)
                continue
            os.kill(daemon.process.pid, signal.SIGSTOP)
            caught = bool(half_created(daemon))
            if not caught:
                os.kill(daemon.process.pid, signal.SIGCONT)
                time.sleep(0.003)
        assert caught, "never caught a create half done; the crash test proves less than it should"
        assert up.poll() is None, f"up finished before the kill could land: {up.stdout.read()}"
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.process.wait(10)
        up.wait(60)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    output = up.stdout.read()
    assert up.returncode != 0, f"up reported success although its daemon was killed:\n{output}"

    # The supervisor outlives the daemon and keeps every started container's process alive.
    supervisor = supervisor_pid(daemon)
    assert alive(supervisor)
    survivors = {pid for pid in direct_children(supervisor) if alive(pid)}
    assert survivors, "no container was running at the kill; the test proves nothing"
    time.sleep(0.5)
    assert all(alive(pid) for pid in survivors), "container processes died with the daemon"

    daemon.start()
    assert supervisor_pid(daemon) == supervisor, "the restarted daemon replaced the supervisor"
    listed = project_containers(daemon, project)
    running = {}
    for c in listed:
        state = inspect(daemon, c["Id"])["State"]
        if state["Running"]:
            assert alive(state["Pid"]), f"{c['Names']} reported running, pid {state['Pid']} is gone"
            assert c["State"] == "running"
            running[c["Id"]] = state["Pid"]
        else:
            assert c["State"] in ("created", "exited"), (c["Names"], c["State"])
    # The network knows only containers that exist: a create cut short by the kill (endpoint
    # made, container record not yet written) must not leave an endpoint that blocks `down`.
    endpoints = set(network_endpoints(daemon, f"{project}_net"))
    assert endpoints <= {c["Id"] for c in listed}, (
        f"endpoints of containers that do not exist: {sorted(e[:12] for e in endpoints - {c['Id'] for c in listed})}")
    netns_dir = daemon.exec_root / "netns"
    orphans = set(os.listdir(netns_dir) if netns_dir.exists() else ()) - {c["Id"] for c in listed}
    assert not orphans, f"network namespaces of containers that do not exist: {sorted(o[:12] for o in orphans)}"
    # Every process that survived the crash is a container the restarted daemon lists as running.
    assert survivors <= set(running.values()), (
        f"pids {sorted(survivors - set(running.values()))} run under the supervisor, unlisted")

    run_cli(daemon, compose, project, "up", "-d")
    final = project_containers(daemon, project)
    services = sorted(c["Labels"][SERVICE_LABEL] for c in final)
    assert services == sorted(f"s{i}" for i in range(n)), f"not one container per service: {services}"
    assert all(c["State"] == "running" for c in final), [(c["Names"], c["State"]) for c in final]
    # Nothing half-made outside the project either (e.g. a container created without labels).
    assert {c["Id"] for c in project_containers(daemon)} == {c["Id"] for c in final}
    # The containers that survived the crash were kept, not recreated.
    assert set(running) <= {c["Id"] for c in final}
    assert {pid for pid in direct_children(supervisor) if alive(pid)} == {
        inspect(daemon, c["Id"])["State"]["Pid"] for c in final}, "processes under the supervisor != containers"
    ps = run_cli(daemon, compose, project, "ps")
    for i in range(n):
        assert f"s{i}" in ps.stdout
    plan = run_cli(daemon, compose, project, "plan", "--detailed-exitcode", check=False)
    assert plan.returncode == 0, f"plan after converging is not empty:\n{plan.stdout}\n{plan.stderr}"
    run_cli(daemon, compose, project, "down", "-v", "-t", "0")
    assert project_containers(daemon) == []
    assert mounts_under(daemon.base) == mounts_before, "mounts left after down"
    assert not [d for d in (daemon.root / "containers").iterdir() if len(d.name) == 64], (
        "container directories left after down (a create cut short by the kill)")


# ---- leak checks ----------------------------------------------------------------------------

def our_interfaces(d: PrivateStackyardDaemon) -> set[str]:
    """`sy*` interfaces tagged with this daemon's network-manager alias (other tests' ignored)."""
    from runtime.network import naming
    alias = naming.interface_alias(naming.instance_tag(str(d.root / "network")))
    links = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout or "[]")
    return {link["ifname"] for link in links if link["ifname"].startswith("sy") and link.get("ifalias") == alias}


def sy_interfaces() -> set[str]:
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout or "[]")
    return {link["ifname"] for link in links if link["ifname"].startswith("sy")}


def mounts_under(base: Path) -> list[str]:
    from tests.integration.dockerd import mounts_under as under
    return sorted(under(base))


def stackyard_cgroups() -> set[str]:
    """Every cgroup directory below a `stackyard` parent, in every mounted hierarchy."""
    found = set()
    for top, dirs, _files in os.walk("/sys/fs/cgroup"):
        if os.path.basename(top) == "stackyard":
            found.update(os.path.join(top, name) for name in dirs)
            dirs[:] = []
    return found


def supervisor_descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo.extend(children.get(p, []))
    return found


def nft_table_text(d: PrivateStackyardDaemon) -> str:
    from runtime.network import naming
    table = naming.table_name(naming.instance_tag(str(d.root / "network")), default=False)
    done = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def snapshot(d: PrivateStackyardDaemon, supervisor: int) -> dict:
    netns_dir = d.exec_root / "netns"
    return {
        "interfaces": our_interfaces(d),
        "mounts": mounts_under(d.base),
        "cgroups": stackyard_cgroups(),
        "netns": sorted(os.listdir(netns_dir)) if netns_dir.exists() else [],
        "processes": supervisor_descendants(supervisor),
    }


# 10 cycles × 50 services, the figure: one cycle (up -d, down -v -t 0 of 50 `sleep`
# containers) takes ~4-5 s on this 2-core machine, so the full size fits the budget (~45 s).
CYCLES = int(os.environ.get("STACKYARD_RELIABILITY_CYCLES", "10"))
SERVICES = 50


def test_up_down_cycles_leave_nothing_behind(daemon, tmp_path):
    compose = stack_file(tmp_path, SERVICES, depends=False, grace="0s")
    supervisor = supervisor_pid(daemon)
    baseline = snapshot(daemon, supervisor)
    cgroups_before = baseline["cgroups"]
    seen_bridges: set[str] = set()
    seen_ids: set[str] = set()
    for cycle in range(CYCLES):
        started = time.monotonic()
        run_cli(daemon, compose, "cycle", "up", "-d", timeout=300)
        up = project_containers(daemon, "cycle")
        assert len(up) == SERVICES and all(c["State"] == "running" for c in up), f"cycle {cycle}"
        seen_ids |= {c["Id"] for c in up}
        seen_bridges |= our_interfaces(daemon) - baseline["interfaces"]
        if cycle == 0:  # the cgroup check below can fail: each container has one while up
            live = {os.path.basename(path) for path in stackyard_cgroups()}
            assert all(any(c["Id"] in name for name in live) for c in up), "containers without a cgroup"
        run_cli(daemon, compose, "cycle", "down", "-v", "-t", "0", timeout=300)
        print(f"cycle {cycle}: {time.monotonic() - started:.1f} s")
        after = snapshot(daemon, supervisor)
        assert project_containers(daemon) == [], f"cycle {cycle}: containers left"
        assert after["interfaces"] == baseline["interfaces"], f"cycle {cycle}: interfaces left"
        assert not (sy_interfaces() & seen_bridges), f"cycle {cycle}: interfaces left"
        assert after["mounts"] == baseline["mounts"], f"cycle {cycle}: mounts left"
        assert after["netns"] == baseline["netns"], f"cycle {cycle}: netns files left"
        assert after["processes"] == baseline["processes"], (
            f"cycle {cycle}: processes left under the supervisor: {sorted(after['processes'])}")
        leaked = {path for path in after["cgroups"] - cgroups_before
                  if any(cid in os.path.basename(path) for cid in seen_ids)}
        assert not leaked, f"cycle {cycle}: cgroups left: {sorted(leaked)[:5]}"
        rules = nft_table_text(daemon)
        assert not [b for b in seen_bridges if b in rules], f"cycle {cycle}: nft rules left:\n{rules}"
    assert seen_bridges, "the stack's network made no interface; the leak check proves nothing"
