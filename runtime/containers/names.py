"""Container ids and names, with Docker's rules and error messages (pure).

Used by the manager's create/rename and by every lookup of a container by name, id or id prefix.
"""

from __future__ import annotations

import re
import secrets

from runtime import errdefs

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = ("admiring", "brave", "calm", "eager", "focused", "gentle", "happy", "jolly", "keen",
         "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant", "wizardly", "zen")
_RIGHT = ("babbage", "curie", "darwin", "euler", "fermat", "galois", "hopper", "hypatia",
          "knuth", "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak")


def new_id() -> str:
    return secrets.token_hex(32)


def random_name(taken: set[str]) -> str:
    while True:
        name = f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
        if name in taken:
            name = f"{name}{secrets.randbelow(10)}"
        if name not in taken:
            return name


def check_name(name: str) -> str:
    """The name without its leading slash. Raises InvalidArgument with Docker's message."""
    if not VALID_NAME.match(name):
        raise errdefs.InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def name_conflict(name: str, owner: str) -> errdefs.Conflict:
    return errdefs.Conflict(
        f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
        "You have to remove (or rename) that container to be able to reuse that name.")


def resolve(ref: str, names: dict[str, str], ids: list[str]) -> str:
    """The container id that `ref` (a name, a full id or a unique id prefix) designates.

    `names` maps name → id. Raises NotFound, or InvalidArgument for an ambiguous prefix.
    """
    bare = ref.lstrip("/")
    if ref in ids:
        return ref
    if bare in names:
        return names[bare]
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise errdefs.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
    raise errdefs.NotFound(f"No such container: {ref}")
