import os
import time



def test_tail_since_timestamps(env):
    m = env.manager
    cid = env.run(["sh", "-c", "echo one; echo two; sleep 0.3; echo three"])
    m.wait(cid)
    assert [l for _, l in m.logs(cid, tail=1)] == [b"three\n"]
    entries = list(m.logs(cid, timestamps=True))
    stamp, _, text = entries[2][1].partition(b" ")
    assert text == b"three\n" and stamp.endswith(b"Z") and len(stamp) == 30
    from runtime.containers.timefmt import parse_ns
    cut = parse_ns(entries[2][1].split()[0].decode()) - 100_000_000
    assert [l for _, l in m.logs(cid, since=cut)] == [b"three\n"]
    assert [l for _, l in m.logs(cid, until=cut)] == [b"one\n", b"two\n"]


def test_follow_sees_new_lines_and_ends_at_exit(env):
    m = env.manager
    cid = env.run(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done"])
    seen = [line for _, line in m.logs(cid, follow=True)]
    assert seen == [b"line%d\n" % i for i in range(1, 6)]


def test_rotation_keeps_max_file_files(env):
    m = env.manager
    cid = env.run(["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"],
                  HostConfig={"LogConfig": {"Type": "json-file", "Config": {"max-size": "20k", "max-file": "3"}}})
    m.wait(cid)
    cdir = m.store.dir_of(cid)
    logs = sorted(n for n in os.listdir(cdir) if "-json.log" in n)
    assert logs == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    assert all(os.path.getsize(os.path.join(cdir, n)) <= 20 * 1024 for n in logs)
    lines = [l for _, l in m.logs(cid)]
    assert lines[-1] == b"line-2999\n"
    numbers = [int(l.split(b"-")[1]) for l in lines]
    assert numbers == list(range(numbers[0], 3000))  # contiguous: nothing lost inside the kept files


def test_slow_reader_does_not_stall_a_container_writing_50mb(env):
    m = env.manager
    # 50 MB in 1 KiB lines; stop it early if it takes more than 60 s (it must not be stalled).
    cid = env.run(["sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' 'x' | fold -w 1023"],
                  HostConfig={"LogConfig": {"Type": "json-file", "Config": {"max-size": "20m", "max-file": "2"}}})
    reader = m.logs(cid, follow=True)
    next(reader)  # a follower that reads one line and then sleeps
    t0 = time.monotonic()
    code = m.wait(cid, timeout=120)["StatusCode"]
    elapsed = time.monotonic() - t0
    reader.close()
    assert code == 0
    assert elapsed < 60
    total = sum(os.path.getsize(os.path.join(m.store.dir_of(cid), n)) for n in os.listdir(m.store.dir_of(cid)) if "-json.log" in n)
    assert total > 20 * 1024 * 1024
    print(f"50 MB through the supervisor into json-file logs: {elapsed:.2f}s")
