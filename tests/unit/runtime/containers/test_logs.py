import threading
import time

import pytest

from runtime import errdefs
from runtime.containers import logs as lg

T0 = 1_800_000_000_000_000_000


class Clock:
    def __init__(self):
        self.t = T0

    def __call__(self):
        self.t += 1_000_000_000
        return self.t


def test_entry_is_docker_json_file_format():
    raw = lg.format_entry("stdout", b"h\xc3\xa9llo\n", T0 + 7)
    assert raw == '{"log":"héllo\\n","stream":"stdout","time":"2027-01-15T08:00:00.000000007Z"}\n'.encode()
    assert lg.parse_entry(raw).data == "héllo\n".encode()
    assert lg.parse_entry(b'{"log": "torn') is None


def test_splitter_cuts_lines_and_long_lines():
    sp = lg.LineSplitter()
    assert sp.feed(b"a\nb") == [b"a\n"]
    assert sp.feed(b"c\n\n") == [b"bc\n", b"\n"]
    long = sp.feed(b"x" * (lg.MAX_LINE + 5))
    assert long == [b"x" * lg.MAX_LINE] and sp.flush() == [b"xxxxx"]


def test_parse_log_config():
    c = lg.parse_log_config({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}})
    assert (c.max_size, c.max_file) == (10 * 1024 * 1024, 3)
    assert lg.parse_log_config(None) == lg.LogConfig()
    for bad, what in [({"Type": "syslog"}, "syslog"), ({"Config": {"max-size": "ten"}}, "max-size"),
                      ({"Config": {"max-file": "3"}}, "max-file"), ({"Config": {"colour": "x"}}, "colour")]:
        with pytest.raises(errdefs.InvalidArgument, match=what):
            lg.parse_log_config(bad)


def write_lines(path, n, config=lg.LogConfig(), stream_of=lambda i: "stdout"):
    w = lg.JsonFileWriter(path, config, clock=Clock())
    for i in range(n):
        w.write(stream_of(i), b"line %d\n" % i)
    w.close()


def test_rotation_keeps_max_file_files(tmp_path):
    path = str(tmp_path / "c-json.log")
    write_lines(path, 200, lg.LogConfig(max_size=1000, max_file=3))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    entries = lg.read_logs(path, max_file=3)
    numbers = [int(e.data.split()[1]) for e in entries]
    assert numbers == list(range(numbers[0], 200)) and numbers[0] > 100


def test_tail_since_until_and_streams(tmp_path):
    path = str(tmp_path / "c-json.log")
    write_lines(path, 10, stream_of=lambda i: "stderr" if i % 2 else "stdout")
    assert [e.data for e in lg.read_logs(path, tail=2)] == [b"line 8\n", b"line 9\n"]
    assert lg.read_logs(path, tail=0) == []
    since = lg.read_logs(path, since=T0 + 8 * 10**9)
    assert [e.data for e in since] == [b"line 7\n", b"line 8\n", b"line 9\n"]
    until = lg.read_logs(path, until=T0 + 2 * 10**9)
    assert [e.data for e in until] == [b"line 0\n", b"line 1\n"]
    err = lg.read_logs(path, streams=frozenset({"stderr"}))
    assert {e.stream for e in err} == {"stderr"} and len(err) == 5


def test_follow_sees_new_lines_across_rotation(tmp_path):
    path = str(tmp_path / "c-json.log")
    done = threading.Event()
    w = lg.JsonFileWriter(path, lg.LogConfig(max_size=300, max_file=2), clock=Clock())
    w.write("stdout", b"first\n")

    def writer():
        for i in range(20):
            time.sleep(0.01)
            w.write("stdout", b"more %d\n" % i)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = [e.data for e in lg.follow_logs(path, max_file=2, tail=1, is_done=done.is_set, poll=0.005)]
    t.join()
    w.close()
    assert seen[0] == b"first\n"
    assert seen[1:] == [b"more %d\n" % i for i in range(20)]
