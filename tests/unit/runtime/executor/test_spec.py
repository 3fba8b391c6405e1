"""build_spec: golden specs for typical create bodies, schema validity, and Docker's rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor.spec import SpecContext, build_spec
from tests.unit.runtime.executor.oci_schema import errors

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("STACKYARD_UPDATE_GOLDEN") == "1"


def ctx(**kw) -> SpecContext:
    base = dict(container_id="c0ffee1234567890abcdef", rootfs="/var/lib/stackyard/rootfs/c0ffee",
                rootfs_mounts=[{"type": "overlay", "source": "overlay",
                                "options": ["lowerdir=/l", "upperdir=/u", "workdir=/w"]}],
                image_config={"Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Cmd": ["sh"], "WorkingDir": "/srv",
                              "StopSignal": "SIGQUIT"},
                hostname_path="/run/sy/c/hostname", hosts_path="/run/sy/c/hosts",
                resolv_conf_path="/run/sy/c/resolv.conf", netns_path="/run/sy/netns/n1",
                volume_sources={"data": "/var/lib/stackyard/volumes/data/_data"})
    base.update(kw)
    return SpecContext(**base)


def summarize(spec: dict) -> dict:
    """The golden form: the seccomp section shortened to what identifies it."""
    out = json.loads(json.dumps(spec))
    sec = out.get("linux", {}).get("seccomp")
    if sec:
        names = sorted(n for r in sec["syscalls"] for n in r["names"])
        out["linux"]["seccomp"] = {"defaultAction": sec["defaultAction"], "architectures": sec.get("architectures"),
                                   "rules": len(sec["syscalls"]), "names": len(names),
                                   "allows_unshare_without_sys_admin": "unshare" in names}
    return out


CASES = {
    "minimal": {"Image": "busybox"},
    "web": {"Image": "web", "Cmd": ["httpd", "-f"], "Env": ["LANG=en_US", "PORT=80"], "User": "1000:1000",
            "Tty": True, "Hostname": "web", "Domainname": "example.test",
            "HostConfig": {"Memory": 64 << 20, "MemoryReservation": 32 << 20, "NanoCpus": 500_000_000,
                           "CpuShares": 512, "PidsLimit": 20, "Binds": ["data:/data", "/srv/site:/site:ro"],
                           "Tmpfs": {"/run": "size=65536k"}, "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
                           "SecurityOpt": ["no-new-privileges"], "ReadonlyRootfs": True, "ShmSize": 1 << 20,
                           "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                           "Sysctls": {"net.ipv4.ip_forward": "1"}, "Init": True}},
    "privileged_host": {"Image": "x", "Entrypoint": ["/bin/tool"], "User": "alice",
                        "HostConfig": {"Privileged": True, "PidMode": "host", "IpcMode": "host", "NetworkMode": "host",
                                       "GroupAdd": ["audio"],
                                       "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                                                    "CgroupPermissions": "rwm"}],
                                       "Mounts": [{"Type": "bind", "Source": "/srv/x", "Target": "/x", "ReadOnly": True,
                                                   "BindOptions": {"Propagation": "rslave", "CreateMountpoint": True}},
                                                  {"Type": "volume", "Source": "data", "Target": "/data",
                                                   "VolumeOptions": {"NoCopy": True}},
                                                  {"Type": "tmpfs", "Target": "/scratch",
                                                   "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o700}}]}},
    "unconfined": {"Image": "x", "Cmd": ["true"], "HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_spec_golden(name):
    kw = {"netns_path": "host"} if name == "privileged_host" else {}
    spec = build_spec(CASES[name], ctx(**kw))
    assert errors(spec) == []
    path = GOLDEN / f"{name}.json"
    got = summarize(spec)
    if UPDATE or not path.exists():
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_build_spec_default_seccomp_denies_unshare_without_sys_admin():
    spec = build_spec({"Image": "x", "Cmd": ["true"]}, ctx())
    names = {n for r in spec["linux"]["seccomp"]["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert "unshare" not in names and "mount" not in names and "read" in names
    spec = build_spec({"Image": "x", "Cmd": ["true"], "HostConfig": {"CapAdd": ["SYS_ADMIN"]}}, ctx())
    names = {n for r in spec["linux"]["seccomp"]["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert "unshare" in names and "mount" in names


def test_build_spec_entrypoint_override_drops_image_cmd():
    spec = build_spec({"Image": "x", "Entrypoint": ["echo"]}, ctx(image_config={"Entrypoint": ["sh", "-c"], "Cmd": ["x"]}))
    assert spec["process"]["args"] == ["echo"]
    spec = build_spec({"Image": "x", "Cmd": ["y"]}, ctx(image_config={"Entrypoint": ["sh", "-c"], "Cmd": ["x"]}))
    assert spec["process"]["args"] == ["sh", "-c", "y"]


@pytest.mark.parametrize("entry, cmd, expected", [
    (None, None, ["sh", "-c", "x"]),
    (None, [], ["sh", "-c", "x"]),        # an empty Cmd takes the image's
    ([], None, ["x"]),                    # an empty Entrypoint clears the image's, keeps its Cmd
    ([], ["y"], ["y"]),
    (["echo"], None, ["echo"]),
    ("echo", "hi", ["echo", "hi"]),
])
def test_build_spec_args_follow_mobys_merge(entry, cmd, expected):
    create = {"Image": "x"}
    if entry is not None:
        create["Entrypoint"] = entry
    if cmd is not None:
        create["Cmd"] = cmd
    spec = build_spec(create, ctx(image_config={"Entrypoint": ["sh", "-c"], "Cmd": ["x"]}))
    assert spec["process"]["args"] == expected


def test_build_spec_empty_user_takes_the_images():
    spec = build_spec({"Image": "x", "User": ""}, ctx(image_config={"Cmd": ["sh"], "User": "alice"}))
    assert spec["annotations"][ann.USER] == "alice"


def test_build_spec_readonly_rootfs_makes_network_files_readonly():
    spec = build_spec({"Image": "x", "HostConfig": {"ReadonlyRootfs": True}}, ctx())
    hosts = next(m for m in spec["mounts"] if m["destination"] == "/etc/hosts")
    assert "ro" in hosts["options"]


def test_build_spec_env_create_overrides_image_and_path_default():
    spec = build_spec({"Image": "x", "Env": ["LANG=fr", "NEW=1"]}, ctx(image_config={"Cmd": ["sh"], "Env": ["LANG=C"]}))
    env = spec["process"]["env"]
    assert env[0].startswith("PATH=/usr/local/sbin") and "LANG=fr" in env and "NEW=1" in env and "LANG=C" not in env
    assert "HOSTNAME=c0ffee123456" in env


def test_build_spec_memory_swap_defaults_to_twice_memory():
    spec = build_spec({"Image": "x", "HostConfig": {"Memory": 100 << 20}}, ctx())
    assert spec["linux"]["resources"]["memory"] == {"limit": 100 << 20, "swap": 200 << 20}


def test_build_spec_nonroot_user_gets_no_effective_caps_and_names_resolve_later():
    spec = build_spec({"Image": "x", "User": "alice:staff"}, ctx())
    assert spec["annotations"][ann.USER] == "alice:staff"
    spec = build_spec({"Image": "x", "User": "1000"}, ctx())
    assert spec["process"]["user"]["uid"] == 1000 and spec["process"]["capabilities"]["effective"] == []
    spec = build_spec({"Image": "x", "User": "alice"}, ctx(user=(1000, 1000, [50])))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}


@pytest.mark.parametrize("create, field", [
    ({"Image": "x", "Entrypoint": [""]}, "Cmd"),
    ({"Image": "x", "WorkingDir": "rel"}, "WorkingDir"),
    ({"Image": "x", "HostConfig": {"Memory": 1024}}, "HostConfig.Memory"),
    ({"Image": "x", "HostConfig": {"MemorySwap": 1 << 30}}, "HostConfig.MemorySwap"),
    ({"Image": "x", "HostConfig": {"NanoCpus": 10, "CpuQuota": 5}}, "HostConfig.NanoCpus"),
    ({"Image": "x", "HostConfig": {"CapAdd": ["NOPE"]}}, "HostConfig.CapAdd"),
    ({"Image": "x", "HostConfig": {"Binds": ["/a:rel"]}}, "HostConfig.Binds[0]"),
    ({"Image": "x", "HostConfig": {"Binds": ["/a:/b:bogus"]}}, "HostConfig.Binds[0]"),
    ({"Image": "x", "HostConfig": {"Ulimits": [{"Name": "nope", "Soft": 1, "Hard": 1}]}}, "HostConfig.Ulimits[0]"),
    ({"Image": "x", "HostConfig": {"Sysctls": {"kernel.hostname": "x"}}}, "HostConfig.Sysctls"),
    ({"Image": "x", "HostConfig": {"SecurityOpt": ["bogus=1"]}}, "HostConfig.SecurityOpt[0]"),
    ({"Image": "x", "HostConfig": {"BlkioWeight": 5}}, "HostConfig.BlkioWeight"),
    ({"Image": "x", "HostConfig": {"Tmpfs": {"/t": "bogus"}}}, "HostConfig.Tmpfs"),
    ({"Image": "x", "HostConfig": {"Binds": ["/a:/x", "/b:/x"]}}, "duplicate mount point"),
])
def test_build_spec_rejects_bad_input_naming_the_field(create, field):
    with pytest.raises(errdefs.InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        build_spec(create, ctx())


def test_build_spec_missing_named_volume_is_not_found():
    with pytest.raises(errdefs.NotFound, match="nope"):
        build_spec({"Image": "x", "HostConfig": {"Binds": ["nope:/x"]}}, ctx())


def test_build_spec_net_sysctl_refused_with_host_network():
    with pytest.raises(errdefs.InvalidArgument, match="net.core.somaxconn"):
        build_spec({"Image": "x", "HostConfig": {"Sysctls": {"net.core.somaxconn": "1"}}}, ctx(netns_path="host"))


def test_build_spec_records_the_runtime_and_refuses_unknown_ones():
    spec = build_spec({"Image": "x", "HostConfig": {"Runtime": "crun"}}, ctx())
    assert spec["annotations"]["io.stackyard.runtime"] == "crun"
    with pytest.raises(errdefs.InvalidArgument, match="^unknown or invalid runtime name: kata$"):
        build_spec({"Image": "x", "HostConfig": {"Runtime": "kata"}}, ctx())
