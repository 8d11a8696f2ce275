"""SlackWebhook and EmailSender against real local servers: an HTTP stand-in that answers like
Slack's webhook endpoint (scripted 429/500/stall, Block Kit limits enforced) and aiosmtpd SMTP
servers, plain and with STARTTLS on a self-signed certificate."""

from __future__ import annotations

import email
import email.policy
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engagement_ranker.clients.notify import SLACK_ATTEMPTS, EmailSender, NotifyError, SlackWebhook
from engagement_ranker.core import render
from engagement_ranker.core.summary import Alert

SECRET_PATH = "/services/T000/B000/s3cr3tW3bh00kT0k3n"
STALL = 0  # scripted status meaning: hold the request without answering

# Slack's documented Block Kit limits (api.slack.com/reference/block-kit), written out here
# rather than imported so a wrong limit in the product cannot hide from the tests.
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_TEXT = 40000


def _section_ok(block: dict) -> bool:
    text = block.get("text", {}).get("text")
    fields = block.get("fields", [])
    return (
        (text is not None or bool(fields))
        and (text is None or 0 < len(text) <= MAX_SECTION)
        and len(fields) <= MAX_FIELDS
        and all(0 < len(f["text"]) <= MAX_FIELD for f in fields)
    )


def block_kit_problem(message: dict) -> str | None:
    """Slack's error code for a message it would reject, or None."""
    if not message.get("text") and not message.get("blocks"):
        return "no_text"
    if len(message.get("text", "")) > MAX_TEXT:
        return "msg_too_long"
    blocks = message.get("blocks", [])
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        if block["type"] == "header" and (
            block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > MAX_HEADER
        ):
            return "invalid_blocks"
        if block["type"] == "section" and not _section_ok(block):
            return "invalid_blocks"
    return None


@dataclass
class SlackStandIn:
    """Answers POSTs to SECRET_PATH like Slack; `script` answers come first, in order."""

    url: str = ""
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, message: dict) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.arrivals.append(time.monotonic())
            if path != SECRET_PATH:
                return 404, {}, "no_service"
            if self.script:
                return self.script.pop(0)
            problem = block_kit_problem(message)
            if problem:
                return 400, {}, problem
            self.accepted.append(message)
            return 200, {}, "ok"


class _SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        stand_in: SlackStandIn = self.server.stand_in  # type: ignore[attr-defined]
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, headers, body = stand_in.answer(self.path, message)
        if status == STALL:
            stand_in.release.wait(timeout=10)
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        """Quiet: the test asserts on what arrived instead."""


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHandler)
    server.daemon_threads = True
    stand_in = SlackStandIn(url=f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}")
    server.stand_in = stand_in  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield stand_in
    stand_in.release.set()
    server.shutdown()
    server.server_close()


def _message(text: str) -> dict:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _assert_secret_free(error: NotifyError, stand_in: SlackStandIn) -> None:
    assert stand_in.url not in str(error)
    assert "s3cr3t" not in str(error)


def test_posts_every_message_in_order(slack: SlackStandIn) -> None:
    SlackWebhook(slack.url, timeout=5).post([_message("one"), _message("two")])
    assert [m["text"] for m in slack.accepted] == ["one", "two"]


def test_ten_thousand_company_summary_and_an_alert_are_accepted(slack: SlackStandIn) -> None:
    from engagement_ranker_tests.core.test_render import huge_summary

    alert = Alert("2026-11-15", "hubspot_writeback", "boom\n" * 500, "nothing was written")
    messages = [*render.slack_messages(huge_summary()), *render.slack_messages(alert)]
    SlackWebhook(slack.url, timeout=5).post(messages)
    assert slack.accepted == messages


def test_429_waits_retry_after_then_posts(slack: SlackStandIn) -> None:
    slack.script.append((429, {"Retry-After": "1"}, "rate_limited"))
    SlackWebhook(slack.url, timeout=5).post([_message("after the pause")])
    assert [m["text"] for m in slack.accepted] == ["after the pause"]
    assert slack.arrivals[1] - slack.arrivals[0] >= 1.0


def test_429_longer_than_the_budget_fails_at_once(slack: SlackStandIn) -> None:
    slack.script.append((429, {"Retry-After": "120"}, "rate_limited"))
    started = time.monotonic()
    with pytest.raises(NotifyError, match="429") as caught:
        SlackWebhook(slack.url, timeout=5, max_retry_wait=10).post([_message("x")])
    assert time.monotonic() - started < 5
    assert len(slack.arrivals) == 1
    _assert_secret_free(caught.value, slack)


def test_5xx_is_retried_then_posts(slack: SlackStandIn) -> None:
    slack.script += [(500, {}, "")] * (SLACK_ATTEMPTS - 1)
    SlackWebhook(slack.url, timeout=5).post([_message("third time lucky")])
    assert len(slack.arrivals) == SLACK_ATTEMPTS
    assert [m["text"] for m in slack.accepted] == ["third time lucky"]


