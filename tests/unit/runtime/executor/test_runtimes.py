"""Runtime names (pure): what a container records for HostConfig.Runtime, and what `docker info`
lists as installed."""

import pytest

from runtime import errdefs
from runtime.config import make_config
from runtime.executor.runtimes import available_runtimes, check_runtime, resolve_runtime

INSTALLED = {"native": "stackyard-native", "crun": "/usr/bin/crun"}


def test_empty_runtime_takes_the_daemons_default():
    assert resolve_runtime("", "crun", INSTALLED) == "crun"
    assert resolve_runtime(None, "native", INSTALLED) == "native"
    assert resolve_runtime("native", "crun", INSTALLED) == "native"  # an explicit choice wins
    assert resolve_runtime("stackyard", "crun", INSTALLED) == "native"  # our other name for it


@pytest.mark.parametrize("name", ["kata", "io.containerd.runc.v2", "CRUN"])
def test_unknown_runtime_is_refused_in_dockers_words(name):
    with pytest.raises(errdefs.InvalidArgument) as caught:
        resolve_runtime(name, "native", INSTALLED)
    assert str(caught.value) == f"unknown or invalid runtime name: {name}"


def test_a_runtime_that_is_not_installed_is_refused_and_says_so():
    with pytest.raises(errdefs.InvalidArgument, match=r"^unknown or invalid runtime name: runc \(runc is not installed"):
        resolve_runtime("runc", "native", INSTALLED)
    with pytest.raises(errdefs.InvalidArgument, match="the daemon's default-runtime; runc is not installed"):
        resolve_runtime("", "runc", INSTALLED)


def test_non_string_runtime_is_refused():
    with pytest.raises(errdefs.InvalidArgument, match="HostConfig.Runtime must be a string"):
        check_runtime(3)


def test_available_runtimes_lists_native_and_what_is_on_path():
    paths = {"runc": "/usr/sbin/runc"}
    assert available_runtimes(paths.get) == {"native": "stackyard-native", "runc": "/usr/sbin/runc"}
    assert available_runtimes(lambda _name: None) == {"native": "stackyard-native"}


def test_daemon_json_default_runtime_is_checked_and_normalised():
    assert make_config({}).default_runtime == "native"
    assert make_config({"default-runtime": "runc"}).default_runtime == "runc"
    assert make_config({"default-runtime": "stackyard"}).default_runtime == "native"
    with pytest.raises(errdefs.InvalidArgument, match="^default-runtime: unknown or invalid runtime name: kata$"):
        make_config({"default-runtime": "kata"})
