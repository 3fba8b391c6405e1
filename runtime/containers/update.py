"""`POST /containers/{id}/update` decided purely: the new HostConfig, what to write live, warnings.

Called by ContainerManager.update, which persists the result and asks the supervisor to write
`UpdatePlan.live` into a running container's cgroup. The checks and their texts are Docker's
(daemon/daemon_unix.go verifyPlatformContainerResources with update=true → 400, then
container.UpdateContainer → 409 "conflicting update options"), so clients see the same words:

1. `check_request`  — the body alone (ranges, Nano CPUs vs CPU Period/Quota, cpuset syntax);
2. `merge`          — Docker's rule: a zero field keeps the old value, PidsLimit when present,
                      the restart policy when it names one; conflicts with what is already set;
3. `live_resources` — only the controllers the request touched, with -1 meaning "unlimited"
                      (so `--pids-limit -1` writes `max`), taken from the merged config.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from runtime import errdefs
from runtime.containers.restart import RestartPolicy, parse_restart_policy

MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory
CPU_PERIOD = 100_000          # the period NanoCpus is converted with (Docker and runc)

MEMORY_FIELDS = ("Memory", "MemorySwap", "MemoryReservation")
CPU_QUOTA_FIELDS = ("NanoCpus", "CpuPeriod", "CpuQuota")
# Fields docker update can change: "zero keeps the old value" (container.UpdateContainer).
MERGED_FIELDS = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
                 "Memory", "MemorySwap", "MemoryReservation")
RESOURCE_KEYS = ("memory", "cpu", "pids", "blockIO")  # what HostConfig resources become in a spec
KERNEL_MEMORY_WARNING = ("Your kernel does not support kernel memory limit capabilities or the cgroup is not "
                         "mounted. Limitation discarded.")


@dataclass(frozen=True)
class Host:
    """What the checks need to know about this machine (cpuset ranges, CPU count)."""

    ncpu: int
    cpus: frozenset[int]
    mems: frozenset[int]
    cpus_text: str = ""
    mems_text: str = ""


@dataclass(frozen=True)
class UpdatePlan:
    host_config: dict                       # the HostConfig to persist
    live: dict                              # OCI-style resources to write into a running cgroup now
    restart_policy: RestartPolicy | None    # None: unchanged
    warnings: list[str] = field(default_factory=list)


def parse_cpuset(text: str) -> frozenset[int] | None:
    """"0-2,4" → {0,1,2,4}; None when the syntax is wrong (pure)."""
    out: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            return None
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first or last > 8192:
            return None
        out.update(range(first, last + 1))
    return frozenset(out)


def _int(body: dict, key: str) -> int:
    value = body.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise errdefs.InvalidArgument(f"invalid {key}: expected an integer, got {value!r}")
    return value


def _check_cpuset(value: str, available: frozenset[int], available_text: str, what: str, lack: str) -> None:
    wanted = parse_cpuset(value)
    if wanted is None:
        raise errdefs.InvalidArgument(f"Invalid value {value} for cpuset {what}")
    if available and not wanted <= available:
        raise errdefs.InvalidArgument(f"Requested {lack} are not available - requested {value}, available: {available_text}")


def check_request(body: dict, host: Host) -> list[str]:
    """Docker's checks of the update body alone; returns warnings. Raises InvalidArgument (400)."""
    warnings: list[str] = []
    memory, swap, reservation = (_int(body, k) for k in MEMORY_FIELDS)
    if memory != 0 and memory < MIN_MEMORY:
        raise errdefs.InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise errdefs.InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap < -1:
        raise errdefs.InvalidArgument(f"Invalid memoryswap value {swap}: use -1 for unlimited swap")
    if reservation != 0 and reservation < MIN_MEMORY:
        raise errdefs.InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise errdefs.InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if _int(body, "KernelMemory") or _int(body, "KernelMemoryTCP"):
        warnings.append(KERNEL_MEMORY_WARNING)
    nano, period, quota = (_int(body, k) for k in CPU_QUOTA_FIELDS)
    if nano > 0 and period > 0:
        raise errdefs.InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise errdefs.InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    # Below 0.01 CPU the quota would be under the kernel's 1 ms minimum.
    if nano < 0 or nano > host.ncpu * 1_000_000_000 or 0 < nano < 10_000_000:
        raise errdefs.InvalidArgument(f"Range of CPUs is from 0.01 to {host.ncpu}.00, as there are only "
                                      f"{host.ncpu} CPUs available")
    if period != 0 and not 1000 <= period <= 1_000_000:
        raise errdefs.InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if (quota > 0 and quota < 1000) or quota < -1:
        raise errdefs.InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if _int(body, "CpuShares") < 0:
        raise errdefs.InvalidArgument(f"invalid CpuShares {body['CpuShares']}: must not be negative")
    if _int(body, "CpuRealtimePeriod") or _int(body, "CpuRealtimeRuntime"):
        raise errdefs.InvalidArgument("Your kernel does not support CPU real-time scheduler")
    if body.get("CpusetCpus"):
        _check_cpuset(str(body["CpusetCpus"]), host.cpus, host.cpus_text, "cpus", "CPUs")
    if body.get("CpusetMems"):
        _check_cpuset(str(body["CpusetMems"]), host.mems, host.mems_text, "mems", "memory nodes")
    weight = _int(body, "BlkioWeight")
    if weight != 0 and not 10 <= weight <= 1000:
        raise errdefs.InvalidArgument("Range of blkio weight is from 10 to 1000")
    if body.get("PidsLimit") is not None:
        _int(body, "PidsLimit")
    return warnings


