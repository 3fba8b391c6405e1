"""Exec helpers for the manager: the OCI process of an exec, and running one to completion.

`exec_process` is pure; the executor resolves a user name inside the container.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import struct
from typing import Iterator

from runtime import errdefs


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in base)
    for e in extra:
        key, _, value = e.partition("=")
        env[key] = value
    return [f"{k}={v}" for k, v in env.items()]


def exec_process(spec: dict, record: dict) -> dict:
    """The container's process with the exec's args, env, cwd, user and terminal."""
    process = dict(spec["process"])
    process["args"] = list(record["Cmd"])
    process["env"] = _merge_env(process.get("env") or [], record.get("Env") or [])
    process["terminal"] = bool(record.get("Tty"))
    if record.get("WorkingDir"):
        process["cwd"] = record["WorkingDir"]
    if record.get("User"):
        # The executor resolves the name in the container's own /etc/passwd.
        process["user"] = {"username": record["User"]}
    return process


TIOCGPTPEER = 0x5441  # _IO("T", 0x41)
TIOCSPTLCK = 0x40045431  # _IOW("T", 0x31, int): unlockpt


def open_pty_in(init_pid: int) -> tuple[int, int]:
    """A pty pair in the container's own devpts (so `tty` inside names /dev/pts/N, as in Docker).

    Opened from the host through /proc/<pid>/root; the peer comes from TIOCGPTPEER, which
    needs no path lookup in the container. Raises Conflict when the container is gone.
    """
    try:
        master = os.open(f"/proc/{init_pid}/root/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise errdefs.Conflict(f"cannot allocate a terminal in container process {init_pid}: {exc.strerror}") from exc
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(master)
        raise errdefs.from_oserror(exc, f"pty in container process {init_pid}") from exc
    return master, slave


def run_and_collect(manager, exec_id: str, tty: bool) -> Iterator[tuple[str, bytes]]:
    """Starts exec `exec_id` with fresh pipes (or a pty) and yields its output until EOF."""
    if tty:
        master, slave = manager.exec_pty(exec_id)
        try:
            manager.exec_start(exec_id, tty_fd=slave)
        finally:
            os.close(slave)
        readers = {master: "stdout"}
    else:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            manager.exec_start(exec_id, stdout_fd=out_w, stderr_fd=err_w)
        except errdefs.StackyardError:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        readers = {out_r: "stdout", err_r: "stderr"}
    sel = selectors.DefaultSelector()
    for fd in readers:
        sel.register(fd, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                try:
                    data = os.read(key.fd, 65536)
                except OSError:  # EIO: the pty's last user closed it
                    data = b""
                if data:
                    yield readers[key.fd], data
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
        for fd in readers:
            os.close(fd)
    manager.exec_wait(exec_id)
