"""`docker cp` file-system logic: Go file modes, RFC 3339 times, tar naming, resolution that
stays inside the root, and extraction safety (on a temp dir standing for a container root)."""

import io
import os
import stat
import tarfile

import pytest

from runtime import errdefs
from runtime.containers import archive


def test_go_file_mode_bits():
    assert archive.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert archive.go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert archive.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert archive.go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert archive.go_file_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == (1 << 31) | (1 << 20) | 0o777


def test_rfc3339_like_go():
    assert archive.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert archive.rfc3339(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"


@pytest.mark.parametrize("path,name", [("/etc/hosts", "hosts"), ("/etc", "etc"), ("/etc/", "etc"),
                                       ("/etc/.", "."), ("/", "."), ("etc/../var/log", "log")])
def test_rebase_name(path, name):
    assert archive.rebase_name(path) == name


def test_link_target_is_absolute_in_container():
    assert archive.link_target("/a/b/link", "../c") == "/a/c"
    assert archive.link_target("/a/link", "/x/y") == "/x/y"
    assert archive.link_target("/link", "../../..") == "/"


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc" / "sub").mkdir(parents=True)
    (r / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    os.chmod(r / "etc" / "hosts", 0o640)
    (r / "etc" / "sub" / "deep").write_bytes(b"x" * 70000)
    os.symlink("hosts", r / "etc" / "link")
    os.symlink("../../..", r / "escape")
    os.symlink("/", r / "toroot")
    (tmp_path / "canary").write_text("host")
    fd = os.open(r, os.O_RDONLY | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def _tar(root_fd, path):
    return tarfile.open(fileobj=io.BytesIO(b"".join(archive.iter_archive(root_fd, path))))


def test_stat_file_dir_symlink_and_missing(root):
    r, fd = root
    hosts = archive.path_stat(fd, "/etc/hosts")
    assert hosts["name"] == "hosts" and hosts["size"] == 20 and hosts["mode"] == 0o640
    assert hosts["mtime"].endswith("Z") and hosts["linkTarget"] == ""
    assert archive.path_stat(fd, "/etc")["mode"] & (1 << 31)
    link = archive.path_stat(fd, "/etc/link")
    assert link["mode"] & (1 << 27) and link["linkTarget"] == "/etc/hosts"
    assert archive.path_stat(fd, "/escape/etc/hosts")["size"] == 20  # ../../.. stays in the root
    with pytest.raises(FileNotFoundError):
        archive.path_stat(fd, "/escape/canary")
    with pytest.raises(FileNotFoundError):
        archive.path_stat(fd, "/nope")


def test_archive_names_modes_symlinks(root):
    r, fd = root
    one = _tar(fd, "/etc/hosts")
    [m] = one.getmembers()
    assert m.name == "hosts" and m.mode == 0o640 and one.extractfile(m).read() == b"127.0.0.1 localhost\n"
    tree = _tar(fd, "/toroot/etc")  # a symlink to "/" inside the path resolves in the root
    names = {m.name: m for m in tree.getmembers()}
    assert set(names) == {"etc", "etc/hosts", "etc/link", "etc/sub", "etc/sub/deep"}
    assert names["etc/link"].issym() and names["etc/link"].linkname == "hosts"
    assert tree.extractfile(names["etc/sub/deep"]).read() == b"x" * 70000
    contents = {m.name for m in _tar(fd, "/etc/.").getmembers()}
    assert "hosts" in contents and "sub/deep" in contents
    [link] = _tar(fd, "/etc/link").getmembers()
    assert link.issym() and link.name == "link"


def _upload(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _file(name, data, uid=1000):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid = len(data), 0o600, uid, uid
    return info, data


def test_extract_owner_and_through_symlinks_stays_inside(root, tmp_path):
    r, fd = root
    archive.extract(fd, "/escape", _upload([_file("new", b"hi")]),
                    no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")
    assert (r / "new").read_bytes() == b"hi" and (r / "new").stat().st_uid == 0
    assert (tmp_path / "canary").read_text() == "host" and not (tmp_path / "new").exists()
    archive.extract(fd, "/etc", _upload([_file("kept", b"k")]),
                    no_overwrite_dir_non_dir=False, copy_uid_gid=True, what="t")
    assert (r / "etc" / "kept").stat().st_uid == 1000
    evil = tarfile.TarInfo("up")
    evil.type, evil.linkname = tarfile.SYMTYPE, "/"
    archive.extract(fd, "/etc/sub", _upload([(evil, None), _file("up/pwned", b"p")]),
                    no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")
    assert (r / "etc" / "sub" / "pwned").read_bytes() == b"p"  # "/" is the destination, not the host


def test_extract_refusals(root):
    r, fd = root
    with pytest.raises(errdefs.InvalidArgument, match="not a directory"):
        archive.extract(fd, "/etc/hosts", _upload([]), no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")
    with pytest.raises(FileNotFoundError):
        archive.extract(fd, "/missing", _upload([]), no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")
    with pytest.raises(errdefs.InvalidArgument, match="climbs"):
        archive.extract(fd, "/etc", _upload([_file("../../x", b"x")]),
                        no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")
    with pytest.raises(errdefs.InvalidArgument, match="cannot overwrite directory"):
        archive.extract(fd, "/etc", _upload([_file("sub", b"x")]),
                        no_overwrite_dir_non_dir=True, copy_uid_gid=False, what="t")
    assert (r / "etc" / "sub").is_dir()
    with pytest.raises(errdefs.InvalidArgument, match="malformed"):
        archive.extract(fd, "/etc", io.BytesIO(b"garbage" * 100),
                        no_overwrite_dir_non_dir=False, copy_uid_gid=False, what="t")


def test_trailing_slash_asserts_a_directory(root):
    r, fd = root
    with pytest.raises(NotADirectoryError):
        archive.path_stat(fd, "/etc/hosts/")
    with pytest.raises(NotADirectoryError):
        archive.path_stat(fd, "/etc/link/.")  # the link is followed: to a file
    followed = archive.path_stat(fd, "/toroot/.")
    assert followed["mode"] & (1 << 31) and followed["linkTarget"] == ""
