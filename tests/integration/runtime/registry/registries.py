"""docker-registry variants for the client tests: htpasswd Basic auth, token auth, TLS.

Each is a PrivateRegistry (tests/integration/registry.py: temp dir, free loopback port,
stopped by PID) with extra configuration. Used as fixtures by the tests in this directory.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from tests.integration.registry import PrivateRegistry

try:
    import bcrypt
except ImportError:  # the `test` extra has it; without it the htpasswd tests skip with this reason
    bcrypt = None
MISSING_BCRYPT = "needs the bcrypt package (pip install bcrypt) to write htpasswd files"


class ConfiguredRegistry(PrivateRegistry):
    """A registry whose config.yml gets `extra` (YAML at top level, e.g. an `auth:` section)."""

    def __init__(self, extra: str = "", *, tls: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.extra = extra
        self.tls = tls  # (certificate, key) files: serve HTTPS
        self.tls_extra = ""  # more `http.tls` settings (YAML indented 4), e.g. clientcas

    def start(self, timeout: float = 20.0) -> None:
        config = self.root / "config.yml"
        http = f"http:\n  addr: {self.address}\n"
        if self.tls:
            http += f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n" + self.tls_extra
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n" + http + self.extra)
        with open(self.root / "registry.log", "wb") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        scheme = "https" if self.tls else "http"
        context = ssl._create_unverified_context() if self.tls else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{scheme}://{self.address}/v2/", timeout=1, context=context):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    return
            except (ssl.SSLError, urllib.error.URLError) as exc:
                tls_refusal = isinstance(exc, ssl.SSLError) or isinstance(getattr(exc, "reason", None), ssl.SSLError)
                if tls_refusal and "clientcas" in self.tls_extra:  # up, and asking for a client certificate
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        log_text = (self.root / "registry.log").read_text()[-2000:]
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {log_text}")


def write_htpasswd(path: str, users: dict[str, str]) -> None:
    """An htpasswd file with bcrypt hashes (the only kind distribution accepts)."""
    with open(path, "w") as handle:
        for user, password in users.items():
            handle.write(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    os.chmod(path, 0o600)


def htpasswd_registry(users: dict[str, str]) -> ConfiguredRegistry:
    registry = ConfiguredRegistry()
    path = registry.root / "htpasswd"
    write_htpasswd(str(path), users)
    registry.extra = f"auth:\n  htpasswd:\n    realm: sytest-basic\n    path: {path}\n"
    return registry


def token_registry(realm: str, service: str, issuer: str, signer_cert_pem: bytes) -> ConfiguredRegistry:
    """A registry trusting tokens signed by the key of `signer_cert_pem` (its rootcertbundle)."""
    registry = ConfiguredRegistry()
    bundle = registry.root / "token-signer.pem"
    bundle.write_bytes(signer_cert_pem)
    registry.extra = (f"auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n"
                      f"    rootcertbundle: {bundle}\n")
    return registry
