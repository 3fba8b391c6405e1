"""Test helper: the parent side of a container run (what the supervisor does), for executor tests.

`Runner` builds the spec from an Engine API create body over an overlay of the busybox rootfs,
starts it through an executor with stdout/stderr to files, waits, and cleans every cgroup, mount
and temp dir even on failure. Sets PR_SET_CHILD_SUBREAPER on the test process (pitfall 4).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from runtime.executor.spec import SpecContext, build_spec
from tests.integration.runtime.rootfs import Overlay, cached_busybox_rootfs

PR_SET_CHILD_SUBREAPER = 36
# Our own parent under stackyard/, so leak checks never see other tests' containers.
TEST_PARENT = f"stackyard/sytest-{os.getpid()}"


def become_subreaper() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    oom_killed: bool
    seconds: float


class Runner:
    def __init__(self, executor, base: Path | None = None) -> None:
        become_subreaper()
        self.executor = executor
        self.base = Path(base or tempfile.mkdtemp(prefix="sy-exec-"))
        self.lower = cached_busybox_rootfs()
        self.live: list = []  # (started, spec, overlay)
        self.volumes: dict[str, str] = {}

    def volume(self, name: str) -> str:
        path = self.base / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        self.volumes[name] = str(path)
        return str(path)

    def spec(self, create: dict, *, image_config: dict | None = None, netns_path=None, **ctx_kw) -> tuple[dict, Overlay]:
        cid = "t" + uuid.uuid4().hex[:15]
        cdir = self.base / cid
        overlay = Overlay(self.lower, cdir)
        files = {}
        # /etc/hostname holds the container's hostname, as the container manager writes it.
        for name, text in (("hostname", (create.get("Hostname") or cid[:12]) + "\n"), ("hosts", "127.0.0.1 localhost\n"),
                           ("resolv.conf", "nameserver 127.0.0.53\n")):
            (cdir / name).write_text(text)
            files[name] = str(cdir / name)
        ctx = SpecContext(container_id=cid, rootfs=str(overlay.target), rootfs_mounts=overlay.mounts(),
                          image_config=image_config or {"Cmd": ["sh"]}, hostname_path=files["hostname"],
                          hosts_path=files["hosts"], resolv_conf_path=files["resolv.conf"], netns_path=netns_path,
                          volume_sources=self.volumes, cgroup_parent=TEST_PARENT, **ctx_kw)
        create = {"Image": "busybox", **create}
        return build_spec(create, ctx), overlay

    def start(self, create: dict, *, stdin=None, tty_fd=None, **kw):
        spec, overlay = self.spec(create, **kw)
        out = open(overlay.base / "stdout", "w+b")
        err = open(overlay.base / "stderr", "w+b")
        null = os.open("/dev/null", os.O_RDONLY)
        try:
            started = self.executor.start(spec, stdin=stdin if stdin is not None else null, stdout=out.fileno(),
                                          stderr=err.fileno(), tty_fd=tty_fd)
        except BaseException:
            overlay.remove()
            raise
        finally:
            os.close(null)
            out.close()
            err.close()
        self.live.append((started, spec, overlay))
        return started, spec, overlay

    def wait(self, started, overlay, timeout: float = 30.0) -> Result:
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            pid, status = os.waitpid(started.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(started.pid, signal.SIGKILL)
                os.waitpid(started.pid, 0)
                raise TimeoutError("container did not exit")
            time.sleep(0.002)
        seconds = time.monotonic() - t0
        return Result(os.waitstatus_to_exitcode(status), (overlay.base / "stdout").read_text(errors="replace"),
                      (overlay.base / "stderr").read_text(errors="replace"), started.cgroup.oom_killed(), seconds)

    def run(self, create: dict, timeout: float = 30.0, **kw) -> Result:
        started, spec, overlay = self.start(create, **kw)
        try:
            return self.wait(started, overlay, timeout)
        finally:
            self.release(started)

    def release(self, started) -> None:
        for item in list(self.live):
            if item[0] is started:
                self.live.remove(item)
                s, spec, overlay = item
                try:
                    try:
                        os.kill(s.pid, signal.SIGKILL)
                        os.waitpid(s.pid, 0)
                    except (ProcessLookupError, ChildProcessError):
                        pass
                    self.executor.cleanup(spec, s.cgroup)
                    _reap()
                finally:
                    overlay.remove()

    def close(self) -> None:
        for item in list(self.live):
            self.release(item[0])
        _reap()
        shutil.rmtree(self.base, ignore_errors=True)
        remove_test_cgroups()


def remove_test_cgroups() -> None:
    """rmdir our test parent wherever an executor put it (nested like native/runc, absolute like crun)."""
    from runtime.executor.cgroups import container_dirs
    paths = set(container_dirs(TEST_PARENT).paths.values())
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] in (["cgroup"], ["cgroup2"]):
                paths.add(os.path.join(left.split()[4], TEST_PARENT))
    for path in paths:
        try:
            os.rmdir(path)
        except OSError:
            pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
