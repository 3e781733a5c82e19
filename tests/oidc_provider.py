"""A real OpenID Connect provider on loopback, for single-sign-on tests.

Discovery, JWKS, authorization endpoint (auto-approves as ``login_email``), and a token endpoint
that checks the client secret, redirect URI, PKCE S256 verifier and one-time code, then issues an
RS256-signed ID token. ``mode`` plants faults: a tampered signature, a wrong nonce, another
audience, an unverified email.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server


@dataclass
class Provider:
    client_id: str = "mi-portal"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    redirect_uris: set[str] = field(default_factory=set)
    login_email: str = ""
    email_verified: bool = True
    amr: list[str] = field(default_factory=lambda: ["pwd", "mfa"])
    mode: str = "ok"
    issuer: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.app = self._build()

    def _id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": hashlib.sha256(grant["email"].encode()).hexdigest()[:16],
            "aud": "someone-else" if self.mode == "wrong_audience" else self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce" if self.mode == "wrong_nonce" else grant["nonce"],
            "email": grant["email"],
            "email_verified": self.email_verified,
            "amr": self.amr,
        }
        token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        if self.mode == "bad_signature":
            head, body, sig = token.split(".")
            flipped = base64.urlsafe_b64decode(sig + "==")
            flipped = bytes([flipped[0] ^ 0xFF]) + flipped[1:]
            token = ".".join([head, body, base64.urlsafe_b64encode(flipped).rstrip(b"=").decode()])
        if self.mode == "forged_claims":
            head, _body, sig = token.split(".")
            other = dict(claims, email="admin@mi-portal.test")
            body = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
            token = ".".join([head, body, sig])
        return token

    def _build(self) -> Flask:
        app = Flask("test-oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():  # type: ignore[no-untyped-def]
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            )

        @app.get("/jwks")
        def jwks():  # type: ignore[no-untyped-def]
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize():  # type: ignore[no-untyped-def]
            args = request.args
            if (
                args.get("client_id") != self.client_id
                or args.get("redirect_uri") not in self.redirect_uris
            ):
                return "unknown client or redirect_uri", 400
            if args.get("response_type") != "code" or args.get("code_challenge_method") != "S256":
                return "code flow with PKCE S256 required", 400
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": args.get("nonce"),
                "challenge": args.get("code_challenge"),
                "redirect_uri": args["redirect_uri"],
                "email": self.login_email,
            }
            return redirect(
                f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}"
            )

        @app.post("/token")
        def token():  # type: ignore[no-untyped-def]
            self.token_requests += 1
            auth = request.authorization
            client_id = auth.username if auth else request.form.get("client_id")
            secret = auth.password if auth else request.form.get("client_secret")
            if client_id != self.client_id or secret != self.client_secret:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            expected = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if expected != grant["challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            return jsonify(
                access_token=secrets.token_urlsafe(16),
                token_type="Bearer",
                expires_in=300,
                id_token=self._id_token(grant),
            )

        return app


class RunningProvider:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.server = make_server("127.0.0.1", 0, provider.app, threaded=True)
        provider.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self.provider

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
