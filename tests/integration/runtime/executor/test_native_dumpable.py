"""Pitfall 5 (CVE-2019-5736 class): a host-side Python process that sits in a container's PID
namespace before its execve (an exec, or a start joining PidMode container:x) must not let the
container open /proc/<pid>/exe. The window is made long on purpose: the command does not exist
and PATH has 200,000 entries, so the helper spends most of a second in its PATH lookup, after it
dropped to the container's capabilities (before that, the capability check alone hides it).
A scanner in the container reports every Python it sees as EXPOSED (exe readable) or HIDDEN."""

from __future__ import annotations

import time

import pytest

from runtime import errdefs

SCANNER = ("echo ready; while :; do for p in /proc/[0-9]*; do "
           "grep -q '^Name:.*python' $p/status 2>/dev/null || continue; "
           "if readlink $p/exe >/dev/null 2>&1; then echo EXPOSED ${p#/proc/}; else echo HIDDEN ${p#/proc/}; fi; "
           "done; done")
SLOW_PATH = "PATH=" + ":".join(["/n"] * 200_000)


def _scanner(native):
    started, spec, overlay = native.start({"Cmd": ["sh", "-c", SCANNER]})
    deadline = time.monotonic() + 5
    while "ready" not in (overlay.base / "stdout").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    return started, spec, overlay


def _verdicts(overlay) -> set[str]:
    time.sleep(0.1)
    return {line.split()[0] for line in (overlay.base / "stdout").read_text().splitlines()[1:] if line.strip()}


def test_exec_helper_exe_is_not_readable_from_the_container(native):
    started, spec, overlay = _scanner(native)
    try:
        with pytest.raises(errdefs.NotFound):
            native.executor.exec(started.pid, started.cgroup, {"args": ["no-such-command"], "env": [SLOW_PATH],
                                                               "cwd": "/"},
                                 stdin=0, stdout=1, stderr=2, spec=spec)
        verdicts = _verdicts(overlay)
        assert "HIDDEN" in verdicts  # the scanner did see the helper during its lookup
        assert "EXPOSED" not in verdicts
    finally:
        native.release(started)


def test_start_joining_a_pid_namespace_hides_its_exe(native):
    started, spec, overlay = _scanner(native)
    try:
        with pytest.raises(errdefs.NotFound):
            native.start({"Cmd": ["no-such-command"], "Env": [SLOW_PATH],
                          "HostConfig": {"PidMode": "container:scanner"}},
                         pid_ns_path=f"/proc/{started.pid}/ns/pid")
        verdicts = _verdicts(overlay)
        assert "HIDDEN" in verdicts
        assert "EXPOSED" not in verdicts
    finally:
        native.release(started)
