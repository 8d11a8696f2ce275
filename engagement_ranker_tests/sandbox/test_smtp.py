"""The SMTP stand-in is a real SMTP server: smtplib delivers to it, and it can be "down"."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from engagement_ranker.sandbox import Sandbox

TIMEOUT = 5.0


def _message(box: Sandbox, html: bool = True) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Engagement ranks — week of Nov 15"
    message["From"] = box.env["SMTP_FROM"]
    message["To"] = box.env["SUMMARY_EMAIL_TO"]
    message.set_content("Top 10\n1. Lakeside Dental")
    if html:
        message.add_alternative("<h1>Top 10</h1><p>Lakeside Dental</p>", subtype="html")
    return message


def _send(box: Sandbox, message: EmailMessage) -> None:
    with smtplib.SMTP(box.env["SMTP_HOST"], int(box.env["SMTP_PORT"]), timeout=TIMEOUT) as smtp:
        smtp.send_message(message)


def test_multipart_mail_is_stored_parsed(sandbox: Sandbox) -> None:
    _send(sandbox, _message(sandbox))
    assert sandbox.control.emails() == [
        {
            "to": [sandbox.env["SUMMARY_EMAIL_TO"]],
            "from": sandbox.env["SMTP_FROM"],
            "subject": "Engagement ranks — week of Nov 15",
            "text": "Top 10\n1. Lakeside Dental\n",
            "html": "<h1>Top 10</h1><p>Lakeside Dental</p>\n",
            "images": [],
        }
    ]


def test_plain_text_mail_has_no_html(sandbox: Sandbox) -> None:
    _send(sandbox, _message(sandbox, html=False))
    (email,) = sandbox.control.emails()
    assert email["html"] is None and email["text"].startswith("Top 10")


def test_smtp_down_refuses_mail_with_421_until_cleared(sandbox: Sandbox) -> None:
    sandbox.control.set_faults({"smtp": {"down": True}})
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        _send(sandbox, _message(sandbox))
    assert refused.value.smtp_code == 421
    assert sandbox.control.emails() == []
    sandbox.control.set_faults({})
    _send(sandbox, _message(sandbox))
    assert len(sandbox.control.emails()) == 1
