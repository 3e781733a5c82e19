"""Real servers on loopback for delivery tests: an SMTP server (aiosmtpd) and an SMS provider.

``MailServer`` records every message it accepts (parsed, by Message-ID) and can be stopped and
started again on the same port, refuse recipients, or stall on the n-th message (after taking it) until released.
``SmsProvider`` is a small HTTP app with the common REST shape: it records each form POST and
answers with the status codes it is told to, 201 with a ``sid`` otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import email
import email.policy
import ipaddress
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key) that a client trusts via SSL_CERT_FILE."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_EHLO(  # noqa: N802
        self, _server: Any, session: Any, _envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.server.lock:
            self.server.greetings += 1
        return responses

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.server.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        server = self.server
        with server.lock:
            server.data_commands += 1
            number = server.data_commands
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        # Queued for delivery first, then (when told to) slow to say so: the client cannot know.
        with server.lock:
            server.messages.append(message)
            server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if number == server.stall_on:
            server.stalled.set()
            while not server.release.is_set():
                await asyncio.sleep(0.02)
        return "250 Message accepted for delivery"


class MailServer:
    """aiosmtpd on 127.0.0.1 on a fixed free port; ``url`` is the app's MI_MAIL for it."""

    def __init__(
        self,
        tls: str = "none",
        certificate: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.tls = tls
        self.certificate = certificate
        self.login = login
        self.greetings = 0  # EHLOs: one per connection
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()
        self.stall_on: int | None = None  # the n-th DATA (1-based) waits for ``release``
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.data_commands = 0
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        user = f"{quote(self.login[0])}:{quote(self.login[1])}@" if self.login else ""
        return f"smtp://{user}127.0.0.1:{self.port}?tls={self.tls}&timeout=30"

    def _authenticate(
        self, _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.login is not None
        ok = ok and (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    def start(self) -> MailServer:
        options: dict[str, Any] = {}
        implicit: ssl.SSLContext | None = None
        if self.tls != "none":
            assert self.certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.certificate)
            if self.tls == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                implicit = context
        if self.login:
            # aiosmtpd counts only STARTTLS as TLS; an implicit-TLS socket is encrypted already.
            options.update(
                authenticator=self._authenticate, auth_require_tls=self.tls == "starttls"
            )
            options.update(auth_required=True)
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ssl_context=implicit, **options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def ids(self) -> collections.Counter[str]:
        """How often each Message-ID arrived."""
        with self.lock:
            return collections.Counter(str(m["Message-ID"]) for m in self.messages)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)


@contextmanager
def running_mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    try:
        yield server
    finally:
        server.release.set()
        server.stop()


@dataclass
class SmsPost:
    path: str
    form: dict[str, str]
    account: str
    token: str
    idempotency_key: str | None


@dataclass
class SmsProvider:
    """A loopback SMS provider: ``answers`` is a queue of status codes to reply with first."""

    account: str = "AC0123456789"
    token: str = "secret-token"
    answers: collections.deque[int] = field(default_factory=collections.deque)
    posts: list[SmsPost] = field(default_factory=list)
    port: int = 0
    _sids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://{self.account}:{self.token}@127.0.0.1:{self.port}/2010-04-01"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        auth = request.headers.get("Authorization", "")
        account, _, token = (
            base64.b64decode(auth[6:]).decode().partition(":")
            if auth.startswith("Basic ")
            else ("", "", "")
        )
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        self.posts.append(
            SmsPost(request.path, form, account, token, request.headers.get("Idempotency-Key"))
        )
        if (account, token) != (self.account, self.token):
            return Response("{}", status=401)(environ, start_response)
        status = self.answers.popleft() if self.answers else 201
        body: dict[str, Any] = {"status": "queued"}
        if status < 300:
            body["sid"] = f"SM{next(self._sids):032x}"
        return Response(json.dumps(body), status=status, mimetype="application/json")(
            environ, start_response
        )


@contextmanager
def running_sms_provider() -> Iterator[SmsProvider]:
    provider = SmsProvider()
    server = make_server("127.0.0.1", 0, provider, threaded=True)
    provider.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
