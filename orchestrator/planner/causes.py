"""Why an existing object no longer matches: the stored config document against the desired one.

Called by `planner.decide` only. The executor stores `hashing.document_json(doc)` in the
`CONFIG_DOC_LABEL` label next to the config hash; reading it back lets a plan say *what*
changed (`environment.FOO changed`) instead of only that a hash differs.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any, Mapping

from orchestrator.hashing import HASH_VERSION, describe_changes, hash_document, hash_version
from orchestrator.model import FrozenMap
from orchestrator.planner.plan import CONFIG_DOC_LABEL


def resource_change_reason(observed_hash: str | None, labels: Mapping, doc: Mapping) -> str | None:
    # No hash (made by another tool, or by hand) or another version: accept it as it is.
    if observed_hash is None or hash_version(observed_hash) != HASH_VERSION:
        return None
    if observed_hash == hash_document(doc):
        return None
    return change_reason(labels, observed_hash, doc)


def change_reason(labels: Mapping, observed_hash: str, doc: Mapping) -> str:
    """The causes between the stored document and `doc`, when the stored one is trustworthy."""
    old = _stored_document(labels, observed_hash)
    causes = describe_changes(old, doc) if old is not None else []
    return ", ".join(causes) or "configuration changed"


def _stored_document(labels: Mapping, observed_hash: str) -> Mapping | None:
    text = labels.get(CONFIG_DOC_LABEL)
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    # A document that does not hash to the label was edited or truncated: don't explain by it.
    if not isinstance(document, dict) or hash_document(document) != observed_hash:
        return None
    return document


def model_plain(value: Any) -> Any:
    """A model object as plain data, leaving out fields at their defaults (so a field added to
    the model later, with a default, does not change existing hashes); `extra` is merged in."""
    if is_dataclass(value):
        out: dict[str, Any] = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.name in ("extensions", "extra") or (f.default is not MISSING and item == f.default):
                continue
            out[f.name] = model_plain(item)
        if isinstance(getattr(value, "extra", None), FrozenMap):
            out.update(model_plain(value.extra))
        return out
    if isinstance(value, Mapping):
        return {str(k): model_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [model_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value
