import os

from runtime.executor import cgroups


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return fh.read().split()


def test_cycles_leave_no_fd_cgroup_file_or_process_behind(env):
    m = env.manager
    sup = env.pids[0]
    warm = env.run(["sleep", "60"])
    assert cgroups.find(f"stackyard/{warm}") is not None  # the check below can see a cgroup
    m.remove(warm, force=True)
    fds = fd_count(sup)
    ids = []
    for i in range(30):
        with_exec = i % 5 == 0
        cid = env.run(["sh", "-c", "echo hi; sleep %s" % ("30" if with_exec else "0.01")], Tty=(i % 3 == 0))
        ids.append(cid)
        if with_exec:
            exec_id = m.exec_create(cid, {"Cmd": ["true"]})
            list(m.exec_run(exec_id))
            m.kill(cid)
        m.wait(cid)
        m.remove(cid, volumes=True)
    assert fd_count(sup) == fds
    assert children(sup) == []
    assert all(cgroups.find(f"stackyard/{cid}") is None for cid in ids)
    assert os.listdir(os.path.join(env.root, "containers")) in ([], [".lock"])
    assert os.listdir(os.path.join(env.run_root, "containers")) == []
    assert os.listdir(os.path.join(env.base, "snapshots")) == []
    assert os.listdir(m.exec_dir) == []
