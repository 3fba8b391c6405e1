import os
import threading

import pytest

from runtime import errdefs


def read_all(fd: int, out: list) -> None:
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        out.append(data)
    os.close(fd)


def test_attach_before_start_sees_everything_even_with_auto_remove(env):
    m = env.manager
    cid = env.create(["sh", "-c", "echo out; echo err >&2; exit 3"], HostConfig={"AutoRemove": True})
    (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
    m.attach(cid, stdout_fd=out_w, stderr_fd=err_w)
    os.close(out_w)
    os.close(err_w)
    got_out, got_err = [], []
    readers = [threading.Thread(target=read_all, args=(out_r, got_out)),
               threading.Thread(target=read_all, args=(err_r, got_err))]
    for r in readers:
        r.start()
    m.start(cid)
    for r in readers:
        r.join(10)  # EOF arrives when the container exits
    assert b"".join(got_out) == b"out\n" and b"".join(got_err) == b"err\n"
    assert m.wait(cid, "removed", timeout=10)["StatusCode"] == 3  # even if removed before we asked


def test_a_reader_that_never_reads_is_dropped_not_waited_for(env):
    m = env.manager
    cid = env.create(["sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' 'x' | fold -w 999"])
    r, w = os.pipe()
    m.attach(cid, stdout_fd=w, stderr_fd=w)
    os.close(w)
    m.start(cid)
    assert m.wait(cid, timeout=60)["StatusCode"] == 0  # not stalled by the full pipe
    os.close(r)
    assert sum(len(l) for _, l in m.logs(cid)) == 10_000_000 + 10_000_000 // 999  # the x's and fold's newlines


def test_attach_needs_an_fd(env):
    cid = env.create(["true"])
    with pytest.raises(errdefs.InvalidArgument):
        env.manager.attach(cid)


def test_tty_container_reads_stdin_through_the_pty_and_resizes(env):
    m = env.manager
    cid = env.create(["sh", "-c", "read line; echo got:$line; stty size; read again; stty size"],
                     Tty=True, OpenStdin=True)
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    m.attach(cid, stdout_fd=out_w)
    os.close(out_w)
    got = []
    reader = threading.Thread(target=read_all, args=(out_r, got))
    reader.start()
    try:
        m.start(cid, stdin_fd=stdin_r)
    finally:
        os.close(stdin_r)
    m.resize(cid, height=40, width=100)
    os.write(stdin_w, b"hello\n")
    import time
    time.sleep(0.3)
    m.resize(cid, height=50, width=132)
    os.write(stdin_w, b"more\n")
    assert m.wait(cid, timeout=10)["StatusCode"] == 0
    os.close(stdin_w)
    reader.join(10)
    text = b"".join(got)
    assert b"got:hello" in text and b"40 100" in text and b"50 132" in text
    with pytest.raises(errdefs.Conflict):
        m.resize(cid, height=1, width=1)
