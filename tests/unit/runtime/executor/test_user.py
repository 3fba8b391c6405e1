"""resolve_user: Docker/runc rules for User and GroupAdd against the image's passwd and group."""

import pytest

from runtime import errdefs
from runtime.executor.user import resolve_user

PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n"
GROUP = "root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\naudio:x:29:alice\n"


@pytest.mark.parametrize("user, add, expected", [
    ("", [], (0, 0, [0])),
    ("alice", [], (1000, 1000, [1000, 50, 29])),
    ("alice:staff", [], (1000, 50, [50])),
    ("1000", [], (1000, 1000, [1000, 50, 29])),
    ("4242", [], (4242, 0, [0])),
    ("4242:77", [], (4242, 77, [77])),
    ("bob", ["audio", "123"], (1001, 1001, [1001, 50, 29, 123])),
    ("root:root", ["staff"], (0, 0, [0, 50])),
])
def test_resolve_user_rules(user, add, expected):
    assert resolve_user(user, add, PASSWD, GROUP) == expected


@pytest.mark.parametrize("user, add, message", [
    ("carol", [], "unable to find user carol: no matching entries in passwd file"),
    ("alice:wheel", [], "unable to find group wheel: no matching entries in group file"),
    ("alice", ["wheel"], "Unable to find group wheel"),
    ("99999999999", [], "uids and gids must be in range"),
])
def test_resolve_user_errors(user, add, message):
    with pytest.raises(errdefs.InvalidArgument, match=message):
        resolve_user(user, add, PASSWD, GROUP)
