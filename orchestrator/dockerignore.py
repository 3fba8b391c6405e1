""".dockerignore: which files of a build context are left out, with Docker's rules.

Called by `engine.build` while it tars a build context. Pure (no file system access): the
caller reads the file and asks about each relative path. The rules are those of the docker
CLI (moby/patternmatcher, `ignorefile.ReadAll` and `MatchesOrParentMatches`):

* one pattern per line; a line starting with `#` is a comment; blank lines are ignored;
  surrounding whitespace is trimmed; a leading `/` is dropped (patterns are relative to the
  context root) and each pattern is cleaned like Go's `filepath.Clean` (`a/../b` -> `b`);
* `*` matches any run of characters except `/`, `?` one character except `/`, `[...]` a
  character class, `\\` escapes the next character, `**` any number of directories (also
  none), so `**/x` matches `x` at any depth and `a/**` everything below `a`;
* a pattern excludes a path when it matches the path or one of its parent directories;
* `!pattern` re-includes what it matches; the LAST matching line decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str             # cleaned pattern, without the `!`
    exclusion: bool       # True for a `!` line (re-includes)
    regex: re.Pattern


def parse(text: str) -> list[Pattern]:
    """The patterns of a .dockerignore file's text, in order.

    Raises:
        ValueError: a pattern that cannot be compiled (e.g. an unclosed `[`), naming it.
    """
    patterns = []
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line.lstrip("/") or "/"
        try:
            regex = re.compile(_to_regex(line))
        except re.error as exc:
            raise ValueError(f".dockerignore line {number}: invalid pattern {line!r}: {exc}") from None
        patterns.append(Pattern(line, exclusion, regex))
    return patterns


def _to_regex(pattern: str) -> str:
    """Docker's translation of a pattern into an anchored regular expression."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":   # `**/` is read as `**`
                    i += 1
                # `**` at the end matches everything; elsewhere any number of directories.
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(r"\\")
        elif ch == "[":
            # A character class passes through, as Go's filepath.Match reads it: `[^...]`
            # negates (`!` is an ordinary character there, unlike in shells).
            end = pattern.find("]", i + 1 if i < n and pattern[i] == "^" else i)
            if end < 0:
                raise re.error("unclosed [")
            out.append("[" + pattern[i:end].replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(ch))
    out.append("$")
    return "".join(out)


class Matcher:
    """Answers `excluded(path)` for paths relative to the context root (`/`-separated)."""

    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns
        self.has_exclusions = any(p.exclusion for p in patterns)

    @classmethod
    def from_text(cls, text: str) -> "Matcher":
        return cls(parse(text))

    def excluded(self, path: str) -> bool:
        path = posixpath.normpath(path)
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            # An include only matters for a path already excluded, and vice versa.
            if pattern.exclusion != matched:
                continue
            match = bool(pattern.regex.match(path))
            if not match and parents:
                for depth in range(1, len(parents) + 1):
                    if pattern.regex.match("/".join(parents[:depth])):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched

    def can_include_below(self, directory: str) -> bool:
        """Whether an excluded `directory` must still be walked because a `!` pattern may
        re-include something inside. Docker's rule, kept as is so the same files are sent:
        walk it only when some `!` pattern's text (plus `/`) starts with `directory/`."""
        prefix = posixpath.normpath(directory) + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
