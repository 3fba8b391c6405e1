"""A token server for registry token auth (registry-spec auth/token.md), for the tests only.

Serves `GET /token?service=…&scope=…` (and the refresh-token `POST`) on 127.0.0.1, checks
Basic credentials against its users, grants the requested actions its ACL allows, and signs
RS256 JWTs with a key whose self-signed certificate the registry trusts (`rootcertbundle`);
the certificate travels in the JWT's `x5c` header. Counts the tokens it issues.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.integration.runtime.registry.pki import self_signed

SERVICE = "sytest-registry"
ISSUER = "sytest-issuer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    def __init__(self, users: dict[str, str], acl: dict[str, tuple[str, ...]], *,
                 anonymous: tuple[str, ...] = ("pull",), token_field: str = "token", expires_in: int = 300) -> None:
        """`acl[user]`: actions the user may have on every repository; `anonymous` for no credentials."""
        self.users, self.acl, self.anonymous = users, acl, anonymous
        self.token_field, self.expires_in = token_field, expires_in
        self.key, self.cert = self_signed("sytest token signer")
        self.issued: list[dict] = []  # {"account", "scopes", "granted"} per token
        self.refused = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                server.answer(self, self.headers.get("Authorization"), query.get("scope", []))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("refresh_token") or [""])[0]
                user = token.removeprefix("refresh-") if token.startswith("refresh-") else None
                auth = None
                if user in server.users:
                    auth = "Basic " + base64.b64encode(f"{user}:{server.users[user]}".encode()).decode()
                server.answer(self, auth or "Basic invalid", " ".join(form.get("scope", [])).split())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def start(self) -> "TokenServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def tokens_for(self, scope_part: str = "") -> list[dict]:
        with self.lock:
            return [t for t in self.issued if any(scope_part in s for s in t["scopes"]) or not scope_part]

    def _account(self, authorization: str | None) -> tuple[str | None, bool]:
        """(user, ok): (None, True) for anonymous, (user, False) for wrong credentials."""
        if not authorization:
            return None, True
        try:
            user, _, password = base64.b64decode(authorization.split(" ", 1)[1]).decode().partition(":")
        except (ValueError, IndexError):
            return None, False
        return user, self.users.get(user) == password

    def answer(self, handler: BaseHTTPRequestHandler, authorization: str | None, scopes: list[str]) -> None:
        user, ok = self._account(authorization)
        if not ok:
            with self.lock:
                self.refused += 1
            body = json.dumps({"details": "invalid username or password"}).encode()
            handler.send_response(401)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        allowed = set(self.acl.get(user, ()) if user else self.anonymous)
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            if kind == "repository" and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        with self.lock:
            self.issued.append({"account": user, "scopes": list(scopes), "granted": access})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{b64url(signature)}"
        reply = {self.token_field: token, "expires_in": self.expires_in,
                 "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        if user:
            reply["refresh_token"] = f"refresh-{user}"
        body = json.dumps(reply).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
