"""A container's cgroups are found where its processes are, not where the adopting supervisor
would have put them: a service manager may run each command in its own (v1 memory) cgroup, so
a supervisor restarted later computes other directories (runtime/executor/cgroups.py,
`where_members_are`). Found wrong, a re-adopted container's exec and healthcheck could not
join it ("No such file or directory")."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from runtime.executor import cgroups


def test_found_paths_follow_the_containers_processes():
    layout, _own = cgroups.host_layout()
    if "memory" not in layout.v1:
        pytest.skip("no cgroup v1 memory hierarchy here: every supervisor computes the same paths")
    name = f"sytest-adopt-{uuid.uuid4().hex[:8]}"
    started_under = cgroups.create(f"{name}/first/ctr", {}, device_rules=None)
    adopted_under = cgroups.container_dirs(f"{name}/second/ctr")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for path in started_under.join_files():
            with open(path, "w") as f:
                f.write(str(sleeper.pid))
        # The later supervisor's guess: the same unified (tracker) dir, another memory dir.
        guess = cgroups.CgroupHandle(started_under.mode, {**started_under.paths, "memory": adopted_under.paths["memory"]})
        found = cgroups.where_members_are(guess)
        assert found.paths["memory"] == started_under.paths["memory"]
        assert found.paths == started_under.paths
    finally:
        sleeper.kill()
        sleeper.wait()
        started_under.remove()
        for path in cgroups.container_dirs(f"{name}/first").paths.values():
            for directory in (path, os.path.dirname(path)):
                try:
                    os.rmdir(directory)
                except OSError:
                    pass
