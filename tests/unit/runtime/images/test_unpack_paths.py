"""Path-safety decisions for layer entries (pure functions of runtime.snapshots.unpack)."""

import pytest

from runtime.snapshots.unpack import Action, UnsafeEntry, classify, is_allowed_xattr, member_path


@pytest.mark.parametrize("name,path", [
    ("a/b", "a/b"), ("./a/b", "a/b"), ("/etc/passwd", "etc/passwd"), ("//x//y/", "x/y"),
    ("a/../b", "b"), ("a/./b/..", "a"), (".", ""), ("./", ""), ("", ""),
])
def test_member_path_normalises_and_contains(name, path):
    assert member_path(name) == path


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "./../../etc/passwd", "/../x", "a\0b"])
def test_member_path_refuses_escape(name):
    with pytest.raises(UnsafeEntry):
        member_path(name)


@pytest.mark.parametrize("name,action", [
    ("a/.wh.b", Action("whiteout", "a/b")),
    (".wh.top", Action("whiteout", "top")),
    ("a/b/.wh..wh..opq", Action("opaque", "a/b")),
    (".wh..wh..opq", Action("opaque", "")),
    ("a/b.wh.c", Action("entry", "a/b.wh.c")),
])
def test_classify_whiteouts(name, action):
    assert classify(name) == action


@pytest.mark.parametrize("name", ["a/.wh.", "../.wh.x", ".wh..."])
def test_classify_refuses_bad_whiteouts(name):
    with pytest.raises(UnsafeEntry):
        classify(name)


@pytest.mark.parametrize("key,allowed", [
    ("user.foo", True), ("security.capability", True), ("trusted.x", True),
    ("trusted.overlay.opaque", False), ("trusted.overlay.redirect", False),
    ("security.selinux", False), ("system.posix_acl_access", False),
])
def test_xattr_policy(key, allowed):
    assert is_allowed_xattr(key) is allowed
