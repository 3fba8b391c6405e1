"""Reference grammar: Docker's normalisation and its error messages."""

import pytest

from runtime import errdefs
from runtime.images.reference import image_id_prefix, parse_reference

D = "sha256:" + "a" * 64

GOOD = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/foo/bar:x", "docker.io/foo/bar:x", "foo/bar:x"),
    ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
    ("localhost/foo", "localhost/foo:latest", "localhost/foo:latest"),
    ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "localhost:5000/a/b:1"),
    ("127.0.0.1:5000/x/y-z_w.v", "127.0.0.1:5000/x/y-z_w.v:latest", "127.0.0.1:5000/x/y-z_w.v:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    ("registry.example.com/a/b/c:v1.2-rc_3", "registry.example.com/a/b/c:v1.2-rc_3",
     "registry.example.com/a/b/c:v1.2-rc_3"),
    ("a__b/c---d", "docker.io/a__b/c---d:latest", "a__b/c---d:latest"),
]


@pytest.mark.parametrize("text,full,familiar", GOOD)
def test_parse_reference_normalises(text, full, familiar):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_parse_reference_parts():
    ref = parse_reference("127.0.0.1:5000/team/app:v2")
    assert (ref.domain, ref.repository, ref.tag, ref.digest) == ("127.0.0.1:5000", "team/app", "v2", None)
    assert ref.reference == "v2"
    pinned = parse_reference(f"app:v2@{D}")
    assert pinned.reference == D


BAD = [
    ("Busybox", "repository name must be lowercase"),
    ("foo/Bar", "repository name must be lowercase"),
    ("localhost:5000/Foo", "repository name must be lowercase"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("", "must not be empty"),
    (":tag", "must not be empty"),
    ("a:", "invalid tag"),
    ("a:-x", "invalid tag"),
    ("a@sha256:abc", "invalid digest"),
    ("a//b", "invalid reference format"),
    ("-a", "invalid reference format"),
    ("a/", "invalid reference format"),
    ("a b", "invalid reference format"),
    ("a..b", "invalid reference format"),
    ("x/" + "a" * 260, "more than 255"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_parse_reference_refuses(text, message):
    with pytest.raises(errdefs.InvalidArgument) as info:
        parse_reference(text)
    assert message in str(info.value)


def test_other_digest_algorithm_unsupported():
    with pytest.raises(errdefs.Unsupported):
        parse_reference("a@sha512:" + "a" * 128)


def test_image_id_prefix():
    assert image_id_prefix("sha256:abc") == "abc"
    assert image_id_prefix("abc123") == "abc123"
    assert image_id_prefix("busybox") is None
