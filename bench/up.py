"""Benchmark: stackyard vs docker-compose 1.29.2 on the same private dockerd.

Run as root: `python3 bench/up.py [--sizes 10 50] [--runs 3]`. For generated stacks of N
busybox services (one network, a dependency chain plus fan-out) it times, for each tool:
cold `up -d`, converged re-`up -d`, `up -d` after changing one service, and `down`; prints the
medians, the ratios stackyard/docker-compose (targets: re-up <= 0.25, cold up and down <= 0.6)
and which containers each tool recreated after the one-service change (target: exactly one).
It starts its own dockerd (tests/integration/dockerd.py) and stops it by PID at the end.

It also times the engine's own floor: the same stack made and taken down by direct API calls
in the order `depends_on` requires (network, every create at once, the chain's starts one after
another with the fan-out started alongside; stops in reverse order, then removals), with no
tool at all. No tool can bring up or take down the stack faster than that on this dockerd, so
it shows how much of each tool's cold `up` and `down` is the tool's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generated_stack(n: int, marker: str = "a") -> str:
    """N services: s0 <- s1 <- ... chain for the first half, the rest fan out from s0.

    `init: true` gives each container an init (docker-init/tini) that passes SIGTERM on, so
    `sleep` stops at once like a real service does: without it the PID 1 `sleep` ignores
    SIGTERM and every stop in the chain waits the whole grace period, a fixed cost both tools
    must pay and that measures neither of them."""
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", "    image: ${IMAGE}", '    command: ["sleep", "3600"]', "    init: true",
                  "    stop_grace_period: 1s", "    networks: [net]",
                  "    environment:", f"      MARK: \"{marker if i == n // 2 else 'a'}\""]
        if i:
            parent = i - 1 if i < n // 2 else 0
            lines += ["    depends_on:", f"      - s{parent}"]
    lines += ["networks:", "  net: {}"]
    return "\n".join(lines) + "\n"


def container_ids(host: str, project: str) -> dict[str, str]:
    from orchestrator.engine import EngineClient

    with EngineClient(host) as client:
        return {c["Names"][0].lstrip("/"): c["Id"] for c in client.list_containers(
            all=True, filters={"label": [f"com.docker.compose.project={project}"]})}


def timed(argv: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def run_tool(name: str, argv: list[str], n: int, host: str, image: str, runs: int) -> dict:
    results: dict[str, list[float]] = {"cold up": [], "re-up": [], "changed up": [], "down": []}
    recreated: list[int] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / f"bench{n}"
            project.mkdir()
            compose = project / "docker-compose.yml"
            compose.write_text(generated_stack(n))
            env = {**os.environ, "DOCKER_HOST": host, "STACKYARD_ENGINE": "docker", "IMAGE": image, "COMPOSE_PROJECT_NAME": f"bench{n}"}
            results["cold up"].append(timed(argv + ["up", "-d"], project, env))
            results["re-up"].append(timed(argv + ["up", "-d"], project, env))
            before = container_ids(host, f"bench{n}")
            compose.write_text(generated_stack(n, marker="b"))
            results["changed up"].append(timed(argv + ["up", "-d"], project, env))
            after = container_ids(host, f"bench{n}")
            recreated.append(sum(1 for k in after if before.get(k) != after[k]))
            results["down"].append(timed(argv + ["down", "-t", "1"], project, env))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"  {name:<16} " + "  ".join(f"{k} {v * 1000:7.0f} ms" for k, v in medians.items())
          + f"  recreated after one change: {recreated}")
    return medians


def engine_floor(n: int, host: str, image: str, runs: int) -> dict:
    """Median cold up and down of the generated stack by direct API calls (see the docstring)."""
    import threading

    from orchestrator.engine import EngineClient

    def in_threads(call, items) -> None:
        threads = [threading.Thread(target=call, args=(item,)) for item in items]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    chain, fan = list(range(n // 2)), list(range(n // 2, n))
    results: dict[str, list[float]] = {"cold up": [], "down": []}
    with EngineClient(host) as client:
        for _ in range(runs):
            ids: dict[int, str] = {}
            start = time.perf_counter()
            client.create_network({"Name": "floor_net", "Driver": "bridge"})
            in_threads(lambda i: ids.__setitem__(i, client.create_container(
                {"Image": image, "Cmd": ["sleep", "3600"], "HostConfig": {"Init": True, "NetworkMode": "floor_net"}},
                name=f"floor-s{i}")["Id"]), range(n))
            fan_out = threading.Thread(target=in_threads, args=(lambda i: client.start_container(ids[i]), fan))
            for i in chain:
                client.start_container(ids[i])
                if i == 0:
                    fan_out.start()
            fan_out.join()
            results["cold up"].append(time.perf_counter() - start)
            start = time.perf_counter()
            stops = threading.Thread(target=in_threads, args=(lambda i: client.stop_container(ids[i], timeout=1), fan))
            stops.start()
            for i in reversed(chain[1:]):
                client.stop_container(ids[i], timeout=1)
            stops.join()
            client.stop_container(ids[0], timeout=1)
            in_threads(lambda i: client.remove_container(ids[i]), range(n))
            client.remove_network("floor_net")
            results["down"].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"  {'dockerd floor':<16} " + "  ".join(f"{k} {v * 1000:7.0f} ms" for k, v in medians.items())
          + "  (direct API calls in dependency order, no tool)")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.integration.dockerd import PrivateDockerd, import_busybox

    ours = [os.path.join(os.path.dirname(sys.executable), "stackyard")]
    if not os.access(ours[0], os.X_OK):
        ours = [sys.executable, "-m", "orchestrator.cli.app"]
    theirs = shutil.which("docker-compose")
    daemon = PrivateDockerd()
    try:
        daemon.start()
        image = import_busybox(daemon.host)
        for n in args.sizes:
            print(f"N = {n} services, median of {args.runs}:")
            mine = run_tool("stackyard", ours, n, daemon.host, image, args.runs)
            if theirs:
                ref = run_tool("docker-compose", [theirs], n, daemon.host, image, args.runs)
                print("  ratio stackyard/docker-compose: " + "  ".join(
                    f"{k} {mine[k] / ref[k]:.2f}" for k in mine) + "  (targets: re-up <= 0.25, cold up/down <= 0.6)")
                floor = engine_floor(n, daemon.host, image, args.runs)
                print("  ratio dockerd floor/docker-compose: " + "  ".join(
                    f"{k} {floor[k] / ref[k]:.2f}" for k in floor) + "  (no tool can go below these)")
            else:
                print("  docker-compose not installed (apt-get install docker-compose): no comparison")
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
