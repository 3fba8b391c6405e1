"""A private `dockerd` for integration tests, and the busybox image they run.

Used by tests/integration/conftest.py (the `dockerd` and `busybox_image` fixtures). The daemon
gets its own data root, exec root, pid file, Unix socket and containerd namespace in one temp
dir, no iptables and no default bridge, so it never touches the host's docker. `stop()` leaves
nothing behind: containers, networks and volumes are removed, the daemon is stopped by PID,
any process still running from the temp dir (its containerd, shims) is killed by PID, leftover
mounts under the dir are lazily unmounted and the dir is deleted.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from orchestrator.engine import EngineClient
from runtime import errdefs

BUSYBOX = "/bin/busybox"
BUSYBOX_IMAGE = "sytest/busybox:1"
# Applets every test image needs, whatever `busybox --list` says.
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "true", "false", "httpd", "nc", "wget", "env", "id",
           "hostname", "test", "mkdir", "rm", "touch", "printf", "seq", "head", "tail", "grep")


def missing_requirement() -> str | None:
    """Why a private dockerd cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to run a private dockerd"
    for tool in ("dockerd", "containerd", "runc"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian package docker.io)"
    if not os.access(BUSYBOX, os.X_OK):
        return f"needs {BUSYBOX} (Debian package busybox-static)"
    return None


class PrivateDockerd:
    """One dockerd process with everything under `root`; `host` is its DOCKER_HOST."""

    def __init__(self, *, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = tuple(extra_args)
        # Short path: the socket (and containerd's under exec/) must fit in sun_path (108 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="sy-dockerd-", dir="/tmp"))
        self.socket = str(self.root / "docker.sock")
        self.host = f"unix://{self.socket}"
        self.log_path = self.root / "dockerd.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the daemon and wait until it answers `/_ping`.

        Raises:
            RuntimeError: it exited or did not answer in time (with the end of its log).
        """
        r = self.root
        argv = ["dockerd", "--data-root", f"{r}/data", "--exec-root", f"{r}/exec", "--pidfile", f"{r}/pid",
                "-H", self.host, "--iptables=false", "--ip-masq=false", "--bridge=none",
                "--containerd-namespace", "sytest", "--containerd-plugins-namespace", "sytest-plugins",
                *self.extra_args]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(r)}
        with open(self.log_path, "ab") as log:
            # Own session: a Ctrl-C in the terminal reaches pytest, whose teardown stops us in order.
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        with EngineClient(self.host, version="1.41", timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.ping() == "OK":
                        return
                except errdefs.StackyardError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dockerd did not answer /_ping within {timeout:.0f}s:\n{self.log_tail()}")
                time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Remove what the tests made, stop the daemon, and delete every trace of it."""
        try:
            if self.process is not None and self.process.poll() is None:
                self._remove_objects()
        finally:
            try:
                self._stop_process()
            finally:
                self._kill_leftover_processes()
                self._unmount_leftovers()
                shutil.rmtree(self.root, ignore_errors=True)

    def _remove_objects(self) -> None:
        with EngineClient(self.host, timeout=30.0) as client:
            for container in _safe(lambda: client.list_containers(all=True)):
                _safe(lambda: client.remove_container(container["Id"], force=True, volumes=True))
            for network in _safe(lambda: client.list_networks()):
                if network.get("Name") not in ("bridge", "host", "none"):
                    _safe(lambda: client.remove_network(network["Id"]))
            for volume in _safe(lambda: client.list_volumes()):
                _safe(lambda: client.remove_volume(volume["Name"], force=True))

    def _stop_process(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def _kill_leftover_processes(self) -> None:
        """Kill, by PID, processes still running from our dir (dockerd's containerd, shims)."""
        marker = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _unmount_leftovers(self) -> None:
        for point in sorted(mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or under `root`, from /proc/self/mountinfo."""
    prefix = str(root)
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _safe(call):
    """Best-effort cleanup step: the daemon may already be gone or the object in use."""
    try:
        return call() or []
    except errdefs.StackyardError:
        return []


def make_tls_certs(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (docker's file names).

    Raises:
        subprocess.CalledProcessError: openssl failed.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=sytest-ca")
    for name, usage in (("server", "serverAuth"), ("cert", "clientAuth")):
        key = "key.pem" if name == "cert" else f"{name}-key.pem"
        (directory / f"{name}.ext").write_text(f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", f"{name}.csr",
                "-subj", f"/CN=sytest-{name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return directory


def busybox_rootfs_tar() -> bytes:
    """A tarball of a minimal root filesystem: busybox, its applets as symlinks, /etc/passwd."""
    listed = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=False).stdout.split()
    applets = sorted(set(APPLETS) | {a for a in listed if a and "/" not in a and a != "busybox"})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "etc", "tmp", "www", "data", "proc", "sys", "dev"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
                           ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
                           ("www/index.html", "sytest\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def import_busybox(host: str, ref: str = BUSYBOX_IMAGE) -> str:
    """Import the busybox rootfs as `ref` (never pulls) and return `ref`."""
    repo, _, tag = ref.rpartition(":")
    with EngineClient(host) as client:
        for _progress in client.import_image(busybox_rootfs_tar(), repo=repo, tag=tag):
            pass
        client.inspect_image(ref)
    return ref
