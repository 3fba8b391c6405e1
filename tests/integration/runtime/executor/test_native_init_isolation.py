"""Our builtin init (`init: true`, no tini) as the container sees it: no fd of the supervisor's,
/proc/1/exe closed, the command's signal mask empty. (Signals blocked before the init forks:
tests/unit/runtime/executor/test_child_steps.py, the window is too narrow to hit reliably.)"""

from __future__ import annotations

import os
import socket
import time

INIT = {"Init": True}
SHOW = ("echo fds: $(ls /proc/1/fd | tr '\\n' ' '); "
        "readlink /proc/1/exe && echo EXE-LINK-READ; "
        "head -c 4 /proc/1/exe >/dev/null 2>&1 && echo EXE-OPENED; "
        "ls -l /proc/1/fd/ 2>/dev/null | grep -q 'pid:' && echo HOST-PIDNS-FD; "
        "true")


def test_builtin_init_holds_only_stdio_and_hides_its_exe(native):
    # fds the supervisor would hold (a log pipe, a listening socket), inheritable on purpose
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_r, True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        started, spec, overlay = native.start({"Cmd": ["sh", "-c", SHOW + "; sleep 30"], "HostConfig": INIT},
                                              init_path=None)
        try:
            deadline = time.monotonic() + 5
            while "fds:" not in (overlay.base / "stdout").read_text() and time.monotonic() < deadline:
                time.sleep(0.01)
            # From the host: what the init really holds (only the container's stdio).
            assert sorted(os.listdir(f"/proc/{started.pid}/fd"), key=int) == ["0", "1", "2"]
            out = (overlay.base / "stdout").read_text()
            assert "fds: 0 1 2\n" in out
            assert "EXE-LINK-READ" not in out and "EXE-OPENED" not in out and "HOST-PIDNS-FD" not in out
        finally:
            native.release(started)
    finally:
        os.close(leak_r)
        os.close(leak_w)
        sock.close()


def test_builtin_init_command_starts_with_no_blocked_signal(native):
    r = native.run({"Cmd": ["sh", "-c", "grep SigBlk /proc/self/status"], "HostConfig": INIT}, init_path=None)
    assert r.status == 0
    assert r.stdout.split() == ["SigBlk:", "0000000000000000"]

