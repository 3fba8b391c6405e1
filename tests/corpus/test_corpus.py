"""The loader over the real-world corpus: valid cases load within their scope, invalid ones
are rejected, and where the corpus quotes the expected error ours names the same key or value.
"""

from __future__ import annotations

import pytest

from orchestrator.errors import StackFileError
from orchestrator.loader import LoadOptions, load_stack
from tests.corpus.corpus import expected_tokens, lay_out, load_manifest, shared_dir, stub_environment

SHARED = shared_dir()
CASES = load_manifest(SHARED) if SHARED else []
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(SHARED is None, reason="../shared/corpus is not present next to the repository"),
]


def _options(case, files, root) -> LoadOptions:
    return LoadOptions(
        files=tuple(files),
        cwd=str(root),
        environ=stub_environment(case),
        consistency=case.scope == "full",
        validate_schema=case.scope != "no-validation",
    )


def _load(case, tmp_path):
    files = lay_out(case, CASES, SHARED, tmp_path)
    return load_stack(_options(case, files, tmp_path))


@pytest.mark.parametrize("case", [c for c in CASES if c.category == "valid" and not c.row["missing_refs"]],
                         ids=lambda c: c.id)
def test_corpus_valid_case_loads(case, tmp_path):
    try:
        _load(case, tmp_path)
    except StackFileError as exc:
        pytest.fail(f"{case.id} ({case.row['path']}) should load:\n{exc}")


@pytest.mark.parametrize("case", [c for c in CASES if c.row["missing_refs"]], ids=lambda c: c.id)
def test_corpus_missing_reference_is_a_not_found_error(case, tmp_path):
    with pytest.raises(StackFileError) as info:
        _load(case, tmp_path)
    assert "not found" in str(info.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.category == "invalid" and not c.row["missing_refs"]],
                         ids=lambda c: c.id)
def test_corpus_invalid_case_is_rejected(case, tmp_path):
    with pytest.raises(StackFileError) as info:
        _load(case, tmp_path)
    text = str(info.value)
    assert "Traceback" not in text
    tokens = expected_tokens(case.expected_error)
    if tokens:
        assert any(t.lower() in text.lower() for t in tokens), (
            f"expected an error naming one of {tokens} (corpus: {case.expected_error!r}); got:\n{text}")