def test_persistent_5xx_gives_up_with_a_safe_error(slack: SlackStandIn) -> None:
    slack.script += [(503, {}, "")] * (SLACK_ATTEMPTS + 2)
    with pytest.raises(NotifyError, match="503") as caught:
        SlackWebhook(slack.url, timeout=5).post([_message("x")])
    assert len(slack.arrivals) == SLACK_ATTEMPTS
    _assert_secret_free(caught.value, slack)


def test_block_kit_rejection_surfaces_slacks_text(slack: SlackStandIn) -> None:
    too_many = {"text": "x", "blocks": [_message("b")["blocks"][0]] * (MAX_BLOCKS + 1)}
    with pytest.raises(NotifyError, match="invalid_blocks") as caught:
        SlackWebhook(slack.url, timeout=5).post([too_many])
    assert len(slack.arrivals) == 1, "a 400 is final, not retried"
    _assert_secret_free(caught.value, slack)


def test_revoked_webhook_names_the_setting_not_the_url(slack: SlackStandIn) -> None:
    revoked = slack.url.replace(SECRET_PATH, "/services/T000/B000/r3v0k3dS3cr3t")
    with pytest.raises(NotifyError, match="no_service") as caught:
        SlackWebhook(revoked, timeout=5).post([_message("x")])
    assert "SLACK_WEBHOOK_URL" in str(caught.value)
    assert "r3v0k3d" not in str(caught.value)


def test_failure_says_which_message_and_how_many_went_out(slack: SlackStandIn) -> None:
    with pytest.raises(NotifyError, match=r"message 2 of 3 .*1 posted before it.*no_text"):
        SlackWebhook(slack.url, timeout=5).post([_message("a"), {"text": ""}, _message("c")])
    assert [m["text"] for m in slack.accepted] == ["a"]


def test_read_timeout_is_not_retried(slack: SlackStandIn) -> None:
    slack.script.append((STALL, {}, ""))
    with pytest.raises(NotifyError, match="may or may not have been posted") as caught:
        SlackWebhook(slack.url, timeout=0.5).post([_message("x")])
    assert len(slack.arrivals) == 1, "repeating could post the summary twice"
    _assert_secret_free(caught.value, slack)


def test_refused_connection_is_retried_then_fails_safely() -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}{SECRET_PATH}"
    closed.server_close()
    with pytest.raises(
        NotifyError, match=rf"could not connect.*{SLACK_ATTEMPTS} attempt"
    ) as caught:
        SlackWebhook(url, timeout=2).post([_message("x")])
    assert url not in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("bad", ["", "hooks.slack.com/services/s3cr3t", "ftp://x/s3cr3t"])
def test_bad_webhook_url_is_named_but_not_echoed(bad: str) -> None:
    with pytest.raises(NotifyError, match="SLACK_WEBHOOK_URL is not an http") as caught:
        SlackWebhook(bad)
    assert "s3cr3t" not in str(caught.value)


def test_repr_hides_the_webhook(slack: SlackStandIn) -> None:
    assert "s3cr3t" not in repr(SlackWebhook(slack.url))


# --- SMTP ---------------------------------------------------------------------------------------

USER, PASSWORD = "ranker", "sm7p-P4ssw0rd"
REFUSED = "nobody@refused.example"


