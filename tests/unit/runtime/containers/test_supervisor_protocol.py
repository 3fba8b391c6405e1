"""The supervisor's wire protocol: JSON lines with file descriptors riding along (SCM_RIGHTS)."""

import json
import os
import socket

import pytest

from runtime import errdefs
from runtime.supervisor.client import _error
from runtime.supervisor.protocol import encode, error_reply, recv_with_fds, send_with_fds


def test_fds_travel_with_the_request():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        send_with_fds(a, encode({"op": "exec", "args": ["x"]}), [w])
        data, fds = recv_with_fds(b)
        assert json.loads(data) == {"op": "exec", "args": ["x"]} and len(fds) == 1
        os.write(fds[0], b"through the passed fd")
        os.close(fds[0])
        assert os.read(r, 100) == b"through the passed fd"
    finally:
        for s in (a, b):
            s.close()
        os.close(r)
        os.close(w)


def test_errors_keep_their_category_across_the_wire():
    reply = error_reply("Conflict", "container is not running")
    err = _error(reply["error"])
    assert isinstance(err, errdefs.Conflict) and str(err) == "container is not running"
    assert isinstance(_error({"kind": "SystemExit", "message": "x"}), errdefs.Internal)
    with pytest.raises(errdefs.NotFound):
        raise _error({"kind": "NotFound", "message": "No such container: x"})
