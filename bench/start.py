"""Benchmark: create+start+wait of /bin/true — native executor vs crun vs runc vs `docker run --rm`.

Run as root: `python3 bench/start.py [--runs 20] [--no-docker]`. Each backend runs the same
Engine API create body over an overlay of a busybox rootfs through the same parent-side harness
(the one the executor tests use): build_spec, start, waitpid, cleanup. Two numbers per backend:
`total` (everything, including the overlay dirs and the spec) and `start→exit` (executor start
until the exit status is reaped). Docker: `docker run --rm` on a private dockerd this script
starts (tests/integration/dockerd.py) with the busybox image imported, never pulled. Prints
medians and the ratio native/crun (target <= 1.2). Run on a quiet machine for stable numbers.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-docker", action="store_true")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
