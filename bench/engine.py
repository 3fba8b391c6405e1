"""Benchmark: stackyard on the built-in engine vs docker-compose 1.29.2 on dockerd.

Run as root: `python3 bench/engine.py [--sizes 10 50] [--runs 3] [--run-rm 20] [--only-run-rm]`. In one run, on
the same generated stacks (bench/up.py's generator), it prints side by side:
- `up -d` cold / converged re-`up -d` / `up -d` after one change / `down` for `stackyard` against
  a private stackyard daemon and for docker-compose against a private dockerd;
- `docker run --rm <busybox> true` (median of --run-rm) against dockerd and against our daemon;
- RSS and PSS (/proc/PID/smaps_rollup) of each engine's own processes, idle and with the N=max
  stack running: our daemon + supervisor (+ any helper they parent in the host PID namespace)
  vs dockerd + containerd + containerd-shims (found by the PIDs the fixture owns, their
  children, and processes whose command line names the fixture's private dir).
Ratios are printed against the issue's targets (cold up N=50 <= 0.33, re-up <= 0.2,
run --rm <= 0.5, memory <= 0.5). Both daemons are private (temp dirs) and are stopped by PID,
with everything they ran, in a finally (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.up import container_ids, generated_stack, timed  # noqa: E402

TARGETS = {"cold up": 0.33, "re-up": 0.2}
RUN_RM_TARGET = 0.5
MEMORY_TARGET = 0.5


# ---- processes and memory -------------------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _host_pidns() -> str:
    return os.readlink("/proc/self/ns/pid")


def _in_host_pidns(pid: int) -> bool:
    # Container processes live in their own PID namespace; they are the workload, not the engine.
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == _host_pidns()
    except OSError:
        return False


def engine_processes(roots: list[int], marker: str | None = None) -> list[int]:
    """`roots` and their descendants (plus processes naming `marker` in their command line,
    e.g. containerd-shims that daemonize away from containerd), minus container processes."""
    children = _children_map()
    found: set[int] = set()
    todo = [pid for pid in roots if os.path.exists(f"/proc/{pid}")]
    if marker:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                        todo.append(int(entry))
                except OSError:
                    pass
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return sorted(pid for pid in found if _in_host_pidns(pid))


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB from /proc/PID/smaps_rollup; (0, 0) if the process is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def stack_memory(pids: list[int], roles: dict[int, str] | None = None) -> tuple[int, int, str]:
    """Summed RSS, PSS (KiB) and a per-command (or per-role) breakdown of `pids`."""
    per: dict[str, list[int]] = {}
    rss = pss = 0
    for pid in pids:
        r, p = memory_kib(pid)
        rss, pss = rss + r, pss + p
        entry = per.setdefault((roles or {}).get(pid) or _comm(pid), [0, 0, 0])
        entry[0] += 1
        entry[1] += r
        entry[2] += p
    detail = ", ".join(f"{name}×{n} {r / 1024:.1f}/{p / 1024:.1f}" for name, (n, r, p) in sorted(per.items()))
    return rss, pss, detail


# ---- the two engines ------------------------------------------------------------------------

class Engines:
    """Both private daemons, their busybox image, and the PIDs that make up each engine."""

    def __init__(self) -> None:
        from tests.integration.dockerd import PrivateDockerd
        from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon
        self.ours = PrivateStackyardDaemon()
        self.docker = PrivateDockerd()

    def start(self) -> None:
        from tests.integration.dockerd import import_busybox
        self.ours.start()
        self.docker.start()
        self.ours_image = import_busybox(self.ours.host)
        self.docker_image = import_busybox(self.docker.host)

    def supervisor_pid(self) -> int | None:
        from runtime import errdefs
        from runtime.supervisor.client import SupervisorClient
        try:
            return SupervisorClient(str(self.ours.exec_root / "supervisor.sock")).ping()["pid"]
        except errdefs.StackyardError:
            return None

    def our_roles(self) -> dict[int, str]:
        roles = {self.ours.process.pid: "daemon"} if self.ours.process else {}
        supervisor = self.supervisor_pid()
        if supervisor:
            roles[supervisor] = "supervisor"
        return roles

    def our_pids(self) -> list[int]:
        roots = [self.ours.process.pid] if self.ours.process else []
        supervisor = self.supervisor_pid()
        if supervisor:
            roots.append(supervisor)
        return engine_processes(roots)

    def docker_pids(self) -> list[int]:
        roots = [self.docker.process.pid] if self.docker.process else []
        return engine_processes(roots, marker=str(self.docker.root))

    def stop(self) -> None:
        try:
            self.ours.stop()
        finally:
            self.docker.stop()


def stackyard_argv() -> list[str]:
    ours = os.path.join(os.path.dirname(sys.executable), "stackyard")
    return [ours] if os.access(ours, os.X_OK) else [sys.executable, "-m", "stackyard.main"]


def run_stack(argv: list[str], env_extra: dict, host: str, image: str, n: int, runs: int,
              while_up=None) -> tuple[dict[str, float], list[int]]:
    """Medians of cold up / re-up / changed up / down; `while_up()` runs once with the stack up."""
    results: dict[str, list[float]] = {"cold up": [], "re-up": [], "changed up": [], "down": []}
    recreated: list[int] = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / f"eng{n}"
            project.mkdir()
            compose = project / "docker-compose.yml"
            compose.write_text(generated_stack(n))
            env = {**os.environ, **env_extra, "IMAGE": image, "COMPOSE_PROJECT_NAME": f"eng{n}"}
            try:
                results["cold up"].append(timed(argv + ["up", "-d"], project, env))
                results["re-up"].append(timed(argv + ["up", "-d"], project, env))
                before = container_ids(host, f"eng{n}")
                compose.write_text(generated_stack(n, marker="b"))
                results["changed up"].append(timed(argv + ["up", "-d"], project, env))
                after = container_ids(host, f"eng{n}")
                recreated.append(sum(1 for k in after if before.get(k) != after[k]))
                if while_up is not None and run == 0:
                    while_up()
            finally:
                results["down"].append(timed(argv + ["down", "-t", "1"], project, env))
    return {k: statistics.median(v) for k, v in results.items() if v}, recreated


def run_rm(docker: str, host: str, image: str, count: int) -> float:
    env = {**os.environ, "DOCKER_HOST": host}
    times = [timed([docker, "run", "--rm", image, "true"], Path("/"), env) for _ in range(count)]
    return statistics.median(times)


def _fmt(medians: dict[str, float]) -> str:
    return "  ".join(f"{k} {v * 1000:7.0f} ms" for k, v in medians.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--run-rm", type=int, default=20, help="docker run --rm repetitions")
    parser.add_argument("--only-run-rm", action="store_true",
                        help="measure only docker run --rm (no stacks, no memory)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/engine.py needs root (private daemons)")
    compose = shutil.which("docker-compose")
    docker = shutil.which("docker")
    # SIGTERM takes the same path as Ctrl-C: the finally below stops both daemons by PID.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    engines = Engines()
    try:
        engines.start()
        memory: dict[str, tuple] = {}
        time.sleep(1)  # let both daemons settle after the image import
        memory["ours idle"] = stack_memory(engines.our_pids(), engines.our_roles())
        memory["docker idle"] = stack_memory(engines.docker_pids())
        ours_env = {"STACKYARD_ENGINE": engines.ours.host}
        docker_env = {"DOCKER_HOST": engines.docker.host}
        biggest = max(args.sizes)
        for n in ([] if args.only_run_rm else args.sizes):
            print(f"N = {n} services, median of {args.runs}:", flush=True)
            grab_ours = (lambda: memory.__setitem__("ours busy", stack_memory(engines.our_pids(), engines.our_roles()))) \
                if n == biggest else None
            mine, mine_recreated = run_stack(stackyard_argv(), ours_env, engines.ours.host,
                                             engines.ours_image, n, args.runs, grab_ours)
            print(f"  {'stackyard/builtin':<24} {_fmt(mine)}  recreated after one change: {mine_recreated}",
                  flush=True)
            if not compose:
                print("  docker-compose not installed: no comparison")
                continue
            grab_docker = (lambda: memory.__setitem__("docker busy", stack_memory(engines.docker_pids()))) \
                if n == biggest else None
            ref, ref_recreated = run_stack([compose], docker_env, engines.docker.host,
                                           engines.docker_image, n, args.runs, grab_docker)
            print(f"  {'docker-compose/dockerd':<24} {_fmt(ref)}  recreated after one change: {ref_recreated}")
            print("  ratio builtin/dockerd:   " + "  ".join(
                f"{k} {mine[k] / ref[k]:.2f}" + (f" (target <= {TARGETS[k]}, {'ok' if mine[k] / ref[k] <= TARGETS[k] else 'MISSED'})"
                                                  if k in TARGETS else "") for k in mine), flush=True)
        if docker:
            theirs = run_rm(docker, engines.docker.host, engines.docker_image, args.run_rm)
            mine_rm = run_rm(docker, engines.ours.host, engines.ours_image, args.run_rm)
            ratio = mine_rm / theirs
            print(f"docker run --rm true, median of {args.run_rm}: dockerd {theirs * 1000:.0f} ms, "
                  f"stackyard daemon {mine_rm * 1000:.0f} ms, ratio {ratio:.2f} "
                  f"(target <= {RUN_RM_TARGET}, {'ok' if ratio <= RUN_RM_TARGET else 'MISSED'})")
        print("memory (RSS/PSS MiB, summed over each engine's processes):")
        for state in ("idle", "busy"):
            o, d = memory.get(f"ours {state}"), memory.get(f"docker {state}")
            if not o or not d:
                continue
            label = "idle" if state == "idle" else f"{biggest} containers"
            ratio = o[1] / d[1] if d[1] else float("nan")
            print(f"  {label:<14} stackyard {o[0] / 1024:6.1f}/{o[1] / 1024:6.1f}   "
                  f"dockerd stack {d[0] / 1024:6.1f}/{d[1] / 1024:6.1f}   PSS ratio {ratio:.2f} "
                  f"(RSS ratio {o[0] / d[0]:.2f}; target <= {MEMORY_TARGET}, "
                  f"{'ok' if ratio <= MEMORY_TARGET else 'MISSED'})")
            print(f"      stackyard: {o[2]}")
            print(f"      dockerd:   {d[2]}")
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        engines.stop()


if __name__ == "__main__":
    main()
