"""cgroups for containers: detect v1 / hybrid / v2, create `<where we run>/stackyard/<id>`, limits, stats.

Called by NativeExecutor (parent side, before the fork) and by OciRuntimeExecutor for stats and
kill. Deciding is pure (`detect`, `own_paths`, `v1_files`, `v2_files`); writing is in
`create`/`CgroupHandle`. On a hybrid host (this one) the controllers live on v1 and cgroup2 at
/sys/fs/cgroup/unified gives cgroup.procs, cgroup.events, cgroup.kill and cgroup.freeze.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, field

from runtime import errdefs

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer")
UNIFIED = "unified"

# moby's default device rules (oci/devices_linux.go + defaults): mknod anything, use the standard nodes.
DEFAULT_DEVICE_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
                        "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]


@dataclass(frozen=True)
class Layout:
    mode: str                                       # "v1" | "hybrid" | "v2"
    v1: dict[str, tuple[str, str]] = field(default_factory=dict)  # controller → (mountpoint, mount root)
    unified: tuple[str, str] | None = None          # (mountpoint, mount root) of cgroup2


def detect(mountinfo: str) -> Layout:
    """The cgroup layout from /proc/self/mountinfo text (pure)."""
    v1: dict[str, tuple[str, str]] = {}
    unified = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) < 5 or len(rparts) < 3:
            continue
        root, mountpoint, fstype = parts[3], parts[4].replace("\\040", " "), rparts[0]
        if fstype == "cgroup2" and unified is None:
            unified = (mountpoint, root)
        elif fstype == "cgroup":
            for opt in rparts[2].split(","):
                if opt in V1_CONTROLLERS and opt not in v1:
                    v1[opt] = (mountpoint, root)
    if not v1 and unified is not None:
        return Layout("v2", {}, unified)
    return Layout("hybrid" if unified is not None else "v1", v1, unified)


def own_paths(proc_cgroup: str) -> dict[str, str]:
    """controller → our cgroup path, "" key for the unified hierarchy (pure)."""
    out: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        hid, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if hid == "0" and ctrls == "":
            out[""] = path
        for c in ctrls.split(","):
            if c:
                out[c] = path
    return out


def _join(mount: tuple[str, str], path: str, rel: str) -> str:
    mountpoint, root = mount
    if root != "/" and path.startswith(root):
        path = path[len(root):]
    return os.path.join(mountpoint, path.lstrip("/"), rel)


def v1_files(res: dict, *, device_rules: list[str] | None) -> dict[str, list[tuple[str, str]]]:
    """controller → [(file, value)] in write order for a v1 cgroup (pure)."""
    out: dict[str, list[tuple[str, str]]] = {}
    mem = res.get("memory") or {}
    if "limit" in mem:
        out.setdefault("memory", []).append(("memory.limit_in_bytes", str(mem["limit"])))
    if "swap" in mem:
        out.setdefault("memory", []).append(("memory.memsw.limit_in_bytes", str(mem["swap"])))
    if "reservation" in mem:
        out.setdefault("memory", []).append(("memory.soft_limit_in_bytes", str(mem["reservation"])))
    if mem.get("disableOOMKiller"):
        out.setdefault("memory", []).append(("memory.oom_control", "1"))
    cpu = res.get("cpu") or {}
    if "shares" in cpu:
        out.setdefault("cpu", []).append(("cpu.shares", str(cpu["shares"])))
    if "period" in cpu:
        out.setdefault("cpu", []).append(("cpu.cfs_period_us", str(cpu["period"])))
    if "quota" in cpu:
        out.setdefault("cpu", []).append(("cpu.cfs_quota_us", str(cpu["quota"])))
    if "cpus" in cpu:
        out.setdefault("cpuset", []).append(("cpuset.cpus", cpu["cpus"]))
    if "mems" in cpu:
        out.setdefault("cpuset", []).append(("cpuset.mems", cpu["mems"]))
    if "limit" in (res.get("pids") or {}):
        out.setdefault("pids", []).append(("pids.max", _max_or(res["pids"]["limit"])))
    if "weight" in (res.get("blockIO") or {}):
        out.setdefault("blkio", []).append(("blkio.weight", str(res["blockIO"]["weight"])))
    if device_rules is not None:
        out.setdefault("devices", []).append(("devices.deny", "a"))
        out["devices"] += [("devices.allow", r) for r in device_rules]
    return out


def v2_files(res: dict) -> list[tuple[str, str]]:
    """[(file, value)] for a cgroup2 cgroup (pure): runc's v1→v2 conversions."""
    out: list[tuple[str, str]] = []
    mem = res.get("memory") or {}
    if "limit" in mem:
        out.append(("memory.max", _max_or(mem["limit"])))
    if "swap" in mem:
        swap, limit = mem["swap"], mem.get("limit", 0)
        out.append(("memory.swap.max", "max" if swap < 0 or limit < 0 else str(max(0, swap - limit))))
    if "reservation" in mem:
        out.append(("memory.low", str(mem["reservation"])))
    cpu = res.get("cpu") or {}
    if "quota" in cpu or "period" in cpu:
        quota = cpu.get("quota", -1)
        out.append(("cpu.max", f"{'max' if quota <= 0 else quota} {cpu.get('period', 100000)}"))
    if "shares" in cpu:
        out.append(("cpu.weight", str(1 + ((cpu["shares"] - 2) * 9999) // 262142)))
    if "cpus" in cpu:
        out.append(("cpuset.cpus", cpu["cpus"]))
    if "mems" in cpu:
        out.append(("cpuset.mems", cpu["mems"]))
    if "limit" in (res.get("pids") or {}):
        out.append(("pids.max", _max_or(res["pids"]["limit"])))
    if "weight" in (res.get("blockIO") or {}):
        out.append(("io.weight", str(1 + (res["blockIO"]["weight"] - 10) * 9999 // 990)))
    return out


def _max_or(value: int) -> str:
    """A limit as cgroup files take it: -1 (docker update's "unlimited") is "max"."""
    return "max" if value <= 0 else str(value)


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


@dataclass
class CgroupHandle:
    """The cgroup dirs of one container: controller → dir (v1), "unified" → cgroup2 dir."""

    mode: str
    paths: dict[str, str]

    def to_dict(self) -> dict:
        return {"mode": self.mode, "paths": dict(self.paths)}

    @classmethod
    def from_dict(cls, data: dict) -> "CgroupHandle":
        return cls(data["mode"], dict(data["paths"]))

    def procs_files(self) -> list[str]:
        return [os.path.join(p, "cgroup.procs") for p in self.paths.values()]

    def join_files(self) -> list[str]:
        """What a freshly forked, single-threaded child writes "0" into to join: `tasks` on v1
        (moving one thread skips the kernel's global threadgroup lock, whose write side waits
        an RCU grace period, 10-20 ms, whenever no migration happened just before; a write to
        cgroup.procs takes it), cgroup.procs on cgroup2 (which the caller drops when the fork
        already placed the child there: runtime/executor/clone.py)."""
        return [os.path.join(p, "cgroup.procs" if ctrl == UNIFIED else "tasks") for ctrl, p in self.paths.items()]

    def unified_dir(self) -> str | None:
        """The cgroup2 directory (hybrid and v2 hosts), where clone3 can start the child."""
        return self.paths.get(UNIFIED)

    def _tracker(self) -> str:
        return self.paths.get(UNIFIED) or next(iter(self.paths.values()))

    def pids(self) -> list[int]:
        """Processes in the container cgroup (host pids)."""
        try:
            return [int(x) for x in _read(os.path.join(self._tracker(), "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def is_populated(self) -> bool:
        events = os.path.join(self.paths.get(UNIFIED, ""), "cgroup.events")
        if UNIFIED in self.paths and os.path.exists(events):
            return "populated 1" in _read(events)
        return bool(self.pids())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process; SIGKILL through cgroup.kill when the kernel has it."""
        kill_file = os.path.join(self.paths.get(UNIFIED, "/nonexistent"), "cgroup.kill")
        if sig == signal.SIGKILL and os.path.exists(kill_file):
            _write(kill_file, "1")
            return
        for _ in range(50 if sig == signal.SIGKILL else 1):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if sig != signal.SIGKILL or not pids:
                return
            time.sleep(0.002)

    def freeze(self, frozen: bool) -> None:
        """Pause (True) or resume (False) every process; returns once the state is reached."""
        unified = self.paths.get(UNIFIED)
        if unified and os.path.exists(os.path.join(unified, "cgroup.freeze")):
            _write(os.path.join(unified, "cgroup.freeze"), "1" if frozen else "0")
            want = f"frozen {1 if frozen else 0}"
            for _ in range(1000):
                if want in _read(os.path.join(unified, "cgroup.events")):
                    return
                time.sleep(0.001)
            raise errdefs.Unavailable(f"cgroup {unified}: did not reach {want!r}")
        freezer = self.paths.get("freezer")
        if not freezer:
            raise errdefs.Unsupported("no freezer cgroup on this host")
        state = "FROZEN" if frozen else "THAWED"
        _write(os.path.join(freezer, "freezer.state"), state)
        for _ in range(1000):
            if _read(os.path.join(freezer, "freezer.state")).strip() == state:
                return
            time.sleep(0.001)
        raise errdefs.Unavailable(f"cgroup {freezer}: did not reach {state}")

    def is_frozen(self) -> bool:
        """Paused (False when the cgroup is gone)."""
        try:
            unified = self.paths.get(UNIFIED)
            if unified and os.path.exists(os.path.join(unified, "cgroup.freeze")):
                return _read(os.path.join(unified, "cgroup.freeze")).strip() == "1"
            freezer = self.paths.get("freezer")
            return bool(freezer) and _read(os.path.join(freezer, "freezer.state")).strip() != "THAWED"
        except FileNotFoundError:
            return False

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        for path, name in ((self.paths.get("memory"), "memory.oom_control"), (self.paths.get(UNIFIED), "memory.events")):
            if path and os.path.exists(os.path.join(path, name)):
                for line in _read(os.path.join(path, name)).splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    def oom_killed(self) -> bool:
        return self.oom_kills() > 0

    def stats(self) -> dict:
        """CPU, memory and pids counters, in Docker's stats field names."""
        out: dict = {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}, "pids_stats": {}}
        cpuacct, memory, pids, uni = (self.paths.get(k) for k in ("cpuacct", "memory", "pids", UNIFIED))
        if cpuacct and os.path.exists(os.path.join(cpuacct, "cpuacct.usage")):
            out["cpu_stats"]["cpu_usage"]["total_usage"] = int(_read(os.path.join(cpuacct, "cpuacct.usage")))
        elif uni and os.path.exists(os.path.join(uni, "cpu.stat")):
            for line in _read(os.path.join(uni, "cpu.stat")).splitlines():
                if line.startswith("usage_usec "):
                    out["cpu_stats"]["cpu_usage"]["total_usage"] = int(line.split()[1]) * 1000
        cpu_dir = self.paths.get("cpu") or uni
        if cpu_dir and os.path.exists(os.path.join(cpu_dir, "cpu.stat")):
            st = dict(line.split() for line in _read(os.path.join(cpu_dir, "cpu.stat")).splitlines() if " " in line)
            out["cpu_stats"]["throttling_data"] = {"periods": int(st.get("nr_periods", 0)),
                                                   "throttled_periods": int(st.get("nr_throttled", 0))}
        out["cpu_stats"]["online_cpus"] = os.cpu_count() or 1
        out["cpu_stats"]["system_cpu_usage"] = _system_cpu_ns()
        if memory and self.mode != "v2":
            m = out["memory_stats"]
            m["usage"] = int(_read(os.path.join(memory, "memory.usage_in_bytes")))
            m["max_usage"] = int(_read(os.path.join(memory, "memory.max_usage_in_bytes")))
            m["limit"] = int(_read(os.path.join(memory, "memory.limit_in_bytes")))
            m["stats"] = {k: int(v) for k, v in (line.split() for line in _read(os.path.join(memory, "memory.stat")).splitlines())}
        elif uni and os.path.exists(os.path.join(uni, "memory.current")):
            m = out["memory_stats"]
            m["usage"] = int(_read(os.path.join(uni, "memory.current")))
            limit = _read(os.path.join(uni, "memory.max")).strip()
            m["limit"] = 2**63 - 1 if limit == "max" else int(limit)
        pdir = pids if pids and self.mode != "v2" else uni
        if pdir and os.path.exists(os.path.join(pdir, "pids.current")):
            out["pids_stats"]["current"] = int(_read(os.path.join(pdir, "pids.current")))
            limit = _read(os.path.join(pdir, "pids.max")).strip()
            if limit != "max":
                out["pids_stats"]["limit"] = int(limit)
        out["memory_stats"]["oom_kills"] = self.oom_kills()
        return out

    def remove(self) -> None:
        """rmdir every dir (children first never needed: we create none); tolerant of already gone."""
        for path in self.paths.values():
            for attempt in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == 99:
                        raise errdefs.from_oserror(exc, f"cgroup {path}") from exc
                    time.sleep(0.001)


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


_LAYOUT: list[tuple[Layout, dict[str, str]]] = []


def host_layout() -> tuple[Layout, dict[str, str]]:
    """Detected once per process: the layout and where we run (cached; the host does not change)."""
    if not _LAYOUT:
        _LAYOUT.append((detect(_read("/proc/self/mountinfo")), own_paths(_read("/proc/self/cgroup"))))
    return _LAYOUT[0]


def container_dirs(cgroups_path: str) -> CgroupHandle:
    """Where a container's cgroups go: under the cgroup we run in, + `cgroups_path` (e.g. stackyard/<id>)."""
    layout, own = host_layout()
    paths: dict[str, str] = {}
    for ctrl, mount in layout.v1.items():
        paths[ctrl] = _join(mount, own.get(ctrl, "/"), cgroups_path)
    if layout.unified is not None:
        paths[UNIFIED] = _join(layout.unified, own.get("", "/"), cgroups_path)
    return CgroupHandle(layout.mode, paths)


def _mkdir_v1(path: str, ctrl: str) -> None:
    # cpuset dirs start empty and refuse tasks: copy cpus/mems down from the nearest parent.
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
        if ctrl == "cpuset":
            parent = os.path.dirname(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(d, name)).strip():
                    _write(os.path.join(d, name), _read(os.path.join(parent, name)).strip())


def _enable_v2_controllers(path: str, wanted: list[str]) -> None:
    """Best effort: enable controllers on each ancestor we own (the parent we run in may refuse)."""
    d = os.path.dirname(path)
    chain = []
    while os.path.exists(os.path.join(d, "cgroup.subtree_control")) and d != "/":
        chain.append(d)
        if len(chain) >= 2:  # our own cgroup and the stackyard parent
            break
        d = os.path.dirname(d)
    for d in reversed(chain):
        available = set(_read(os.path.join(d, "cgroup.controllers")).split())
        for c in wanted:
            if c in available:
                try:
                    _write(os.path.join(d, "cgroup.subtree_control"), f"+{c}")
                except OSError:
                    pass


def create(cgroups_path: str, resources: dict, *, device_rules: list[str] | None = None) -> CgroupHandle:
    """Make the container's cgroup dirs and write its limits. Raises errdefs on failure (nothing left behind)."""
    handle = container_dirs(cgroups_path)
    try:
        for ctrl, path in handle.paths.items():
            if ctrl == UNIFIED:
                os.makedirs(path, exist_ok=True)
            else:
                _mkdir_v1(path, ctrl)
        if handle.mode == "v2":
            files = v2_files(resources)
            _enable_v2_controllers(handle.paths[UNIFIED], sorted({f.split(".")[0] for f, _ in files}))
            for name, value in files:
                target = os.path.join(handle.paths[UNIFIED], name)
                if not os.path.exists(target):
                    raise errdefs.FailedPrecondition(f"cgroup v2: {name} is not available in {handle.paths[UNIFIED]} (controller not delegated)")
                _write(target, value)
            if device_rules is not None:
                from runtime.executor import devices_bpf
                try:
                    devices_bpf.attach(handle.paths[UNIFIED], device_rules)
                except OSError as exc:
                    raise errdefs.FailedPrecondition(f"cgroup v2 device filter on {handle.paths[UNIFIED]}: {exc}") from exc
        else:
            for ctrl, files in v1_files(resources, device_rules=device_rules).items():
                if ctrl not in handle.paths:
                    if ctrl in ("blkio", "devices"):
                        continue  # optional controllers: skip where the host lacks them
                    raise errdefs.FailedPrecondition(f"cgroup v1 controller {ctrl} is not mounted")
                for name, value in files:
                    target = os.path.join(handle.paths[ctrl], name)
                    if name == "blkio.weight" and not os.path.exists(target):
                        alt = os.path.join(handle.paths[ctrl], "blkio.bfq.weight")
                        if not os.path.exists(alt):
                            continue  # no weight knob with this I/O scheduler
                        target = alt
                    if name == "memory.memsw.limit_in_bytes" and not os.path.exists(target):
                        continue  # swap accounting off: nothing to limit
                    _write(target, value)
    except OSError as exc:
        handle.remove()
        raise errdefs.from_oserror(exc, f"cgroup {cgroups_path}") from exc
    except errdefs.StackyardError:
        handle.remove()
        raise
    return handle


def find(cgroups_path: str) -> CgroupHandle | None:
    """The handle of an existing container cgroup (for adoption after a supervisor restart)."""
    handle = container_dirs(cgroups_path)
    if not os.path.isdir(handle._tracker()):
        return None
    return where_members_are(handle)


def where_members_are(handle: CgroupHandle) -> CgroupHandle:
    """`handle` with each v1 controller's directory taken from where the container's processes
    really are. The directories were made under the cgroups of the supervisor that started the
    container; a supervisor started later may run in other ones (a service manager can put each
    command in its own memory cgroup), so recomputing them from its own would miss. Unchanged
    when no process is left to ask."""
    pids = handle.pids()
    layout, _own = host_layout()
    if not pids or not layout.v1:
        return handle
    try:
        actual = own_paths(_read(f"/proc/{pids[0]}/cgroup"))
    except OSError:
        return handle
    paths = dict(handle.paths)
    for ctrl, mount in layout.v1.items():
        if ctrl in paths and ctrl in actual:
            paths[ctrl] = _join(mount, actual[ctrl], "").rstrip("/")
    return CgroupHandle(handle.mode, paths)


def find_by_id(container_id: str, parent: str = "stackyard", depth: int = 3) -> CgroupHandle | None:
    """A container cgroup named `container_id` anywhere under `parent` (a caller may have nested
    its own parent, e.g. "stackyard/tests"): `find` first, then a shallow search."""
    handle = find(f"{parent}/{container_id}")
    if handle is not None:
        return handle
    base = container_dirs(parent)
    top = base._tracker()
    for dirpath, dirnames, _files in os.walk(top):
        rel = os.path.relpath(dirpath, top)
        if rel.count("/") + 1 >= depth:
            dirnames[:] = []
        if container_id in dirnames:
            sub = os.path.join(parent, rel, container_id) if rel != "." else os.path.join(parent, container_id)
            return find(os.path.normpath(sub))
    return None
