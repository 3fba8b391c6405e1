"""Volume copy-up (runtime/executor/copyup.py) on real files: every kind of entry recreated as
what it is, metadata kept, and nothing in the destination ever followed."""

from __future__ import annotations

import os
import signal
import stat

import pytest

from runtime.executor.copyup import copy_tree


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("needs root (mknod, chown)")


def _alarm(seconds: int):
    def fail(*_):
        raise TimeoutError("copy_tree blocked (opened a device or a fifo?)")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    return previous


def _image(tmp_path):
    src = tmp_path / "image"
    (src / "sub" / "deeper").mkdir(parents=True)
    data = src / "data"
    data.write_bytes(b"payload" * 1000)
    os.chown(data, 1234, 5678)
    os.chmod(data, 0o4750)
    os.utime(data, ns=(1_000_000_000, 2_000_000_000))
    os.setxattr(data, "user.origin", b"image")
    os.link(data, src / "sub" / "hardlink")
    (src / "sub" / "deeper" / "f").write_text("deep")
    os.chmod(src / "sub", 0o711)
    os.mknod(src / "zero", 0o620 | stat.S_IFCHR, os.makedev(1, 5))  # reading it never ends
    os.chmod(src / "zero", 0o620)
    os.mkfifo(src / "pipe", 0o640)                                  # opening it blocks
    os.symlink("/etc/passwd", src / "abs-link")                     # stays a link, never followed
    (src / "evil").write_text("from the image")
    (src / "evildir").mkdir()
    (src / "evildir" / "planted").write_text("from the image")
    return src


def test_copy_recreates_devices_fifos_links_and_keeps_metadata(tmp_path, root_only):
    src = _image(tmp_path)
    dst = tmp_path / "volume"
    dst.mkdir()
    previous = _alarm(10)
    try:
        copy_tree(str(src), str(dst))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    d = os.lstat(dst / "data")
    assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode), d.st_mtime_ns) == (1234, 5678, 0o4750, 2_000_000_000)
    assert (dst / "data").read_bytes() == b"payload" * 1000
    assert os.getxattr(dst / "data", "user.origin") == b"image"
    assert os.lstat(dst / "sub" / "hardlink").st_ino == d.st_ino  # still one file
    assert stat.S_IMODE(os.lstat(dst / "sub").st_mode) == 0o711
    assert (dst / "sub" / "deeper" / "f").read_text() == "deep"
    z = os.lstat(dst / "zero")
    assert stat.S_ISCHR(z.st_mode) and z.st_rdev == os.makedev(1, 5) and stat.S_IMODE(z.st_mode) == 0o620
    p = os.lstat(dst / "pipe")
    assert stat.S_ISFIFO(p.st_mode) and stat.S_IMODE(p.st_mode) == 0o640
    assert os.readlink(dst / "abs-link") == "/etc/passwd"


def test_symlinks_planted_in_the_volume_are_never_followed(tmp_path, root_only):
    src = _image(tmp_path)
    dst = tmp_path / "volume"
    dst.mkdir()
    canary = tmp_path / "host-file"
    canary.write_text("host secret")
    canary_dir = tmp_path / "host-dir"
    canary_dir.mkdir()
    # Another container sharing the volume redirects names the copy is about to create.
    os.symlink(canary, dst / "evil")
    os.symlink(canary_dir, dst / "evildir")
    copy_tree(str(src), str(dst))
    assert canary.read_text() == "host secret"
    assert os.listdir(canary_dir) == []
    assert os.readlink(dst / "evil") == str(canary)  # left as it was, not replaced
    assert (dst / "data").read_bytes() == b"payload" * 1000  # the rest was still copied
