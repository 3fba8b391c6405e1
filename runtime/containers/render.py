"""Docker's JSON shapes for a container record (pure): inspect, the `ps` summary, list filters.

Called by manager.py. `record` is config.json (what the manager wrote at create) and `state`
the ContainerState the supervisor keeps in state.json.
"""

from __future__ import annotations

from runtime import errdefs
from runtime.containers import state as st
from runtime.containers.timefmt import ZERO_TIME, parse_ns

LIST_FILTERS = frozenset({"label", "name", "id", "status", "ancestor", "exited", "health"})


def inspect(record: dict, state: st.ContainerState, *, log_path: str) -> dict:
    config = record["Config"]
    return {
        "Id": record["Id"],
        "Created": record["Created"],
        "Path": record["Path"],
        "Args": record["Args"],
        "State": st.docker_state(state),
        "Image": record.get("ImageID", ""),
        "ResolvConfPath": record.get("ResolvConfPath", ""),
        "HostnamePath": record.get("HostnamePath", ""),
        "HostsPath": record.get("HostsPath", ""),
        "LogPath": log_path,
        "Name": record["Name"],
        "RestartCount": state.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": record["HostConfig"],
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "Mounts": record.get("Mounts", []),
        "Config": config,
        "NetworkSettings": record.get("NetworkSettings") or {"Networks": {}},
    }


def summary(record: dict, state: st.ContainerState, *, now: int) -> dict:
    """One entry of GET /containers/json."""
    def ns(text: str) -> int | None:
        return None if text == ZERO_TIME else parse_ns(text)

    config = record["Config"]
    command = " ".join([record["Path"], *record["Args"]]).strip()
    return {
        "Id": record["Id"],
        "Names": [record["Name"]],
        "Image": config.get("Image", ""),
        "ImageID": record.get("ImageID", ""),
        "Command": command,
        "Created": parse_ns(record["Created"]) // 1_000_000_000,
        "Ports": [],
        "Labels": config.get("Labels") or {},
        "State": state.status.value,
        "Status": st.status_text(state, now=now, started_ns=ns(state.started_at), finished_ns=ns(state.finished_at)),
        "HostConfig": {"NetworkMode": record["HostConfig"].get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": (record.get("NetworkSettings") or {}).get("Networks", {})},
        "Mounts": record.get("Mounts", []),
    }


def check_filters(filters: dict) -> dict[str, list[str]]:
    """Normalises {"label": ["a=b"]} / {"label": {"a=b": true}}. Raises InvalidArgument."""
    out = {}
    for key, values in (filters or {}).items():
        if key not in LIST_FILTERS:
            raise errdefs.InvalidArgument(f"invalid filter '{key}'")
        out[key] = [v for v, on in values.items() if on] if isinstance(values, dict) else list(values)
    if "status" in out:
        bad = [v for v in out["status"] if v not in {s.value for s in st.Status}]
        if bad:
            raise errdefs.InvalidArgument(
                f"invalid filter 'status={bad[0]}'")
    return out


def matches(record: dict, state: st.ContainerState, filters: dict[str, list[str]]) -> bool:
    """Docker's semantics: values of one key are ORed, keys are ANDed."""
    labels = record["Config"].get("Labels") or {}
    for key, values in filters.items():
        if key == "label":
            for v in values:  # every label filter must hold
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
            continue
        if key == "name":
            ok = any(v.lstrip("/") in record["Name"].lstrip("/") for v in values)
        elif key == "id":
            ok = any(record["Id"].startswith(v) for v in values)
        elif key == "status":
            ok = state.status.value in values
        elif key == "ancestor":
            image = record["Config"].get("Image", "")
            ok = any(v in (image, record.get("ImageID", "")) or image.startswith(v + ":") for v in values)
        elif key == "exited":
            ok = state.status is st.Status.EXITED and str(state.exit_code) in values
        elif key == "health":
            current = (state.health or {}).get("Status", "none")
            ok = current in values
        else:
            ok = True
        if not ok:
            return False
    return True
