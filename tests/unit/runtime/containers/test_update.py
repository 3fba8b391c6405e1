"""update.plan_update (docker update's decisions) and resources.plan_writes (what gets written, in
which order), without a kernel: Docker's texts, the merge rule, -1 as unlimited, write order."""

import pytest

from runtime import errdefs
from runtime.containers.update import Host, parse_cpuset, plan_update, spec_resources
from runtime.executor.cgroups import CgroupHandle
from runtime.executor.resources import NO_SWAP, plan_writes

HOST = Host(ncpu=2, cpus=frozenset({0, 1}), mems=frozenset({0}), cpus_text="0-1", mems_text="0")
MB = 1024 * 1024


def plan(body, host_config=None):
    return plan_update(host_config or {}, body, host=HOST)


@pytest.mark.parametrize("body, message", [
    ({"Memory": 4 * MB}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -5}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"MemoryReservation": MB}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": -1, "MemoryReservation": 128 * MB},
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    ({"NanoCpus": 500_000_000, "CpuPeriod": 50_000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 500_000_000, "CpuQuota": 50_000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": 3_000_000_000}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    ({"CpuPeriod": 500}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuQuota": 999}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "0-x"}, "Invalid value 0-x for cpuset cpus"),
    ({"CpusetCpus": "0-3"}, "Requested CPUs are not available - requested 0-3, available: 0-1"),
    ({"CpusetMems": "1"}, "Requested memory nodes are not available - requested 1, available: 0"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
])
def test_plan_update_refuses_bad_values_with_dockers_text(body, message):
    with pytest.raises(errdefs.InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(body)


@pytest.mark.parametrize("body, current, message", [
    ({"NanoCpus": 500_000_000}, {"CpuQuota": 50_000}, "Nano CPUs cannot be updated as CPU Quota has already been set"),
    ({"CpuPeriod": 50_000}, {"NanoCpus": 10 ** 9}, "CPU Period cannot be updated as NanoCPUs has already been set"),
    ({"Memory": 300 * MB}, {"Memory": 100 * MB}, "Memory limit should be smaller than already set memoryswap limit"),
    ({"Memory": 64 * MB}, {}, "update the memoryswap at the same time"),
    ({"RestartPolicy": {"Name": "always"}}, {"AutoRemove": True},
     "Restart policy cannot be updated because AutoRemove is enabled for the container"),
])
def test_plan_update_conflicts_with_what_is_set_are_409(body, current, message):
    with pytest.raises(errdefs.Conflict, match=message):
        plan(body, current)


def test_plan_update_zero_keeps_old_values_and_merges_new_ones():
    p = plan({"Memory": 64 * MB, "MemorySwap": 128 * MB, "NanoCpus": 500_000_000, "PidsLimit": 50, "CpuShares": 0},
             {"CpuShares": 512, "CpusetCpus": "0", "Binds": ["/a:/b"]})
    host = p.host_config
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (64 * MB, 128 * MB, 5 * 10 ** 8, 50)
    assert (host["CpuShares"], host["CpusetCpus"], host["Binds"]) == (512, "0", ["/a:/b"])
    assert p.live == {"memory": {"limit": 64 * MB, "swap": 128 * MB}, "cpu": {"quota": 50_000, "period": 100_000},
                      "pids": {"limit": 50}}
    assert p.restart_policy is None and p.warnings == []


def test_plan_update_memory_alone_fits_under_create_time_swap():
    # Created with -m 100m: Docker stored MemorySwap 200m, so -m 150m alone is fine.
    p = plan({"Memory": 150 * MB}, {"Memory": 100 * MB})
    assert (p.host_config["Memory"], p.host_config["MemorySwap"]) == (150 * MB, 200 * MB)
    assert p.live["memory"] == {"limit": 150 * MB, "swap": 200 * MB}


def test_plan_update_minus_one_means_unlimited_live():
    p = plan({"PidsLimit": -1, "Memory": 64 * MB, "MemorySwap": -1}, {"PidsLimit": 50})
    assert p.live == {"pids": {"limit": -1}, "memory": {"limit": 64 * MB, "swap": -1}}


def test_plan_update_restart_policy_and_kernel_memory_warning():
    p = plan({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "KernelMemory": 50 * MB})
    assert (p.restart_policy.name, p.restart_policy.maximum_retry_count) == ("on-failure", 3)
    assert p.host_config["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert "KernelMemory" not in p.host_config and p.live == {}
    assert p.warnings and "kernel memory limit" in p.warnings[0]


def test_parse_cpuset():
    assert parse_cpuset("0-2,5") == {0, 1, 2, 5}
    assert parse_cpuset("2-1") is None and parse_cpuset("a") is None and parse_cpuset("") is None


def test_spec_resources_replaces_host_controllers_keeps_devices():
    old = {"devices": [{"allow": False}], "memory": {"limit": 1}, "pids": {"limit": 5}}
    assert spec_resources(old, {"memory": {"limit": 2, "swap": 4}}) == {"devices": [{"allow": False}],
                                                                        "memory": {"limit": 2, "swap": 4}}


def _fake_fs(files):
    return dict(exists=lambda p: p in files, read=lambda p: files[p])


def test_plan_writes_v1_raises_swap_first_when_growing():
    h = CgroupHandle("hybrid", {"memory": "/m", "pids": "/p", "cpu": "/c"})
    files = {"/m/memory.limit_in_bytes": "67108864\n", "/m/memory.memsw.limit_in_bytes": "", "/p/pids.max": "",
             "/c/cpu.cfs_quota_us": "", "/c/cpu.cfs_period_us": ""}
    writes, warnings = plan_writes(h, {"memory": {"limit": 256 * MB, "swap": 512 * MB}, "pids": {"limit": -1},
                                       "cpu": {"quota": 50_000, "period": 100_000}}, **_fake_fs(files))
    assert writes == [("/m/memory.memsw.limit_in_bytes", str(512 * MB)), ("/m/memory.limit_in_bytes", str(256 * MB)),
                      ("/c/cpu.cfs_period_us", "100000"), ("/c/cpu.cfs_quota_us", "50000"), ("/p/pids.max", "max")]
    assert warnings == []


def test_plan_writes_v1_lowers_memory_first_and_warns_without_swap_accounting():
    h = CgroupHandle("hybrid", {"memory": "/m"})
    files = {"/m/memory.limit_in_bytes": str(512 * MB), "/m/memory.memsw.limit_in_bytes": ""}
    writes, _ = plan_writes(h, {"memory": {"limit": 64 * MB, "swap": 128 * MB}}, **_fake_fs(files))
    assert [w[0] for w in writes] == ["/m/memory.limit_in_bytes", "/m/memory.memsw.limit_in_bytes"]
    del files["/m/memory.memsw.limit_in_bytes"]
    writes, warnings = plan_writes(h, {"memory": {"limit": 64 * MB, "swap": 128 * MB}}, **_fake_fs(files))
    assert writes == [("/m/memory.limit_in_bytes", str(64 * MB))] and warnings == [NO_SWAP]


def test_plan_writes_v2_files_and_missing_controller():
    h = CgroupHandle("v2", {"unified": "/u"})
    names = ["memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "memory.low"]
    files = {f"/u/{n}": "" for n in names}
    writes, _ = plan_writes(h, {"memory": {"limit": 64 * MB, "swap": 128 * MB, "reservation": 32 * MB},
                                "cpu": {"quota": 50_000, "period": 100_000, "shares": 1024},
                                "pids": {"limit": 50}}, **_fake_fs(files))
    assert dict(writes) == {"/u/memory.max": str(64 * MB), "/u/memory.swap.max": str(64 * MB),
                            "/u/memory.low": str(32 * MB), "/u/cpu.max": "50000 100000",
                            "/u/cpu.weight": "39", "/u/pids.max": "50"}
    del files["/u/pids.max"]
    with pytest.raises(errdefs.FailedPrecondition, match="pids.max"):
        plan_writes(h, {"pids": {"limit": 50}}, **_fake_fs(files))


def test_updated_supervise_rebuilds_spec_resources_and_policy_without_touching_the_input():
    from runtime.containers.update import updated_supervise
    supervise = {"spec": {"linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}],
                                                  "pids": {"limit": 10}}}},
                 "restart_policy": {"name": "no", "maximum_retry_count": 0}}
    p = plan({"Memory": 64 * MB, "MemorySwap": -1, "PidsLimit": -1, "RestartPolicy": {"Name": "always"}},
             {"PidsLimit": 10})
    out = updated_supervise(supervise, p)
    assert out["spec"]["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}],
                                                 "memory": {"limit": 64 * MB, "swap": -1}}
    assert out["restart_policy"] == {"name": "always", "maximum_retry_count": 0}
    assert supervise["spec"]["linux"]["resources"]["pids"] == {"limit": 10}  # a copy, not an edit