def normalized(host: dict) -> dict:
    """HostConfig as Docker stores it after create: a memory limit without a swap limit has
    MemorySwap = 2 × Memory (daemon adaptContainerSettings), which the conflict rule reads."""
    out = dict(host)
    if int(out.get("Memory") or 0) > 0 and not out.get("MemorySwap"):
        out["MemorySwap"] = 2 * int(out["Memory"])
    return out


def merge(host: dict, body: dict, *, auto_remove: bool) -> tuple[dict, RestartPolicy | None]:
    """Docker's container.UpdateContainer: the new HostConfig and the new policy (None: unchanged).

    Raises Conflict (409) for options that clash with what is already set, InvalidArgument for a
    bad restart policy or a merged config that cannot work."""
    cur = normalized(host)
    nano, period, quota = (_int(body, k) for k in CPU_QUOTA_FIELDS)
    if nano > 0 and int(cur.get("CpuPeriod") or 0) > 0:
        raise errdefs.Conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if nano > 0 and int(cur.get("CpuQuota") or 0) > 0:
        raise errdefs.Conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if period > 0 and int(cur.get("NanoCpus") or 0) > 0:
        raise errdefs.Conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if quota > 0 and int(cur.get("NanoCpus") or 0) > 0:
        raise errdefs.Conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    memory, swap = _int(body, "Memory"), _int(body, "MemorySwap")
    if memory != 0 and memory > int(cur.get("MemorySwap") or 0) and swap == 0:
        raise errdefs.Conflict("Memory limit should be smaller than already set memoryswap limit, "
                               "update the memoryswap at the same time")
    out = dict(cur)
    for key in MERGED_FIELDS:
        if body.get(key):
            out[key] = body[key]
    if body.get("PidsLimit") is not None:
        out["PidsLimit"] = body["PidsLimit"]
    policy = None
    wanted = body.get("RestartPolicy") or {}
    if wanted.get("Name"):
        policy = parse_restart_policy(wanted)
        if auto_remove and policy.name != "no":
            raise errdefs.Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        out["RestartPolicy"] = {"Name": policy.name, "MaximumRetryCount": policy.maximum_retry_count}
    _check_merged(out)
    return out, policy


