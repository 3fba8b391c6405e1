"""supervisor/shm.py decisions (pure): which host directory becomes a container's /dev/shm."""

from __future__ import annotations

import pytest

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor.spec import SpecContext, build_spec
from runtime.supervisor import shm


def _spec(cid: str, ipc: str = "", shm_size: int = 0, donor: str | None = None) -> dict:
    host = {"IpcMode": ipc, "ShmSize": shm_size}
    ctx = SpecContext(container_id=cid, rootfs="/r", rootfs_mounts=[], image_config={}, hostname_path="/h",
                      hosts_path="/hs", resolv_conf_path="/rc", netns_path=None, ipc_ns_path="/proc/1/ns/ipc" if donor else None)
    spec = build_spec({"Image": "x", "Cmd": ["true"], "HostConfig": host}, ctx)
    if donor:
        spec["annotations"][ann.IPC_CONTAINER] = donor
    return spec


def _shm(spec: dict) -> list[dict]:
    return [m for m in spec["mounts"] if m["destination"] == "/dev/shm"]


def test_shareable_binds_its_own_host_tmpfs_sized_by_shmsize():
    spec = _spec("a" * 64, "shareable", 8 << 20)
    source = shm.plan(spec, "/run/sy", lambda _id: None)
    assert source == f"/run/sy/containers/{'a' * 64}/shm"
    assert shm.tmpfs_options(spec) == (2 | 4 | 8, f"mode=1777,size={8 << 20}")
    out = shm.rewrite(spec, source)
    assert _shm(out) == [{"destination": "/dev/shm", "type": "bind", "source": source,
                          "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]}]
    assert _shm(spec)[0]["type"] == "tmpfs"  # the stored spec is untouched


def test_private_and_host_keep_the_spec():
    for mode in ("", "private", "host"):
        spec = _spec("b" * 64, mode)
        assert shm.plan(spec, "/run/sy", lambda _id: None) is None


def test_joiner_binds_the_donor_dir_after_mqueue_or_the_hosts_shm():
    donor = _spec("d" * 64, "shareable")
    joiner = _spec("j" * 64, "container:d", donor="d" * 64)
    assert _shm(joiner) == []
    source = shm.plan(joiner, "/run/sy", {"d" * 64: donor}.get)
    assert source == f"/run/sy/containers/{'d' * 64}/shm"
    out = shm.rewrite(joiner, source)
    dests = [m["destination"] for m in out["mounts"]]
    assert dests[dests.index("/dev/mqueue") + 1] == "/dev/shm"
    host_donor = _spec("h" * 64, "host")
    joiner_h = _spec("k" * 64, "container:h", donor="h" * 64)
    assert shm.plan(joiner_h, "/run/sy", {"h" * 64: host_donor}.get) == "/dev/shm"


@pytest.mark.parametrize("donor_mode", ["", "private", None])
def test_joining_a_donor_that_does_not_share_is_refused(donor_mode):
    donors = {} if donor_mode is None else {"d" * 64: _spec("d" * 64, donor_mode)}
    joiner = _spec("j" * 64, "container:d", donor="d" * 64)
    with pytest.raises(errdefs.Conflict, match=r"non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)"):
        shm.plan(joiner, "/run/sy", donors.get)
