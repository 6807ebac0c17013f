"""A small fake OpenID Connect provider on 127.0.0.1 for the fast SSO tests: it serves a
discovery document (or garbage, or another issuer's), a JWKS of a key the test holds, a token
endpoint answering with whatever ID token the test made, and userinfo. Tokens are built with
joserfc, so a test can sign with another key, for another audience, expired, with another nonce.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class FakeIdp:
    """Answers as told: `discovery` ("ok", "garbage", "not_object", "other_issuer", "error"),
    the ID token the token endpoint hands out next, and the userinfo claims."""

    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.discovery = "ok"
        self.id_token: str | None = None
        self.userinfo: dict[str, Any] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        self.client_id = "fake-client"
        idp = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, kind: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    idp._discovery(self)
                elif self.path == "/jwks":
                    self._answer(200, KeySet([idp.key]).as_dict(private=False))
                elif self.path == "/userinfo":
                    self._answer(200, idp.userinfo)
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                idp.token_requests.append(form)
                if self.path == "/token" and idp.id_token:
                    self._answer(
                        200,
                        {"access_token": "at-1", "token_type": "Bearer", "id_token": idp.id_token},
                    )
                else:
                    self._answer(400, {"error": "invalid_grant"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def document(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _discovery(self, handler: Any) -> None:
        mode = self.discovery
        if mode == "garbage":
            handler._answer(200, b"<html>It works!</html>", "text/html")
        elif mode == "not_object":
            handler._answer(200, ["issuer"])
        elif mode == "other_issuer":
            handler._answer(200, {**self.document(), "issuer": "https://login.other.example"})
        elif mode == "error":
            handler._answer(500, {"error": "down"})
        else:
            handler._answer(200, self.document())

    def token(self, key: RSAKey | None = None, header: dict | None = None, **claims: Any) -> str:
        """An ID token (or any JWT) with sensible defaults, signed with `key` (the IdP's own)."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "subject-1",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        signer = key or self.key
        header = {"alg": "RS256", "kid": signer.kid, **(header or {})}
        return jwt.encode(header, body, signer)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
