"""`.dockerignore` matching against Docker's documented rules (docs.docker.com, "Dockerignore
file", and moby/patternmatcher): comments, `*`/`?`/`**`, parent-directory matches, `!`
exceptions where the last matching line wins, leading `/` and path cleaning."""

import pytest

from orchestrator.dockerignore import Matcher, parse


def excluded(text: str, *paths: str) -> dict[str, bool]:
    matcher = Matcher.from_text(text)
    return {p: matcher.excluded(p) for p in paths}


def test_docs_example_star_and_double_star() -> None:
    # The example of Docker's documentation.
    text = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"
    assert excluded(text, "somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt",
                    "tempa", "tempab", "temp", "temporary.txt", "a/b/c/temp") == {
        "somedir/temporary.txt": True, "somedir/temp": True, "somedir/subdir/temporary.txt": True,
        "tempa": True, "tempab": False, "temp": False, "temporary.txt": False, "a/b/c/temp": False}


def test_double_star_matches_any_number_of_directories_including_none() -> None:
    assert excluded("**/*.go", "main.go", "a/main.go", "a/b/c/main.go", "main.goo") == {
        "main.go": True, "a/main.go": True, "a/b/c/main.go": True, "main.goo": False}
    assert excluded("a/**/b", "a/b", "a/x/b", "a/x/y/b", "b", "a/bb") == {
        "a/b": True, "a/x/b": True, "a/x/y/b": True, "b": False, "a/bb": False}
    assert excluded("a/**", "a/x", "a/x/y", "ab") == {"a/x": True, "a/x/y": True, "ab": False}


def test_star_does_not_cross_directories_but_parent_match_excludes_children() -> None:
    assert excluded("*.md", "README.md", "docs/README.md") == {"README.md": True, "docs/README.md": False}
    # A pattern matching a directory excludes everything below it.
    assert excluded("node_modules", "node_modules", "node_modules/x/y.js", "src/node_modules") == {
        "node_modules": True, "node_modules/x/y.js": True, "src/node_modules": False}


def test_exceptions_last_matching_line_wins() -> None:
    # Docker's documentation: README.md stays, other *.md go.
    assert excluded("*.md\n!README.md\n", "a.md", "README.md") == {"a.md": True, "README.md": False}
    # ... and a later pattern can exclude it again.
    assert excluded("*.md\n!README*.md\nREADME-secret.md\n", "README-public.md", "README-secret.md") == {
        "README-public.md": False, "README-secret.md": True}
    # An exception inside an excluded directory re-includes that file only.
    assert excluded("logs\n!logs/keep.txt\n", "logs/a.txt", "logs/keep.txt") == {
        "logs/a.txt": True, "logs/keep.txt": False}


def test_leading_slash_cleaning_blank_lines_and_whitespace() -> None:
    assert excluded("  /secret.txt  \n\n./build/../tmp\n", "secret.txt", "tmp", "build") == {
        "secret.txt": True, "tmp": True, "build": False}
    # `#` only starts a comment at the start of a line.
    assert excluded("#x\n a#b\n", "#x", "a#b") == {"#x": False, "a#b": True}


def test_question_mark_class_and_escape() -> None:
    assert excluded("file?.txt\n[ab].log\n\\*.txt\n", "file1.txt", "file12.txt", "a.log", "c.log",
                    "*.txt", "x.txt") == {"file1.txt": True, "file12.txt": False, "a.log": True,
                                          "c.log": False, "*.txt": True, "x.txt": False}


def test_character_class_negation_is_go_s_caret() -> None:
    # Go's filepath.Match: `[^a]` negates; `!` inside a class is an ordinary character.
    assert excluded("[^a].log\nx[!]y\n", "a.log", "b.log", "x!y", "xzy") == {
        "a.log": False, "b.log": True, "x!y": True, "xzy": False}


def test_directory_walk_rule_for_exceptions() -> None:
    # Docker only walks into an excluded directory when an exception's text starts with it.
    matcher = Matcher.from_text("vendor\n!vendor/keep\nbuild\n")
    assert matcher.can_include_below("vendor") is True
    assert matcher.can_include_below("build") is False


def test_invalid_pattern_is_an_error_naming_the_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse("ok\n[unclosed\n")
