"""resolve_joins (runtime/supervisor/joins.py): IpcMode/PidMode container:x paths re-resolved per start."""

from __future__ import annotations

import pytest

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.supervisor.joins import resolve_joins


def _spec(**annotations) -> dict:
    return {"annotations": annotations,
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid", "path": "/proc/0/ns/pid"},
                                     {"type": "ipc", "path": "/proc/0/ns/ipc"}]}}


def test_paths_point_at_the_donors_current_init_and_the_stored_spec_is_untouched():
    spec = _spec(**{ann.IPC_CONTAINER: "a" * 64, ann.PID_CONTAINER: "b" * 64})
    out = resolve_joins(spec, {"a" * 64: 41, "b" * 64: 42}.get)
    ns = {n["type"]: n.get("path") for n in out["linux"]["namespaces"]}
    assert ns == {"mount": None, "pid": "/proc/42/ns/pid", "ipc": "/proc/41/ns/ipc"}
    assert spec["linux"]["namespaces"][1]["path"] == "/proc/0/ns/pid"


def test_a_donor_that_is_not_running_is_dockers_conflict():
    with pytest.raises(errdefs.Conflict, match="cannot join IPC of a non running container: " + "a" * 64):
        resolve_joins(_spec(**{ann.IPC_CONTAINER: "a" * 64}), lambda _id: None)


def test_nothing_joined_is_the_same_spec():
    spec = _spec()
    assert resolve_joins(spec, lambda _id: None) is spec
