"""Response bodies brought to the Engine API's documented shapes (pure), at the route boundary.

Called by the route modules. The runtime parts keep Docker's Go zero values (`null` for an unset
list or map); the swagger types those fields as arrays/objects, and dockerd's own types mark
many of them `omitempty`. Dropping a `null` is what a Go client decodes identically (nil), and
what a schema-checking client accepts.
"""

from __future__ import annotations

from typing import Any


def without_nulls(obj: Any) -> Any:
    """A copy of the mapping without its `None` values (one level)."""
    if not isinstance(obj, dict):
        return obj
    return {key: value for key, value in obj.items() if value is not None}


def container_inspect(body: dict) -> dict:
    body = dict(body)
    if isinstance(body.get("HostConfig"), dict):
        host = without_nulls(body["HostConfig"])
        policy = host.get("RestartPolicy")
        if isinstance(policy, dict) and policy.get("Name") == "no":
            # Docker's CLI sends "no"; the API's word for "never restart" is "".
            host["RestartPolicy"] = {**policy, "Name": ""}
        body["HostConfig"] = host
    graph = body.get("GraphDriver")
    if isinstance(graph, dict) and graph.get("Data") is None:
        body["GraphDriver"] = {**graph, "Data": {}}
    if isinstance(body.get("Config"), dict):
        body["Config"] = without_nulls(body["Config"])
    return body


def image_inspect(body: dict) -> dict:
    body = dict(body)
    for key in ("Config", "ContainerConfig"):
        if isinstance(body.get(key), dict):
            body[key] = without_nulls(body[key])
        elif key in body and body[key] is None:
            del body[key]
    return body


def network(body: dict) -> dict:
    ipam = body.get("IPAM")
    if not isinstance(ipam, dict) or not isinstance(ipam.get("Config"), list):
        return body
    configs = []
    for config in ipam["Config"]:
        if isinstance(config, dict):
            # IPAM config is map[string]string; an empty AuxiliaryAddresses is omitted (omitempty).
            config = {key: value for key, value in config.items() if value not in (None, {}, [])}
        configs.append(config)
    return {**body, "IPAM": {**ipam, "Config": configs}}


def wait_result(result: dict) -> dict:
    # `Error: null` means "no error"; the Error object, when present, must carry a message.
    return {key: value for key, value in result.items() if not (key == "Error" and value is None)}


def image_prune(result: dict) -> dict:
    return {**result, "ImagesDeleted": result.get("ImagesDeleted") or []}
