import pytest

from runtime import errdefs
from runtime.containers import names, render
from runtime.containers import state as st

A = "a" * 64
B = "ab" + "c" * 62


def test_check_name_docker_rules():
    assert names.check_name("/web-1") == "web-1"
    for bad in ("a", "-x", "x y", "x/y", ""):
        with pytest.raises(errdefs.InvalidArgument, match=r"Invalid container name"):
            names.check_name(bad)


def test_resolve_by_name_id_and_prefix():
    table = {"web": A}
    assert names.resolve("web", table, [A, B]) == A
    assert names.resolve("/web", table, [A, B]) == A
    assert names.resolve(B, table, [A, B]) == B
    assert names.resolve("abc", table, [A, B]) == B
    with pytest.raises(errdefs.InvalidArgument, match="multiple IDs"):
        names.resolve("a", table, [A, B])
    with pytest.raises(errdefs.NotFound, match="No such container: nope"):
        names.resolve("nope", table, [A, B])


def test_name_conflict_message():
    err = names.name_conflict("web", A)
    assert str(err).startswith(f'Conflict. The container name "/web" is already in use by container "{A}".')


def record(labels=None, image="busybox:1", name="/web"):
    return {"Id": A, "Name": name, "Config": {"Labels": labels or {}, "Image": image}, "ImageID": "sha256:1"}


def test_filters_and_or_semantics():
    running = st.on_started(st.ContainerState(), pid=1, now=0)
    exited = st.on_exited(running, exit_code=2, oom_killed=False, now=1)
    r = record({"tier": "web", "env": "prod"})
    f = render.check_filters
    assert render.matches(r, running, f({"label": ["tier=web", "env"]}))
    assert not render.matches(r, running, f({"label": ["tier=web", "env=dev"]}))
    assert render.matches(r, running, f({"status": ["exited", "running"]}))
    assert render.matches(r, exited, f({"exited": ["2"], "name": ["we"]}))
    assert render.matches(r, running, f({"ancestor": ["busybox"]}))
    assert not render.matches(r, running, f({"id": ["b"]}))
    assert render.matches(r, running, f({"label": {"tier=web": True}}))


def test_filters_reject_unknown_keys_and_statuses():
    with pytest.raises(errdefs.InvalidArgument, match="invalid filter 'colour'"):
        render.check_filters({"colour": ["red"]})
    with pytest.raises(errdefs.InvalidArgument, match="invalid filter 'status=sleepy'"):
        render.check_filters({"status": ["sleepy"]})
