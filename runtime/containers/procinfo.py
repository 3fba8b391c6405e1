"""Host-side view of a container's processes from /proc (for `top`).

Called by manager.py with host pids the supervisor got from the container's cgroup.
"""

from __future__ import annotations

import os
import time

_CLK = os.sysconf("SC_CLK_TCK")


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def ps_rows(pids: list[int]) -> list[list[str]]:
    """`ps -ef` columns: UID PID PPID C STIME TTY TIME CMD (processes that vanished are skipped)."""
    rows = []
    boot = _boot_time()
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/status") as fh:
                uid = next(line.split()[1] for line in fh if line.startswith("Uid:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ppid, utime, stime, start = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[19])
        cpu = (utime + stime) // _CLK
        started = time.strftime("%H:%M", time.localtime(boot + start / _CLK))
        rows.append([_user(uid), str(pid), str(ppid), "0", started, "?",
                     time.strftime("%H:%M:%S", time.gmtime(cpu)), cmdline or f"[{comm}]"])
    return rows


def _user(uid: str) -> str:
    return "root" if uid == "0" else uid
