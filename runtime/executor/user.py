"""Resolve a container `User` string against the image's /etc/passwd and /etc/group (pure).

Follows runc's libcontainer/user GetExecUser rules, which Docker uses: "name|uid[:group|gid]";
a numeric user missing from passwd is allowed (gid 0); supplementary groups are the primary gid,
then /etc/group memberships when no group was given, then `group_add` (names or numbers). Called by spec.py when the
caller resolved the user itself, and by the container child (after the rootfs is mounted) when not.
"""

from __future__ import annotations

from runtime import errdefs

_MAX_ID = 2**31 - 1


def _parse(text: str, fields: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < fields:
            parts += [""] * (fields - len(parts))
        rows.append(parts)
    return rows


def _num(value: str) -> int | None:
    if value.isdigit():
        n = int(value)
        if n > _MAX_ID:
            raise errdefs.InvalidArgument("uids and gids must be in range 0-2147483647")
        return n
    return None


def resolve_user(user_field: str, group_add: list[str] | None, passwd_text: str,
                 group_text: str) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for `user_field`. Raises errdefs.InvalidArgument with runc's texts."""
    users = _parse(passwd_text, 7)
    groups = _parse(group_text, 4)
    user_arg, _, group_arg = (user_field or "").partition(":")
    uid, gid, home_groups = 0, 0, []
    name = None
    if user_arg == "":
        user_arg = "0"
    match = [u for u in users if u[0] == user_arg or (user_arg.isdigit() and u[2] == user_arg)]
    if match:
        name, uid, gid = match[0][0], int(match[0][2] or 0), int(match[0][3] or 0)
    else:
        n = _num(user_arg)
        if n is None:
            raise errdefs.InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = n
    if group_arg:
        found = [g for g in groups if g[0] == group_arg or (group_arg.isdigit() and g[2] == group_arg)]
        if found:
            gid = int(found[0][2])
        else:
            n = _num(group_arg)
            if n is None:
                raise errdefs.InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file")
            gid = n
    elif name is not None:
        home_groups = [int(g[2]) for g in groups if name in g[3].split(",")]
    extra: list[int] = []
    for entry in group_add or []:
        entry = str(entry)
        found = [g for g in groups if g[0] == entry or (entry.isdigit() and g[2] == entry)]
        if found:
            extra.append(int(found[0][2]))
        else:
            n = _num(entry)
            if n is None:
                raise errdefs.InvalidArgument(f"Unable to find group {entry}: no matching entries in group file")
            extra.append(n)
    # Docker's containers list the primary gid among the supplementary groups too (`id` shows
    # groups=1000(alice),29,50); measured against a real dockerd in test_docker_comparison.
    gids: list[int] = []
    for g in [gid] + home_groups + extra:
        if g not in gids:
            gids.append(g)
    return uid, gid, gids


def home_of(uid: int, passwd_text: str) -> str:
    """The home directory of `uid` in passwd, "/" when absent (runc's HOME default)."""
    for u in _parse(passwd_text, 7):
        if u[2] == str(uid):
            return u[5] or "/"
    return "/"
