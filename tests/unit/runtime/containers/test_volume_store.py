import os

import pytest

from runtime import errdefs
from runtime.volumes import VolumeStore


def test_create_inspect_list_remove(tmp_path):
    store = VolumeStore(str(tmp_path))
    v = store.create("data", labels={"app": "web"})
    assert v["Name"] == "data" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data") and os.path.isdir(v["Mountpoint"])
    assert store.create("data") == v  # idempotent, as Docker
    assert [x["Name"] for x in store.list({"label": ["app=web"]})] == ["data"]
    assert store.list({"label": ["app=db"]}) == []
    store.remove("data")
    with pytest.raises(errdefs.NotFound, match="no such volume"):
        store.inspect("data")
    store.remove("data", force=True)  # force: absent is fine


def test_bad_names_and_drivers(tmp_path):
    store = VolumeStore(str(tmp_path))
    with pytest.raises(errdefs.InvalidArgument, match="invalid characters"):
        store.create("../x")
    with pytest.raises(errdefs.InvalidArgument, match="driver"):
        store.create("xy", driver="nfs")


def test_in_use_refused_and_prune_keeps_named(tmp_path):
    users = {"busy": ["c1"]}
    store = VolumeStore(str(tmp_path), users=lambda name: users.get(name, []))
    store.create("busy")
    store.create("named")
    anon = store.create(None)["Name"]
    assert len(anon) == 64
    with pytest.raises(errdefs.Conflict, match=r"volume is in use - \[c1\]"):
        store.remove("busy")
    assert [v["Name"] for v in store.list({"dangling": ["true"]})] == sorted(["named", anon])
    assert store.prune()["VolumesDeleted"] == [anon]
    assert store.prune({"all": ["true"]})["VolumesDeleted"] == ["named"]
    assert store.names() == ["busy"]
