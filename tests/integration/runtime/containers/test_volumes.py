import pytest

from runtime import errdefs


def test_named_volume_persists_and_is_protected_while_used(env):
    m = env.manager
    first = env.run(["sh", "-c", "echo kept > /data/file"], HostConfig={"Binds": ["appdata:/data"]})
    assert m.wait(first)["StatusCode"] == 0
    info = m.inspect(first)
    assert info["Mounts"][0]["Type"] == "volume" and info["Mounts"][0]["Name"] == "appdata"
    assert m.volumes.inspect("appdata")["Mountpoint"] == info["Mounts"][0]["Source"]
    second = env.run(["cat", "/data/file", "/data/seed.txt"], HostConfig={"Binds": ["appdata:/data"]})
    m.wait(second)
    # The image's /data was copied into the fresh volume on first use, as Docker does.
    assert b"".join(l for _, l in m.logs(second)) == b"kept\nfrom-image\n"
    with pytest.raises(errdefs.Conflict, match="volume is in use"):
        m.volumes.remove("appdata")
    m.remove(first)
    m.remove(second)
    m.volumes.remove("appdata")


def test_anonymous_volume_removed_with_v(env):
    m = env.manager
    cid = env.run(["sh", "-c", "echo x > /cache/f"], Volumes={"/cache": {}})
    m.wait(cid)
    name = m.inspect(cid)["Mounts"][0]["Name"]
    assert len(name) == 64 and m.volumes.exists(name)
    m.remove(cid, volumes=True)
    assert not m.volumes.exists(name)
