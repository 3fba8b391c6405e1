"""How requests to the engine are spelled: query parameters, filters and image references.

Pure functions without the HTTP stack, so that `observe` and the converged check
(`orchestrator.converged` through `engine.lite`) can use them without importing httpx.
Used by `transport`, `client`, `lite` and `observe`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without None values, booleans as the engine spells them, filters as JSON."""
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif key == "filters":
            value = encode_filters(value)
            if value is None:
                continue
        out[key] = value
    return out


def encode_filters(filters: Mapping[str, Any] | str | None) -> str | None:
    """Filters as the API's JSON map of lists: `{"label": ["a=b"]}`; strings become one-item lists."""
    if filters is None or isinstance(filters, str):
        return filters or None
    encoded: dict[str, list[str]] = {}
    for key, value in filters.items():
        values = value if isinstance(value, (list, tuple, set)) else [value]
        encoded[key] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
    return json.dumps(encoded) if encoded else None


def split_reference(ref: str) -> tuple[str, str | None]:
    """`repo[:tag|@digest]` → (repo, tag or digest); a `:` before the last `/` is a registry port."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, None
