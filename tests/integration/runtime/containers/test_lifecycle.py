import os
import time

import pytest

from runtime import errdefs
from tests.integration.runtime.containers.conftest import wait_for


def test_run_to_exit_records_code_and_logs(env):
    m = env.manager
    cid = env.run(["sh", "-c", "echo out; echo err >&2; exit 3"], name="first")
    assert m.wait(cid) == {"StatusCode": 3, "Error": None}
    info = m.inspect("first")
    assert info["Id"] == cid and len(cid) == 64 and info["Name"] == "/first"
    state = info["State"]
    assert (state["Status"], state["ExitCode"], state["Running"], state["Pid"]) == ("exited", 3, False, 0)
    assert state["StartedAt"] <= state["FinishedAt"]
    assert list(m.logs(cid, stderr=False)) == [("stdout", b"out\n")]
    assert list(m.logs(cid, stdout=False)) == [("stderr", b"err\n")]


def test_name_conflict_and_bad_name(env):
    cid = env.create(["true"], name="web")
    with pytest.raises(errdefs.Conflict, match=f'The container name "/web" is already in use by container "{cid}"'):
        env.create(["true"], name="web")
    with pytest.raises(errdefs.InvalidArgument, match="Invalid container name"):
        env.create(["true"], name="bad name")


