"""TLS settings for one registry: system CAs plus `<certs_dir>/<host:port>/` (docker's certs.d).

Called by `transport` when it opens a connection pool for an HTTPS endpoint. In the host's
directory, `*.crt` files are extra CAs and each `name.cert` must have its `name.key` (a client
certificate), exactly as dockerd reads /etc/docker/certs.d.
"""

from __future__ import annotations

import functools
import os
import ssl

from runtime import errdefs


def certs_files(directory: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(CA files, [(client cert, key)]) found in a certs.d directory; ([], []) if it is absent.

    Raises:
        errdefs.InvalidArgument: a client certificate without its key, or a key without its certificate.
    """
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise errdefs.from_oserror(exc, f"registry certificates directory {directory}") from exc
    cas = [os.path.join(directory, n) for n in names if n.endswith(".crt")]
    pairs = []
    for name in names:
        if name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in names:
                raise errdefs.InvalidArgument(
                    f"registry certificates directory {directory}: client certificate {name} has no key {key}")
            pairs.append((os.path.join(directory, name), os.path.join(directory, key)))
        elif name.endswith(".key") and name[: -len(".key")] + ".cert" not in names:
            raise errdefs.InvalidArgument(
                f"registry certificates directory {directory}: key {name} has no client certificate "
                f"{name[: -len('.key')]}.cert")
    return cas, pairs


def _new_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=2)
def _shared_context(verify: bool) -> ssl.SSLContext:
    """The context of hosts with no certs.d files, made once per process: loading the system
    CAs costs ~15 ms, which every new client (each CLI pull, each of the daemon's) paid again.
    Never changed after creation, so connections and threads may share it."""
    return _new_context(verify)


def ssl_context_for(host: str, certs_dir: str, *, verify: bool = True) -> ssl.SSLContext:
    """An SSL context trusting the system CAs and the host's certs.d CAs, with its client cert.

    `verify=False` (insecure registries only) accepts any server certificate, as dockerd does.

    Raises:
        errdefs.InvalidArgument: an unreadable or malformed certificate or key, naming the file.
    """
    cas, pairs = certs_files(os.path.join(certs_dir, host))
    if not cas and not pairs:
        return _shared_context(verify)
    context = _new_context(verify)
    for path in cas:
        try:
            context.load_verify_locations(cafile=path)
        except (ssl.SSLError, OSError) as exc:
            raise errdefs.InvalidArgument(f"registry {host}: CA certificate {path}: {exc}") from exc
    for cert, key in pairs:
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise errdefs.InvalidArgument(f"registry {host}: client certificate {cert} / {key}: {exc}") from exc
    return context
