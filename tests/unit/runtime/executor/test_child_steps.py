"""The container child's step order, checked on a recording fake kernel (no root needed)."""

from __future__ import annotations

import json

import pytest

from runtime.executor import child, syscalls as sc
from runtime.executor.plan import make_plan
from runtime.executor.spec import SpecContext, build_spec
from tests.unit.runtime.executor.recording import RecordingSyscalls

PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
GROUP = "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n"


def run_steps(create: dict, steps=None) -> tuple[RecordingSyscalls, child.State]:
    ctx = SpecContext(container_id="c" * 16, rootfs="/r", image_config={"Cmd": ["sh"]},
                      rootfs_mounts=[{"type": "overlay", "source": "overlay", "options": ["lowerdir=/l"]}],
                      hostname_path="/h", hosts_path="/hs", resolv_conf_path="/rc", netns_path=None)
    spec = build_spec({"Image": "x", **create}, ctx)
    plan = make_plan(spec, seccomp_bpf=b"\0" * 8, procs_files=["/cg/memory/cgroup.procs", "/cg/pids/cgroup.procs"])
    fake = RecordingSyscalls(dirs={"/r", "/r/dev", "/proc/acpi"}, mounts=set(),
                             files={"/etc/passwd": PASSWD, "/etc/group": GROUP, "/bin/sh": "", "/proc/kcore": ""})
    st = child.State(plan, fake, (0, 1, 2), None, None)
    for step in steps or child.INIT_STEPS:
        step(st)
    return fake, st


def test_init_steps_order_of_namespaces_mounts_and_pivot():
    fake, _ = run_steps({})
    names = fake.names()
    assert names[0] == "reset_signals"
    joined = fake.index(lambda c: c[0] == "write_file" and c[1].endswith("cgroup.procs"))
    unshare = fake.index(lambda c: c[0] == "unshare")
    assert joined < unshare  # the cgroup namespace root must be the container's cgroup
    assert fake.calls[unshare][1] & sc.CLONE_NEWCGROUP and fake.calls[unshare][1] & sc.CLONE_NEWNS
    overlay = fake.index(lambda c: c[0] == "mount" and c[3] == "overlay")
    first_other = fake.index(lambda c: c[0] == "mount" and c[2] not in ("/", "/r") and c[3] != "overlay")
    pivot = names.index("pivot_root")
    masks = [i for i, c in enumerate(fake.calls) if c[0] == "mount" and c[2] in ("/proc/kcore", "/proc/acpi")]
    assert overlay < first_other < pivot < min(masks)
    assert fake.calls[names.index("umount2")][1:] == (".", sc.MNT_DETACH)
    assert names[-1] == "close_range_cloexec"


def test_identity_is_dropped_in_the_safe_order():
    fake, st = run_steps({"User": "alice"})
    names = fake.names()
    drops = [i for i, c in enumerate(fake.calls) if c[0] == "prctl" and c[1] == sc.PR_CAPBSET_DROP]
    assert drops and max(drops) < names.index("setgroups") < names.index("setgid") < names.index("setuid")
    assert names.index("setuid") < names.index("capset")
    assert fake.calls[names.index("setuid")][1] == 1000
    assert fake.calls[names.index("setgroups")][1] == [1000, 50]
    assert fake.calls[names.index("capset")][1:] == (0, 0, 0)  # non-root: no effective/permitted caps
    # Without no_new_privs, seccomp goes in while CAP_SYS_ADMIN is still held.
    assert names.index("load_seccomp") < names.index("setuid")
    assert "HOME=/home/alice" in st.plan.env


def test_no_new_privs_before_a_late_seccomp():
    fake, _ = run_steps({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}})
    names = fake.names()
    nnp = fake.index(lambda c: c[0] == "prctl" and c[1] == sc.PR_SET_NO_NEW_PRIVS)
    assert names.index("capset") < nnp < names.index("load_seccomp") < names.index("close_range_cloexec")


def test_sysctls_before_proc_sys_turns_read_only():
    fake, _ = run_steps({"HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1"}}})
    write = fake.index(lambda c: c[0] == "write_file" and c[1] == "/proc/sys/net/ipv4/ip_forward")
    pivot = fake.names().index("pivot_root")
    assert pivot < write


def test_lookup_errors_use_dockers_texts():
    fake = RecordingSyscalls(files={"/bin/sh": ""})
    assert child.lookup(fake, "sh", ["PATH=/usr/bin:/bin"]) == "/bin/sh"
    with pytest.raises(child.ChildError, match=r'exec: "nosuch": executable file not found in \$PATH'):
        child.lookup(fake, "nosuch", ["PATH=/bin"])
    with pytest.raises(child.ChildError, match=r'exec: "/x/y": stat /x/y: no such file or directory'):
        child.lookup(fake, "/x/y", [])


def test_a_failing_step_reports_on_the_error_pipe_and_exits_127():
    fake, st = run_steps({}, steps=[])
    st.plan.user_field = "carol"
    child.run(st, [child.resolve_identity], err_w=9)
    assert fake.calls[-2][0] == "write" and fake.calls[-2][1] == 9
    payload = json.loads(fake.calls[-2][2])
    assert payload == {"category": "InvalidArgument", "message": "unable to find user carol: no matching entries in passwd file"}
    assert fake.calls[-1] == ("exit", 127)


class _InitExits(Exception):
    pass


class _InitKernel(RecordingSyscalls):
    """The builtin init's view: fork returns `child`; the command exits at the first SIGCHLD."""

    def __init__(self, child_pid: int) -> None:
        super().__init__()
        self.child_pid = child_pid

    def fork(self):
        self.calls.append(("fork",))
        return self.child_pid

    def sigwait(self, sigs):
        self.calls.append(("sigwait",))
        return 17  # SIGCHLD

    def reap_one(self):
        return (self.child_pid, 3)

    def exit(self, code):
        self.calls.append(("exit", code))
        raise _InitExits


def _init_state(kernel) -> child.State:
    fake, st = run_steps({"HostConfig": {"Init": True}}, steps=[])
    st.sys = kernel
    return st


def test_builtin_init_blocks_signals_before_forking_then_closes_fds_and_turns_undumpable():
    kernel = _InitKernel(child_pid=42)
    with pytest.raises(_InitExits):
        child.builtin_init(_init_state(kernel), err_w=9)
    names = kernel.names()
    # A stop signal between fork and the signal setup would kill PID 1 before anything is forwarded.
    assert names.index("block_signals") < names.index("fork")
    dumpable = kernel.index(lambda c: c[0] == "prctl" and c[1:] == (sc.PR_SET_DUMPABLE, 0))
    closed = kernel.index(lambda c: c[0] == "close_from" and c[1] == 3)
    assert names.index("fork") < dumpable < names.index("sigwait")
    assert names.index("fork") < closed < names.index("sigwait")
    assert "close_range_cloexec" not in names  # marking CLOEXEC means nothing to a process that never execs
    assert kernel.calls[-1] == ("exit", 3)


def test_builtin_init_command_side_unblocks_and_keeps_the_supervisor_fds_for_exec():
    kernel = _InitKernel(child_pid=0)
    child.builtin_init(_init_state(kernel), err_w=9)  # returns: the command goes on to execve
    names = kernel.names()
    assert names.index("block_signals") < names.index("fork") < names.index("unblock_all_signals")
    assert "close_from" not in names and "sigwait" not in names