def test_stop_kills_a_container_ignoring_sigterm_after_grace(env):
    m = env.manager
    cid = env.run(["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"])
    wait_for(lambda: list(m.logs(cid)))
    t0 = time.monotonic()
    m.stop(cid, timeout=1)
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 5
    state = m.inspect(cid)["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    with pytest.raises(errdefs.NotModified):
        m.stop(cid)


def test_stop_with_sigterm_handler_exits_quickly_and_remove(env):
    m = env.manager
    cid = env.run(["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"], name="svc")
    with pytest.raises(errdefs.Conflict, match="cannot remove a running container"):
        m.remove(cid)
    t0 = time.monotonic()
    m.stop(cid, timeout=10)
    assert time.monotonic() - t0 < 3
    assert m.inspect(cid)["State"]["ExitCode"] == 0
    m.remove(cid)
    with pytest.raises(errdefs.NotFound):
        m.inspect("svc")


def test_kill_restart_and_list(env):
    m = env.manager
    cid = env.run(["sleep", "60"], name="sleeper", Labels={"tier": "back"})
    assert [c["Id"] for c in m.list(filters={"label": ["tier=back"]})] == [cid]
    m.kill(cid, "SIGKILL")
    assert m.wait(cid)["StatusCode"] == 137
    assert m.list() == [] and m.list(all=True)[0]["State"] == "exited"
    assert m.list(filters={"label": ["tier=back"]}) == []  # running ones only, as docker ps
    assert m.list(filters={"status": ["exited"]})[0]["Names"] == ["/sleeper"]
    with pytest.raises(errdefs.Conflict, match="is not running"):
        m.kill(cid)
    m.restart(cid, timeout=1)
    info = m.inspect(cid)
    assert info["State"]["Running"] and info["RestartCount"] == 0
    m.remove(cid, force=True)
    assert m.list(all=True) == []


def test_rename(env):
    m = env.manager
    cid = env.create(["true"], name="old")
    env.create(["true"], name="taken")
    with pytest.raises(errdefs.Conflict, match="already in use"):
        m.rename("old", "taken")
    m.rename("old", "new")
    assert m.inspect("new")["Id"] == cid
    with pytest.raises(errdefs.NotFound):
        m.inspect("old")


def test_auto_remove_removes_on_exit_with_its_anonymous_volume(env):
    m = env.manager
    cid = env.run(["sh", "-c", "sleep 0.3; exit 7"], HostConfig={"AutoRemove": True}, Volumes={"/scratch": {}})
    volume = m.inspect(cid)["Mounts"][0]["Name"]
    assert m.wait(cid, "removed", timeout=10)["StatusCode"] == 7
    with pytest.raises(errdefs.NotFound):
        m.inspect(cid)
    assert m.list(all=True) == []  # and list() finished the removal:
    assert not m.volumes.exists(volume)
    assert not os.path.exists(os.path.join(env.base, "snapshots", cid))


def test_wait_next_exit(env):
    m = env.manager
    cid = env.run(["sh", "-c", "sleep 0.3; exit 4"])
    assert m.wait(cid, "next-exit", timeout=10)["StatusCode"] == 4


def test_stdin_fd_passed_at_start(env):
    m = env.manager
    cid = env.create(["sh", "-c", "read line; echo got:$line"], OpenStdin=True)
    r, w = os.pipe()
    os.write(w, b"hello\n")
    os.close(w)
    try:
        m.start(cid, stdin_fd=r)
    finally:
        os.close(r)
    m.wait(cid)
    assert list(m.logs(cid)) == [("stdout", b"got:hello\n")]


def test_pause_freezes_the_container(env):
    m = env.manager
    cid = env.run(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"])
    wait_for(lambda: len(list(m.logs(cid))) > 2)
    m.pause(cid)
    assert m.inspect(cid)["State"]["Status"] == "paused"
    before = len(list(m.logs(cid)))
    time.sleep(0.5)
    assert len(list(m.logs(cid))) == before
    m.unpause(cid)
    wait_for(lambda: len(list(m.logs(cid))) > before + 2)
    assert m.inspect(cid)["State"]["Status"] == "running"


def test_events_of_a_stop(env):
    m = env.manager
    cid = env.run(["sleep", "60"], name="evented", Labels={"app": "x"})
    events = m.events(timeout=20)
    m.stop(cid, timeout=0)
    seen = []
    for event in events:
        if event["Actor"]["ID"] == cid:
            seen.append(event)
        if event["Action"] == "stop":
            break
    events.close()
    assert [e["Action"] for e in seen] == ["kill", "die", "stop"]
    assert seen[1]["Actor"]["Attributes"] == {"app": "x", "image": "busybox", "name": "evented", "exitCode": "137"}
    assert seen[0]["Actor"]["Attributes"]["signal"] == "15" and seen[0]["Type"] == "container"


def test_stop_and_kill_a_paused_container(env):
    m = env.manager
    a = env.run(["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"])
    b = env.run(["sleep", "60"])
    m.pause(a)
    m.pause(b)
    m.stop(a, timeout=5)  # the stop signal reaches it once thawed: a clean exit, no kill
    assert m.inspect(a)["State"]["ExitCode"] == 0
    m.kill(b)
    assert m.wait(b, timeout=10)["StatusCode"] == 137
    assert m.inspect(b)["State"]["Paused"] is False


def test_renamed_container_events_carry_the_new_name(env):
    m = env.manager
    cid = env.run(["sleep", "60"], name="before")
    m.rename(cid, "after")
    events = m.events(timeout=20)
    m.kill(cid)
    event = next(e for e in events if e["Action"] == "die")
    events.close()
    assert event["Actor"]["Attributes"]["name"] == "after"


def test_start_of_a_missing_command_fails_clearly_and_stays_created(env):
    m = env.manager
    cid = env.create(["/no/such/cmd"])
    with pytest.raises(errdefs.NotFound, match="/no/such/cmd"):
        m.start(cid)
    state = m.inspect(cid)["State"]
    assert state["Status"] == "created" and "/no/such/cmd" in state["Error"]
    assert state["ExitCode"] == 127  # Docker's "command not found"
    m.remove(cid)


def test_failed_start_with_auto_remove_removes_and_wakes_waiters(env):
    import threading
    m = env.manager
    cid = env.create(["/no/such/cmd"], HostConfig={"AutoRemove": True})
    results = {}
    waiter = threading.Thread(target=lambda: results.update(m.wait(cid, "removed", timeout=10)))
    waiter.start()
    time.sleep(0.2)  # `docker run --rm` waits before it starts
    with pytest.raises(errdefs.NotFound):
        m.start(cid)
    waiter.join(15)
    assert results["StatusCode"] == 127
    with pytest.raises(errdefs.NotFound):
        m.inspect(cid)


def test_container_gets_dockers_umask(env):
    m = env.manager
    cid = env.run(["sh", "-c", "umask"])
    m.wait(cid)
    assert list(m.logs(cid)) == [("stdout", b"0022\n")]


def test_events_missed_between_two_subscriptions_are_replayed(env):
    m = env.manager
    first = m.events(timeout=20)
    a = env.run(["true"], name="one")
    assert next(first)["Actor"]["ID"] == a  # start
    first.close()
    b = env.run(["true"], name="two")  # nobody is subscribed while this starts and dies
    m.wait(b)
    later = m.events(timeout=2)
    seen = []
    try:
        for event in later:
            seen.append((event["Actor"]["ID"], event["Action"]))
    except errdefs.Unavailable:
        pass  # idle: everything missed has been replayed
    assert (a, "die") in seen and (b, "start") in seen and (b, "die") in seen
    assert (a, "start") not in seen  # already seen by the first subscription


def test_etc_hostname_holds_the_containers_hostname(env):
    m = env.manager
    named = env.run(["sh", "-c", "cat /etc/hostname; hostname"], Hostname="web1")
    plain = env.run(["cat", "/etc/hostname"])
    m.wait(named)
    m.wait(plain)
    wait_for(lambda: b"".join(d for _, d in m.logs(named)).count(b"\n") >= 2)
    assert b"".join(d for _, d in m.logs(named)) == b"web1\nweb1\n"
    wait_for(lambda: list(m.logs(plain)))
    assert b"".join(d for _, d in m.logs(plain)) == plain[:12].encode() + b"\n"
