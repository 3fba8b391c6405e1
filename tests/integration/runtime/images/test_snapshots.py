"""The overlay snapshotter with real mounts: parent chains, views, active snapshots, removal."""

import os

import pytest

from runtime import errdefs
from runtime.snapshots import Snapshotter, mount_all, unmount


@pytest.fixture
def snapshotter(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (overlay mounts)")
    return Snapshotter(str(tmp_path / "snap"))


def _mount(snapshotter, key, tmp_path):
    target = tmp_path / f"mnt-{key}"
    target.mkdir()
    mount_all(snapshotter.mounts(key), str(target))
    return target


def test_chain_view_and_active_snapshot(snapshotter, tmp_path):
    snapshotter.prepare("l1-key", None)
    with open(os.path.join(snapshotter.upper_dir("l1-key"), "base"), "w") as f:
        f.write("base")
    snapshotter.commit("l1", "l1-key")
    snapshotter.prepare("l2-key", "l1")
    with open(os.path.join(snapshotter.upper_dir("l2-key"), "top"), "w") as f:
        f.write("top")
    snapshotter.commit("l2", "l2-key")
    assert snapshotter.stat("l2").parent == "l1" and snapshotter.stat("l2").kind == "committed"
    assert snapshotter.usage("l2") > 0

    snapshotter.view("v", "l2")
    view = _mount(snapshotter, "v", tmp_path)
    try:
        assert sorted(os.listdir(view)) == ["base", "top"]
        with pytest.raises(OSError):
            open(view / "new", "w")
    finally:
        unmount(str(view))

    snapshotter.prepare("rw", "l2", labels={"owner": "container-1"})
    rw = _mount(snapshotter, "rw", tmp_path)
    try:
        (rw / "written").write_text("x")
        os.unlink(rw / "base")
        assert sorted(os.listdir(rw)) == ["top", "written"]
    finally:
        unmount(str(rw))
    # The write went to the active snapshot only; the committed layers are unchanged.
    assert os.path.exists(os.path.join(snapshotter.upper_dir("rw"), "written"))
    assert sorted(os.listdir(snapshotter.upper_dir("l1"))) == ["base"]
    assert snapshotter.stat("rw").labels == {"owner": "container-1"}

    with pytest.raises(errdefs.Conflict):
        snapshotter.remove("l2")
    with pytest.raises(errdefs.AlreadyExists):
        snapshotter.prepare("rw", "l2")
    with pytest.raises(errdefs.NotFound):
        snapshotter.prepare("x", "missing")
    with pytest.raises(errdefs.FailedPrecondition):
        snapshotter.prepare("y", "rw")  # parent must be committed
    for key in ("rw", "v", "l2", "l1"):
        snapshotter.remove(key)
    assert snapshotter.list() == [] and os.listdir(snapshotter.dirs) == []


def test_commit_sets_parent_of_a_layer_unpacked_alone(snapshotter):
    snapshotter.prepare("a-key", None)
    snapshotter.commit("a", "a-key")
    snapshotter.prepare("b-key", None)
    snapshotter.commit("b", "b-key", parent="a")
    assert snapshotter.stat("b").parent == "a"
    assert snapshotter.parent_dirs("b") == [snapshotter.upper_dir("b"), snapshotter.upper_dir("a")]


def test_records_survive_a_new_process(snapshotter):
    snapshotter.prepare("k", None)
    snapshotter.commit("n", "k")
    again = Snapshotter(snapshotter.root)
    assert [s.name for s in again.list()] == ["n"]
