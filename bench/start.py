"""Benchmark: create+start+wait of /bin/true — native executor vs crun vs runc vs `docker run --rm`,
then the same through ContainerManager → supervisor, and the supervisor's memory (RSS/PSS) with
0, 10 and 50 running containers.

Run as root: `python3 bench/start.py [--runs 20] [--no-docker] [--no-supervisor]`. Each backend runs the same
Engine API create body over an overlay of a busybox rootfs through the same parent-side harness
(the one the executor tests use): build_spec, start, waitpid, cleanup. Two numbers per backend:
`total` (everything, including the overlay dirs and the spec) and `start→exit` (executor start
until the exit status is reaped). Docker: `docker run --rm` on a private dockerd this script
starts (tests/integration/dockerd.py) with the busybox image imported, never pulled. Prints
medians and the ratio native/crun (target <= 1.2). Run on a quiet machine for stable numbers.
The end-to-end line through the daemon (API → manager → supervisor) against `docker run` is
printed by bench/engine.py, not here.
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

CREATE = {"Cmd": ["/bin/true"]}


def bench_executor(executor, runs: int, create: dict) -> tuple[float, float]:
    from tests.integration.runtime.executor.harness import Runner

    runner = Runner(executor)
    totals, starts = [], []
    try:
        runner.run(create)  # warm: seccomp compile cache, page cache
        for _ in range(runs):
            t0 = time.perf_counter()
            started, spec, overlay = runner.start(create)
            t1 = time.perf_counter()
            result = runner.wait(started, overlay)
            t2 = time.perf_counter()
            runner.release(started)
            t3 = time.perf_counter()
            assert result.status == 0, result
            starts.append(t2 - t1 + (t1 - t0))
            totals.append(t3 - t0)
    finally:
        runner.close()
    return statistics.median(totals) * 1000, statistics.median(starts) * 1000


def bench_docker(runs: int) -> float | None:
    from tests.integration.dockerd import PrivateDockerd, import_busybox, missing_requirement

    if missing_requirement() or shutil.which("docker") is None:
        return None
    daemon = PrivateDockerd()
    try:
        daemon.start()
        image = import_busybox(daemon.host)
        argv = ["docker", "-H", daemon.host, "run", "--rm", "--network", "none", image, "/bin/true"]
        subprocess.run(argv, check=True, capture_output=True)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000
    finally:
        daemon.stop()


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def bench_supervisor(runs: int) -> tuple[list[float], list[tuple[int, float, float]]] | None:
    """(create+start+wait+remove times through ContainerManager → supervisor, in ms,
    [(running containers, RSS MiB, PSS MiB)] for 0, 10 and 50 `sleep` containers).
    A private root and supervisor (the container tests' Env); everything is removed after."""
    from tests.integration.runtime.containers.conftest import Env, _skip_reason

    if _skip_reason():
        return None
    env = Env(tempfile.mkdtemp(prefix="sy-bench-sup-"))
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "none"}}
    try:
        pid = env.start_supervisor()
        m = env.manager
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cid = m.create(None, {**body, "Cmd": ["/bin/true"]})
            m.start(cid)
            m.wait(cid)
            times.append((time.perf_counter() - t0) * 1000)
            m.remove(cid)
        rows, running = [], 0
        for target in (0, 10, 50):
            while running < target:
                cid = m.create(None, {**body, "Cmd": ["sleep", "3600"]})
                m.start(cid)
                running += 1
            time.sleep(0.5)  # let the pumps and timers settle
            rows.append((target, *memory(pid)))
        return times, rows
    finally:
        env.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-supervisor", action="store_true", help="skip the supervisor time and memory")
    parser.add_argument("--no-seccomp", action="store_true", help="seccomp=unconfined for every backend")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    from runtime.executor.native import NativeExecutor
    from runtime.executor.oci_runtime import OciRuntimeExecutor

    create = dict(CREATE)
    if args.no_seccomp:
        create["HostConfig"] = {"SecurityOpt": ["seccomp=unconfined"]}
    state = tempfile.mkdtemp(prefix="sy-bench-")
    rows = []
    try:
        rows.append(("native", *bench_executor(NativeExecutor(), args.runs, create)))
        for binary in ("crun", "runc"):
            if shutil.which(binary):
                rows.append((binary, *bench_executor(OciRuntimeExecutor(binary, state_dir=f"{state}/{binary}"),
                                                     args.runs, create)))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    docker = None if args.no_docker else bench_docker(args.runs)
    supervisor = None if args.no_supervisor else bench_supervisor(args.runs)
    print(f"create+start+wait of /bin/true, median of {args.runs} runs (ms)")
    print(f"{'backend':<16}{'total':>10}{'start→exit':>14}")
    for name, total, start in rows:
        print(f"{name:<16}{total:>10.1f}{start:>14.1f}")
    if docker is not None:
        print(f"{'docker run --rm':<16}{docker:>10.1f}{'':>14}")
    by = {name: (total, start) for name, total, start in rows}
    if "crun" in by:
        print(f"native/crun: total {by['native'][0] / by['crun'][0]:.2f}, start→exit {by['native'][1] / by['crun'][1]:.2f}"
              " (target <= 1.2)")
    if docker is not None:
        print(f"native/docker run: {by['native'][0] / docker:.2f}")
    if supervisor is not None:
        times, mem = supervisor
        print(f"create+start+wait+rm of /bin/true through ContainerManager -> supervisor: median "
              f"{statistics.median(times):.1f} ms (min {min(times):.1f}, {len(times)} runs)")
        for count, rss, pss in mem:
            print(f"supervisor with {count:2d} containers: RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
    print("end to end through the daemon (API -> manager -> supervisor) vs `docker run`: see bench/engine.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
