"""The container joins its cgroup on every hierarchy, however it got there: started inside its
cgroup2 dir by clone3 (runtime/executor/clone.py) and moved by `tasks` on v1, or, where clone3
is unavailable, by writing cgroup.procs. Checked from the host's /proc/<pid>/cgroup and
from each cgroup's own cgroup.procs."""

from __future__ import annotations

import os

import pytest

from runtime.executor import cgroups, clone


def _host_cgroups(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in (ctrls.split(",") if ctrls else [cgroups.UNIFIED]):
                out[c] = path
    return out


def _check_membership(started) -> None:
    where = _host_cgroups(started.pid)
    for ctrl, path in started.cgroup.paths.items():
        assert where[ctrl].endswith(os.path.basename(path)), (ctrl, where)
        with open(os.path.join(path, "cgroup.procs")) as f:
            assert str(started.pid) in f.read().split()


@pytest.mark.parametrize("use_clone3", [True, False])
def test_container_is_in_its_cgroups_on_every_hierarchy(native, monkeypatch, use_clone3):
    if not use_clone3:
        monkeypatch.setitem(clone._state, "unsupported", True)
    started, _spec, overlay = native.start({"Cmd": ["sleep", "30"]})
    try:
        _check_membership(started)
    finally:
        native.release(started)


def test_fork_into_places_the_child(tmp_path):
    layout, own = cgroups.host_layout()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    handle = cgroups.create("stackyard/test-fork-into", {}, device_rules=None)
    try:
        r, w = os.pipe()
        pid, placed = clone.fork_into(handle.unified_dir())
        if pid == 0:
            try:
                os.write(w, open("/proc/self/cgroup").read().encode())
            finally:
                os._exit(0)
        os.close(w)
        text = os.read(r, 65536).decode()
        os.close(r)
        os.waitpid(pid, 0)
        if not placed:
            pytest.skip("clone3 with CLONE_INTO_CGROUP is not available here")
        assert any(line.startswith("0::") and line.endswith("/test-fork-into") for line in text.splitlines()), text
    finally:
        handle.remove()

