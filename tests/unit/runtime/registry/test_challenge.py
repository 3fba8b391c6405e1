"""WWW-Authenticate parsing and scope strings."""

from runtime.registry.challenge import merge_scopes, parse_challenges, repository_scope


def test_parse_challenges_bearer_with_quoted_params():
    [challenge] = parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:samalba/my-app:pull,push"')
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.service == "registry.example"
    assert challenge.scopes == ["repository:samalba/my-app:pull,push"]


def test_parse_challenges_basic_and_escapes_and_tokens():
    challenges = parse_challenges('Basic realm="a \\"quoted\\" realm", charset=UTF-8')
    assert challenges[0].scheme == "basic"
    assert challenges[0].realm == 'a "quoted" realm'
    assert challenges[0].params["charset"] == "UTF-8"


def test_parse_challenges_several_schemes_and_error_param():
    challenges = parse_challenges('Basic realm="x", Bearer realm="https://t/token",error="insufficient_scope",'
                                  'scope="repository:a:pull repository:b:pull"')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[1].params["error"] == "insufficient_scope"
    assert challenges[1].scopes == ["repository:a:pull", "repository:b:pull"]


def test_parse_challenges_empty_and_garbage():
    assert parse_challenges("") == []
    assert parse_challenges("Bearer")[0].params == {}
    assert parse_challenges('Bearer realm="unterminated')[0].realm == "unterminated"


def test_repository_scope_orders_actions():
    assert repository_scope("library/busybox", ["push", "pull", "push"]) == "repository:library/busybox:pull,push"


def test_merge_scopes_unions_actions_per_repository():
    merged = merge_scopes(["repository:a/b:pull"], ["repository:a/b:push", "repository:c:pull"])
    assert merged == ("repository:a/b:pull,push", "repository:c:pull")
    assert merge_scopes(["registry:catalog:*"]) == ("registry:catalog:*",)
    assert merge_scopes(["repository:host:5000/x:pull"]) == ("repository:host:5000/x:pull",)
