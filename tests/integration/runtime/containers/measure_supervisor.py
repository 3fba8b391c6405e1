"""Prints the supervisor's memory with 0, 10 and 50 running containers, and the time of
create + start + wait of `/bin/true` through ContainerManager → supervisor → native executor.

A measurement script, not a test (the project keeps numbers out of timed tests):
    sudo python3 -m tests.integration.runtime.containers.measure_supervisor
Cleans up everything it starts (containers force-removed, supervisor stopped by PID).
"""

from __future__ import annotations

import statistics
import tempfile
import time

from tests.integration.runtime.containers.conftest import Env, _skip_reason


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB."""
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


def main() -> None:
    reason = _skip_reason()
    if reason:
        raise SystemExit(f"cannot measure: {reason}")
    env = Env(tempfile.mkdtemp(prefix="sy-ctr-bench-"))
    try:
        pid = env.start_supervisor()
        m = env.manager
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            cid = m.create(None, {"Image": "busybox", "Cmd": ["/bin/true"], "HostConfig": {"NetworkMode": "none"}})
            m.start(cid)
            m.wait(cid)
            times.append(time.perf_counter() - t0)
            m.remove(cid)
        print(f"create+start+wait /bin/true via the supervisor: median {statistics.median(times) * 1000:.1f} ms "
              f"(min {min(times) * 1000:.1f}, 20 runs)")
        running = 0
        for target in (0, 10, 50):
            while running < target:
                cid = m.create(None, {"Image": "busybox", "Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": "none"}})
                m.start(cid)
                running += 1
            time.sleep(0.5)
            rss, pss = memory(pid)
            print(f"supervisor with {target:2d} containers: RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