def _check_merged(host: dict) -> None:
    """The merged config must still be one a container can start with (a swap limit alone, or a
    reservation above the new limit, would fail at the next start instead of now)."""
    memory, swap, reservation = (int(host.get(k) or 0) for k in MEMORY_FIELDS)
    if memory <= 0 and swap > 0:
        raise errdefs.InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if memory > 0 and swap > 0 and swap < memory:
        raise errdefs.InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise errdefs.InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")


def live_resources(body: dict, host: dict) -> dict:
    """OCI-style resources to write now: the controllers `body` touched, valued from the merged
    `host`; -1 means unlimited. Shares are clamped to the kernel's 2..262144 (as Docker does)."""
    res: dict = {}
    if any(body.get(k) for k in MEMORY_FIELDS):
        memory, swap = int(host.get("Memory") or 0), int(host.get("MemorySwap") or 0)
        mem: dict = {"limit": memory if memory > 0 else -1, "swap": swap if memory > 0 and swap else -1}
        if host.get("MemoryReservation"):
            mem["reservation"] = int(host["MemoryReservation"])
        res["memory"] = mem
    cpu: dict = {}
    if any(body.get(k) for k in CPU_QUOTA_FIELDS):
        nano = int(host.get("NanoCpus") or 0)
        if nano > 0:
            cpu["quota"], cpu["period"] = nano * CPU_PERIOD // 1_000_000_000, CPU_PERIOD
        else:
            cpu["quota"] = int(host.get("CpuQuota") or 0) or -1
            cpu["period"] = int(host.get("CpuPeriod") or 0) or CPU_PERIOD
    if body.get("CpuShares"):
        cpu["shares"] = min(max(int(body["CpuShares"]), 2), 262144)
    if body.get("CpusetCpus"):
        cpu["cpus"] = str(body["CpusetCpus"])
    if body.get("CpusetMems"):
        cpu["mems"] = str(body["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    if body.get("PidsLimit") is not None:
        res["pids"] = {"limit": int(body["PidsLimit"]) if int(body["PidsLimit"]) > 0 else -1}
    if body.get("BlkioWeight"):
        res["blockIO"] = {"weight": int(body["BlkioWeight"])}
    return res


def plan_update(host_config: dict, body: dict, *, host: Host) -> UpdatePlan:
    """The whole decision for one update request. Raises InvalidArgument (400) or Conflict (409)."""
    if not isinstance(body, dict):
        raise errdefs.InvalidArgument("update config must be a JSON object")
    warnings = check_request(body, host)
    new_host, policy = merge(host_config, body, auto_remove=bool(host_config.get("AutoRemove")))
    return UpdatePlan(new_host, live_resources(body, new_host), policy, warnings)


def spec_resources(old: dict, new: dict) -> dict:
    """linux.resources of the spec for the next start: the HostConfig-derived controllers from
    `new` (what create builds from the merged HostConfig), everything else (devices) from `old`."""
    out = {k: v for k, v in (old or {}).items() if k not in RESOURCE_KEYS}
    out.update({k: v for k, v in new.items() if k in RESOURCE_KEYS})
    return out


def updated_supervise(supervise: dict, plan: UpdatePlan) -> dict:
    """supervise.json after an update (pure): the spec's resources rebuilt from the merged
    HostConfig exactly as create builds them, and the new restart policy.

    Raises InvalidArgument when the merged HostConfig could not start a container."""
    from runtime.executor.spec import _resources  # create's HostConfig → linux.resources, shared on purpose
    out = copy.deepcopy(supervise)
    linux = out["spec"].setdefault("linux", {})
    linux["resources"] = spec_resources(linux.get("resources") or {}, _resources(plan.host_config))
    if plan.restart_policy is not None:
        out["restart_policy"] = {"name": plan.restart_policy.name,
                                 "maximum_retry_count": plan.restart_policy.maximum_retry_count}
    return out