@dataclass
class Mailbox:
    """What the SMTP server saw: one entry per accepted DATA."""

    received: list[dict] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if address == REFUSED:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "login": session.auth_data.login if session.authenticated else None,
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            }
        )
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _EphemeralController(Controller):
    """aiosmtpd checks readiness on the configured port; with port 0 ask the socket instead."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography is not installed: use openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _serve(mailbox: Mailbox, **smtp_options: object) -> _EphemeralController:
    controller = _EphemeralController(mailbox, hostname="127.0.0.1", port=0, **smtp_options)
    controller.start()
    return controller


@pytest.fixture
def plain_smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = _serve(mailbox)
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def tls_smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*certificate)
    mailbox = Mailbox()
    controller = _serve(
        mailbox, tls_context=server_context, require_starttls=True, authenticator=_authenticate
    )
    yield mailbox, controller.port
    controller.stop()


def _trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def _sender(port: int = 25, **overrides: object) -> EmailSender:
    options: dict = {
        "host": "127.0.0.1",
        "port": port,
        "username": None,
        "password": None,
        "sender": "ranker@example.com",
        "recipients": ["am@example.com", "cs@example.com"],
        "starttls": "auto",
        "timeout": 5,
    }
    return EmailSender(**(options | overrides))


def test_sends_multipart_plain_and_html(plain_smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = plain_smtp
    _sender(port).send("Weekly\nranking", "plain body – ▲3", "<p>html body &amp; more</p>")
    [got] = mailbox.received
    message = got["message"]
    assert got["to"] == ["am@example.com", "cs@example.com"]
    assert got["from"] == "ranker@example.com"
    assert got["tls"] is False and got["login"] is None
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Weekly ranking", "newlines must not reach a header"
    assert message.get_body(("plain",)).get_content().strip() == "plain body – ▲3"
    assert message.get_body(("html",)).get_content().strip() == "<p>html body &amp; more</p>"


def test_a_picture_goes_inline_beside_the_html_that_shows_it(
    plain_smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = plain_smtp
    picture = render.InlineImage("chart@engagement-ranker", b"\x89PNG\r\n\x1a\n-bytes", "a chart")
    html = '<p><img src="cid:chart@engagement-ranker"></p>'
    _sender(port).send("Weekly", "plain", html, images=[picture])
    message = mailbox.received[0]["message"]
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    page, image = related.get_payload()
    assert page.get_content().strip() == html  # the root part: what a mail reader shows
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<chart@engagement-ranker>"
    assert image.get_content_disposition() == "inline"
    assert image.get_payload(decode=True) == picture.png


def test_rendered_summary_arrives_intact(plain_smtp: tuple[Mailbox, int]) -> None:
    from engagement_ranker_tests.core.test_render import huge_summary

    mailbox, port = plain_smtp
    subject, text, html = render.email(huge_summary())
    _sender(port).send(subject, text, html)
    message = mailbox.received[0]["message"]
    assert message["Subject"] == subject
    # SMTP carries CRLF line ends; the content is otherwise unchanged.
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == html


@pytest.mark.parametrize("starttls", [True, "auto"])
def test_starttls_then_login(tls_smtp, certificate, starttls) -> None:
    mailbox, port = tls_smtp
    sender = _sender(
        port,
        username=USER,
        password=PASSWORD,
        starttls=starttls,
        tls_context=_trusting(certificate),
    )
    sender.send("s", "t", "<p>h</p>")
    [got] = mailbox.received
    assert got["tls"] is True
    assert got["login"] == USER.encode()


def test_required_starttls_not_offered_fails(plain_smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = plain_smtp
    with pytest.raises(NotifyError, match=r"does not offer STARTTLS.*SMTP_STARTTLS"):
        _sender(port, starttls=True).send("s", "t", "h")
    assert mailbox.received == []


def test_no_starttls_against_a_server_that_requires_it_fails(tls_smtp) -> None:
    mailbox, port = tls_smtp
    with pytest.raises(NotifyError, match="STARTTLS"):
        _sender(port, starttls=False).send("s", "t", "h")
    assert mailbox.received == []


def test_wrong_password_names_the_user_never_the_password(tls_smtp, certificate) -> None:
    _, port = tls_smtp
    wrong = "Wr0ngP4ss-s3cr3t"
    sender = _sender(port, username=USER, password=wrong, tls_context=_trusting(certificate))
    expected = r"refused the login of 'ranker'.*SMTP_PASSWORD"
    with pytest.raises(NotifyError, match=expected) as caught:
        sender.send("s", "t", "h")
    assert wrong not in str(caught.value)
    assert wrong not in repr(sender)


def test_untrusted_certificate_fails_verification(tls_smtp) -> None:
    _, port = tls_smtp
    with pytest.raises(NotifyError, match=r"TLS with SMTP server 127\.0\.0\.1"):
        _sender(port, username=USER, password=PASSWORD).send("s", "t", "h")


def test_refused_recipient_is_named(plain_smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = plain_smtp
    with pytest.raises(NotifyError, match=f"refused {REFUSED}"):
        _sender(port, recipients=["am@example.com", REFUSED]).send("s", "t", "h")
    assert [got["to"] for got in mailbox.received] == [["am@example.com"]]


def test_every_recipient_refused_is_named(plain_smtp: tuple[Mailbox, int]) -> None:
    _, port = plain_smtp
    with pytest.raises(NotifyError, match=f"refused every recipient \\({REFUSED}\\)"):
        _sender(port, recipients=[REFUSED]).send("s", "t", "h")


def test_server_down_names_host_and_port() -> None:
    listener = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHandler)
    port = listener.server_address[1]
    listener.server_close()
    with pytest.raises(NotifyError, match=f"SMTP server 127.0.0.1:{port}.*SMTP_HOST"):
        _sender(port, password=PASSWORD).send("s", "t", "h")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"host": ""}, "SMTP_HOST"),
        ({"port": 0}, "SMTP_PORT"),
        ({"sender": "ranker"}, "SMTP_FROM"),
        ({"recipients": []}, "SUMMARY_EMAIL_TO"),
        ({"recipients": ["am@example.com", "not-an-address"]}, "SUMMARY_EMAIL_TO"),
        ({"username": USER}, "SMTP_PASSWORD"),
        ({"starttls": "yes"}, "SMTP_STARTTLS"),
    ],
)
def test_bad_settings_name_the_variable(overrides: dict, named: str) -> None:
    with pytest.raises(NotifyError, match=named):
        _sender(**overrides)


def test_webhook_url_never_reaches_httpx_request_logs(
    slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG", logger="httpx"):
        SlackWebhook(slack.url, timeout=5).post([_message("one")])
    assert caplog.records, "httpx logged nothing: the test would prove nothing"
    assert "s3cr3t" not in caplog.text
    assert slack.url not in caplog.text
