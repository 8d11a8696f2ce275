"""A real SMTP server (aiosmtpd) that stores every accepted e-mail in the sandbox state.

The product sends its summary through `smtplib` exactly as it would to a real relay; tests
read the parsed message (to, from, subject, text, html, and its inline images: cid, type,
size, base64) back from `GET /_sandbox/emails`.
The "smtp.down" fault answers 421 (service not available) to every MAIL command. When the
credentials name an SMTP username, MAIL needs AUTH (PLAIN or LOGIN) with exactly that account.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from engagement_ranker.sandbox.state import SandboxState

SERVICE_UNAVAILABLE = "421 4.3.2 Service not available (sandbox fault: smtp down)"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
OK = "250 OK"


class SandboxMailbox:
    """aiosmtpd handler: refuses mail while the fault says down, else parses and stores it."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.state.faults.smtp.down:
            return SERVICE_UNAVAILABLE
        if self.state.credentials.smtp_username and not session.authenticated:
            return AUTH_REQUIRED
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.state.add_email(
            {
                "to": list(envelope.rcpt_tos),
                "from": envelope.mail_from,
                "subject": str(message.get("Subject", "")),
                "text": _body(message, "plain"),
                "html": _body(message, "html"),
                "images": _inline_images(message),
            }
        )
        return "250 Message accepted for delivery"


def _authenticator(state: SandboxState) -> Callable[..., AuthResult]:
    """Accept exactly the credentials' SMTP account (aiosmtpd's authenticator protocol)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        credentials = state.credentials
        valid = (
            isinstance(auth_data, LoginPassword)
            and credentials.smtp_username is not None
            and hmac.compare_digest(auth_data.login, credentials.smtp_username.encode())
            and hmac.compare_digest(auth_data.password, (credentials.smtp_password or "").encode())
        )
        return AuthResult(success=valid, handled=False)  # aiosmtpd answers 235 or 535

    return authenticate


def _body(message: EmailMessage, subtype: str) -> str | None:
    """The text or HTML part as its sender wrote it (SMTP's CRLF line ends turned back to LF)."""
    part = message.get_body(preferencelist=(subtype,))
    return None if part is None else str(part.get_content()).replace("\r\n", "\n")


def _inline_images(message: EmailMessage) -> list[dict[str, object]]:
    """Each picture carried inline: its Content-ID (without <>), type, size in bytes and the
    bytes themselves (base64)."""
    images = []
    for part in message.walk():
        if part["Content-ID"] is None:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        images.append(
            {
                "cid": str(part["Content-ID"]).strip("<>"),
                "content_type": part.get_content_type(),
                "bytes": len(data),
                "base64": base64.b64encode(data).decode("ascii"),
            }
        )
    return images


class _Controller(Controller):
    """aiosmtpd's Controller, taught to learn the port the OS picked when asked for port 0."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)  # what loop.create_server returns
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """The running SMTP server: `.host`, `.port`, `.shutdown()`."""

    def __init__(self, state: SandboxState, host: str, port: int) -> None:
        # No TLS in the sandbox, so AUTH is offered in the clear (it never leaves 127.0.0.1).
        self._controller = _Controller(
            SandboxMailbox(state),
            hostname=host,
            port=port,
            authenticator=_authenticator(state),
            auth_require_tls=False,
        )
        self._controller.start()
        self.host = host
        self.port: int = self._controller.port

    def shutdown(self) -> None:
        self._controller.stop()


def start_smtp_server(state: SandboxState, host: str = "127.0.0.1", port: int = 0) -> SmtpServer:
    """Run the SMTP server on host:port (0: a free port)."""
    return SmtpServer(state, host, port)
