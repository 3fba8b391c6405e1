"""Pull benchmark: our pull+unpack vs skopeo copy + umoci unpack vs the machine's limits.

Run as root: `python3 bench/pull.py [--size-mb 100] [--runs 3] [--disk-dir /var/tmp]`.
Starts a private docker-registry on 127.0.0.1 (tests/integration/registry.py), pushes an image
with one random layer of --size-mb plus three small ones (skopeo, from an OCI layout we write),
then times, on tmpfs (/dev/shm) and on disk:
  ours     ImageService.pull (download, blob hash, gunzip, diff id, unpack into snapshots)
  skopeo   `skopeo copy docker://… oci:<dir>` + `umoci unpack`
  limits   sha256 and gunzip throughput of the big layer in memory, and a plain loopback
           download of its blob (httpx, to /dev/null)
  floor    (not a limit) the work any pull must do on the big layer (2x sha256, gunzip, 2x write
           to that filesystem) spread perfectly over the cores: what two cores allow at best
and a second pull of the same image, counting its requests through a counting proxy.
MB/s are of the compressed image size (what crosses the wire). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.integration.registry import PrivateRegistry, missing_registry  # noqa: E402
from tests.integration.runtime.images.layouts import Entry, Layout, layer_tar, skopeo_push  # noqa: E402

CHUNK = 1 << 20


def _median(values):
    return statistics.median(values) if values else float("nan")


def _build_image(workdir: str, size_mb: int):
    """Layout with one big random layer and three small ones; returns (layout, big blob, total MB)."""
    layout = Layout(os.path.join(workdir, "layout"))
    big = layer_tar([Entry("data", "dir", mode=0o755),
                     Entry("data/random.bin", data=os.urandom(size_mb * 1_000_000))])
    small = [layer_tar([Entry(f"etc/small{i}", data=os.urandom(2000) * 5)]) for i in range(3)]
    desc = layout.image([big] + small)
    layout.tag(desc, "bench")
    big_blob = gzip.compress(big, compresslevel=1, mtime=0)
    total = sum(os.path.getsize(os.path.join(layout.path, "blobs", "sha256", n))
                for n in os.listdir(os.path.join(layout.path, "blobs", "sha256")))
    return layout, big_blob, total / 1e6


def _limits(big_blob: bytes, registry: str, repo: str) -> dict[str, float]:
    mb = len(big_blob) / 1e6
    out = {}
    start = time.perf_counter()
    h = hashlib.sha256()
    for i in range(0, len(big_blob), CHUNK):
        h.update(big_blob[i:i + CHUNK])
    out["sha256"] = mb / (time.perf_counter() - start)
    start = time.perf_counter()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for i in range(0, len(big_blob), CHUNK):
        d.decompress(big_blob[i:i + CHUNK])
    out["gunzip"] = mb / (time.perf_counter() - start)
    import httpx
    digest = "sha256:" + hashlib.sha256(big_blob).hexdigest()
    # The client is made before the clock starts: building it loads the CA bundle (~20 ms),
    # which is no part of downloading a blob over plain HTTP (and our pull pays it once per
    # process, not per blob). Connecting, the request and the body are timed.
    with httpx.Client() as client:
        start = time.perf_counter()
        with client.stream("GET", f"http://{registry}/v2/{repo}/blobs/{digest}", follow_redirects=True) as reply:
            got = sum(len(c) for c in reply.iter_raw(CHUNK))
        out["download"] = mb / (time.perf_counter() - start)
    assert got == len(big_blob), (got, len(big_blob))
    return out


def _write_seconds(data: bytes, base: str) -> float:
    """Seconds to write `data` to a new file under `base` in 1 MiB pieces (page cache, no sync)."""
    fd, path = tempfile.mkstemp(prefix="sy-bench-write-", dir=base)
    try:
        view = memoryview(data)
        start = time.perf_counter()
        for i in range(0, len(view), CHUNK):
            os.write(fd, view[i:i + CHUNK])
        return time.perf_counter() - start
    finally:
        os.close(fd)
        os.unlink(path)


def _work_floor(big_blob: bytes, limits: dict[str, float], base: str) -> float:
    """Not a limit: the least wall time any pull+unpack of the big layer needs on this machine's
    cores for the work it cannot skip (two sha256 passes: blob digest and diff id; one gunzip;
    two writes: the blob into the content store and the file into the snapshot), measured
    here, if that work were spread perfectly over all cores. MB/s, of the big layer."""
    mb = len(big_blob) / 1e6
    write = min(_write_seconds(big_blob, base) for _ in range(3))
    seconds = 2 * mb / limits["sha256"] + mb / limits["gunzip"] + 2 * write
    return mb / (seconds / (os.cpu_count() or 1))


def _process_cpu(pid: int) -> float:
    """User+system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ours(base: str, ref: str, total_mb: float, runs: int, registry_pid: int) -> tuple[float, str]:
    """MB/s and a description that includes the CPU the pull costs (ours and the registry's):
    on N cores no pull can take less wall time than (our CPU + the registry's) / N."""
    from runtime.images import ImageService
    from runtime.registry import RegistryClient, RegistryConfig
    times, cpu, served = [], [], []
    root = ""
    for _ in range(runs):
        root = tempfile.mkdtemp(prefix="sy-bench-ours-", dir=base)
        with RegistryClient(RegistryConfig(docker_config_path=os.path.join(root, "no-config.json"))) as client:
            svc = ImageService(os.path.join(root, "store"), client)
            _drop_caches()
            before, registry_before = os.times(), _process_cpu(registry_pid)
            start = time.perf_counter()
            svc.pull(ref)
            _sync()
            times.append(time.perf_counter() - start)
            after = os.times()
            cpu.append(after.user + after.system - before.user - before.system)
            served.append(_process_cpu(registry_pid) - registry_before)
            svc.close()
        shutil.rmtree(root)
    floor = (_median(cpu) + _median(served)) / (os.cpu_count() or 1)
    return total_mb / _median(times), (f"{_median(times):.2f}s (CPU: ours {_median(cpu):.2f}s + registry "
                                       f"{_median(served):.2f}s; {os.cpu_count()}-core floor {floor:.2f}s "
                                       f"= {total_mb / floor:.0f} MB/s)")


