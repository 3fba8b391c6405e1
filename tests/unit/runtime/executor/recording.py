"""RecordingSyscalls: a fake kernel for the child steps (pure logic tests, no root).

Every LinuxSyscalls method is recorded as (name, args); queries answer from a small in-memory
view (`dirs`, `files`, `mounts`) so the steps take their normal paths.
"""

from __future__ import annotations

from runtime.executor import syscalls as sc


class RecordingSyscalls:
    def __init__(self, *, dirs=(), files=None, mounts=()) -> None:
        self.calls: list[tuple] = []
        self.dirs = set(dirs)
        self.files = dict(files or {})
        self.mounts = set(mounts)

    def __getattr__(self, name):
        if not hasattr(sc.LinuxSyscalls, name):
            raise AttributeError(name)

        def record(*args):
            self.calls.append((name, *args))
            if name == "mount":
                self.mounts.add(args[1])
            if name in ("makedirs", "mkdir"):
                self.dirs.add(args[0])
            if name in ("dup_above", "open_ns"):
                return 100 + len(self.calls)
            if name == "fork":
                return 0
            return None
        return record

    # queries
    def lexists(self, path): return path in self.dirs or path in self.files
    def exists(self, path): return self.lexists(path)
    def isdir(self, path): return path in self.dirs
    def islink(self, path): return False
    def ismount(self, path): return path in self.mounts
    def is_executable_file(self, path): return path in self.files
    def listdir(self, path): return []
    def read_text(self, path): return self.files.get(path, "")
    def owner_and_mode(self, path): return (0, 0, 0o755)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def index(self, predicate) -> int:
        for i, c in enumerate(self.calls):
            if predicate(c):
                return i
        raise AssertionError("no such call")
