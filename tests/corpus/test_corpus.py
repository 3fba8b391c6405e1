"""The loader over the real-world corpus: valid cases load within their scope, invalid ones
are rejected, and where the corpus quotes the expected error ours names the same key or value.
"""

from __future__ import annotations

import pytest

from orchestrator.errors import StackFileError
from orchestrator.loader import LoadOptions, load_stack
from tests.corpus.corpus import (expected_tokens, lay_out, load_manifest, shared_dir, stub_environment,
                                 write_group_stubs)

SHARED = shared_dir()
CASES = load_manifest(SHARED) if SHARED else []
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(SHARED is None, reason="../shared/corpus is not present next to the repository"),
]


# Cases the corpus cannot reproduce on disk, with why. They must still fail cleanly, with a
# not-found error for the file the corpus lacks (checked below), never crash.
CORPUS_GAPS = {
    "compose-go/loader__extends_test.go__TestLoadExtendsListenerMultipleFiles__1":
        "extends loader/sub/compose.yaml, which the Go test writes in memory",
    "compose-go/loader__include_test.go__TestNestedIncludeAndExtends__3":
        "includes loader/dir/included.yaml, which the Go test writes in memory",
    "compose-go/loader__loader_test.go__TestLoadExtendsMultipleFiles__1":
        "extends loader/a/compose.yaml and loader/b/compose.yaml, written in memory by the Go test",
    "compose-go/loader__loader_test.go__TestLoadExtendsMultipleFiles__2":
        "extends loader/a/compose.yaml and loader/b/compose.yaml, written in memory by the Go test",
}
# Parts of multi-file scenarios whose partner files the corpus does not say: checked for
# parsing, interpolation and schema only.
UNKNOWN_COMBINATION = {
    "kompose/script__test__fixtures__unused__merge-multiple-compose__compose-new-service-prob",
    "kompose/script__test__fixtures__unused__merge-multiple-compose__compose-port-prod",
    "kompose/script__test__fixtures__unused__merge-multiple-compose__other-toplevel-base",
}
# Files whose own comments say which files they are laid over (`-f a -f b`).
LAID_OVER = {
    "laradock/docker-compose.multi-php": ["docker-compose.yml"],
}
# Where we deliberately disagree with the corpus's category, and why (README documents it).
DISAGREEMENTS = {
    # valid in the corpus, rejected here
    "docker-compose/pkg__e2e__testdata__TestUpContainerNameConflict__compose":
        ("rejected", "two services set the same container_name; compose-go's own "
                     "TestValidateContainerName (invalid in this corpus) rejects exactly this"),
    # invalid in the corpus, accepted here
    "podman-compose/tests__integration__build_secrets__docker-compose.yaml.invalid":
        ("accepted", "a podman-compose rule (build secret target must be a file name); the Compose "
                     "spec and compose-go accept an absolute target"),
}
# Valid cases whose variables the manifest does not list (the Go test sets them).
UNSTUBBED = {
    "compose-go/loader__loader_test.go__TestLoadWithInterpolationCastFull__1":
        "every typed field is `${VAR}`; the Go test sets the variables, the manifest lists none",
}


def _options(case, files, root) -> LoadOptions:
    # A file that is only ever included or extended is checked for consistency as part of
    # the file that uses it (its own case); alone it may name networks it does not declare.
    # An invalid case is checked with every phase on: it must be rejected, for the reason
    # the corpus names.
    fragment = case.role in ("include-target", "extends-base") and case.category == "valid"
    return LoadOptions(
        files=tuple(files),
        cwd=str(root),
        environ=stub_environment(case),
        # Valid files are checked as CI would without the deployment's secrets: companion
        # env/label files that the corpus does not carry are warnings, not errors.
        hermetic=case.category == "valid",
        consistency=((case.scope == "full" and not fragment and case.id not in UNKNOWN_COMBINATION)
                     or case.category == "invalid"),
        validate_schema=case.scope != "no-validation",
    )


def _load(case, tmp_path):
    files = LAID_OVER.get(case.id, []) + lay_out(case, CASES, SHARED, tmp_path)
    if case.category == "valid":
        write_group_stubs(case, CASES, (tmp_path / files[0]).parent)
    return load_stack(_options(case, files, tmp_path))


@pytest.mark.parametrize("case", [c for c in CASES if c.category == "valid" and not c.row["missing_refs"]
                                  and c.id not in CORPUS_GAPS and c.id not in UNSTUBBED
                                  and c.id not in DISAGREEMENTS], ids=lambda c: c.id)
def test_corpus_valid_case_loads(case, tmp_path):
    try:
        _load(case, tmp_path)
    except StackFileError as exc:
        pytest.fail(f"{case.id} ({case.row['path']}) should load:\n{exc}")


@pytest.mark.parametrize("case", [c for c in CASES if c.row["missing_refs"] or c.id in CORPUS_GAPS],
                         ids=lambda c: c.id)
def test_corpus_missing_reference_is_a_not_found_error(case, tmp_path):
    with pytest.raises(StackFileError) as info:
        _load(case, tmp_path)
    assert "not found" in str(info.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.category == "invalid" and not c.row["missing_refs"]
                                  and c.id not in DISAGREEMENTS], ids=lambda c: c.id)
def test_corpus_invalid_case_is_rejected(case, tmp_path):
    with pytest.raises(StackFileError) as info:
        _load(case, tmp_path)
    text = str(info.value)
    assert "Traceback" not in text
    tokens = expected_tokens(case.expected_error)
    if tokens:
        assert any(t.lower() in text.lower() for t in tokens), (
            f"expected an error naming one of {tokens} (corpus: {case.expected_error!r}); got:\n{text}")


@pytest.mark.parametrize("case", [c for c in CASES if c.id in UNSTUBBED], ids=lambda c: c.id)
def test_corpus_unstubbed_typed_fields_fail_with_cast_errors(case, tmp_path):
    with pytest.raises(StackFileError) as info:
        _load(case, tmp_path)
    assert all("after interpolation" in d.message for d in info.value.errors)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in DISAGREEMENTS], ids=lambda c: c.id)
def test_corpus_documented_disagreements_hold(case, tmp_path):
    outcome, _reason = DISAGREEMENTS[case.id]
    if outcome == "accepted":
        _load(case, tmp_path)
    else:
        with pytest.raises(StackFileError):
            _load(case, tmp_path)