def _second_pull(base: str, registry: str, repo: str) -> tuple[float, list[str]]:
    from runtime.images import ImageService
    from runtime.registry import RegistryClient, RegistryConfig
    from tests.integration.runtime.registry.faultproxy import FaultProxy
    proxy = FaultProxy(registry).start()
    root = tempfile.mkdtemp(prefix="sy-bench-second-", dir=base)
    try:
        with RegistryClient(RegistryConfig(docker_config_path=os.path.join(root, "no-config.json"))) as client:
            svc = ImageService(os.path.join(root, "store"), client)
            svc.pull(f"{proxy.address}/{repo}:bench")
            before = len(proxy.seen)
            start = time.perf_counter()
            svc.pull(f"{proxy.address}/{repo}:bench")
            elapsed = time.perf_counter() - start
            svc.close()
        return elapsed, [f"{s.method} {s.path}" for s in proxy.seen[before:]]
    finally:
        proxy.stop()
        shutil.rmtree(root)


def _skopeo_umoci(base: str, ref: str, total_mb: float, runs: int) -> tuple[float, str]:
    copies, unpacks = [], []
    for _ in range(runs):
        work = tempfile.mkdtemp(prefix="sy-bench-skopeo-", dir=base)
        _drop_caches()
        start = time.perf_counter()
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                        f"oci:{work}/layout:bench"], check=True, capture_output=True)
        _sync()
        mid = time.perf_counter()
        subprocess.run(["umoci", "unpack", "--image", f"{work}/layout:bench", f"{work}/bundle"],
                       check=True, capture_output=True)
        _sync()
        end = time.perf_counter()
        copies.append(mid - start)
        unpacks.append(end - mid)
        shutil.rmtree(work)
    total = _median(copies) + _median(unpacks)
    return total_mb / total, f"{total:.2f}s (copy {_median(copies):.2f}s + unpack {_median(unpacks):.2f}s)"


def _sync() -> None:
    os.sync()


def _drop_caches() -> None:
    # Only the page cache of what was written before: the next run starts from the same state.
    os.sync()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--disk-runs", type=int, default=1)
    parser.add_argument("--disk-dir", default="/var/tmp")
    parser.add_argument("--tmpfs-dir", default="/dev/shm")
    args = parser.parse_args()
    reason = missing_registry() or (None if shutil.which("skopeo") and shutil.which("umoci")
                                    else "needs skopeo and umoci")
    if reason or os.geteuid() != 0:
        print(f"bench/pull.py: {reason or 'needs root'}", file=sys.stderr)
        return 2
    registry = PrivateRegistry()
    registry.start()
    work = tempfile.mkdtemp(prefix="sy-bench-", dir=args.tmpfs_dir)
    try:
        layout, big_blob, total_mb = _build_image(work, args.size_mb)
        repo = "bench/pull"
        skopeo_push(layout.path, "bench", registry.address, repo)
        ref = f"{registry.address}/{repo}:bench"
        print(f"image: {total_mb:.1f} MB compressed (one {len(big_blob) / 1e6:.1f} MB random layer + 3 small), "
              f"{os.cpu_count()} CPUs")
        limits = {}
        for _ in range(3):
            for key, value in _limits(big_blob, registry.address, repo).items():
                limits.setdefault(key, []).append(value)
        limit_mbs = {k: _median(v) for k, v in limits.items()}
        slowest = min(limit_mbs.values())
        print("limits (MB/s, median of 3): " + ", ".join(f"{k} {v:.0f}" for k, v in limit_mbs.items())
              + f"; slowest {slowest:.0f}")
        for label, base, runs in (("tmpfs", args.tmpfs_dir, args.runs), ("disk", args.disk_dir, args.disk_runs)):
            ours, ours_t = _ours(base, ref, total_mb, runs, registry.process.pid)
            theirs, theirs_t = _skopeo_umoci(base, ref, total_mb, runs)
            print(f"[{label}] ours pull+unpack:       {ours:7.1f} MB/s  {ours_t}")
            print(f"[{label}] skopeo copy+umoci:      {theirs:7.1f} MB/s  {theirs_t}")
            print(f"[{label}] work floor (not a limit): {_work_floor(big_blob, limit_mbs, base):.0f} MB/s for 2x sha256 "
                  f"+ gunzip + 2x write spread over {os.cpu_count()} cores, before any network or registry CPU")
            print(f"[{label}] ours / skopeo+umoci = {ours / theirs:.2f} (target >= 1.0); "
                  f"ours / slowest limit = {ours / slowest:.2f} (target >= 0.8)")
        elapsed, requests = _second_pull(args.tmpfs_dir, registry.address, repo)
        print(f"second pull: {elapsed * 1000:.0f} ms, {len(requests)} request(s): {', '.join(requests)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
