"""What the matrix added to the sandbox, over real sockets: `corrupt` edits of answers, the
"drop_after" error (acted on, answer lost) and SMTP AUTH with the credentials' account."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from engagement_ranker.constants import PROP_SCORE, Env
from engagement_ranker.sandbox import Sandbox, SandboxConfig
from engagement_ranker.sandbox.control import SandboxControlError
from engagement_ranker.sandbox.faults import INVALID_UTF8_BYTES
from engagement_ranker.sandbox.state import Credentials

TIMEOUT = 5.0
TENANTS = "GET /admin/dental-tenants/list"
UPDATE = "POST /crm/v3/objects/companies/batch/update"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(companies=20)) as sandbox:
        yield sandbox


@pytest.fixture
def yobi(box: Sandbox) -> Callable[[], httpx.Response]:
    """The tenant list as Yobi answers it now, after a fresh login."""
    box.control.reset()
    env = box.env

    def tenants() -> httpx.Response:
        with httpx.Client(base_url=env[Env.YOBI_BASE_URL], timeout=TIMEOUT) as http:
            login = http.post(
                "/users/login",
                json={"user": env[Env.YOBI_EMAIL], "password": env[Env.YOBI_PASSWORD]},
            )
            token = login.json()["results"]["token"]
            return http.get(TENANTS.split()[1], headers={"Authorization": f"Bearer {token}"})

    return tenants


def _corrupt(box: Sandbox, *entries: dict[str, Any]) -> None:
    box.control.set_faults({"corrupt": [{"route": TENANTS, **entry} for entry in entries]})


def test_corrupt_sets_values_by_star_and_by_key(box: Sandbox, yobi: Callable) -> None:
    clean = yobi().json()["results"]
    chosen = clean[1]["tenant_id"]
    _corrupt(
        box,
        {"path": "results.*.website", "value": None},
        {"path": f"results.tenant_id={chosen}.tenant_name", "value": "X" * 10_000},
    )

    served = yobi().json()["results"]

    assert [t["website"] for t in served] == [None] * len(clean)
    assert [t["tenant_name"] for t in served] == [
        "X" * 10_000 if t["tenant_id"] == chosen else t["tenant_name"] for t in clean
    ]


def test_corrupt_duplicates_an_item_and_selects_nothing_quietly(
    box: Sandbox, yobi: Callable
) -> None:
    clean = yobi().json()["results"]
    _corrupt(
        box,
        {"path": "results.0", "duplicate": True},
        {"path": "results.tenant_id=-1.x", "value": 1},
    )

    served = yobi().json()["results"]

    assert served == [clean[0], *clean]


def test_corrupt_invalid_utf8_serves_bytes_that_do_not_decode(box: Sandbox, yobi: Callable) -> None:
    _corrupt(box, {"path": "results.0.tenant_name", "invalid_utf8": True})

    body = yobi().content

    assert INVALID_UTF8_BYTES in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_corrupt_path_that_does_not_resolve_answers_500_naming_it(
    box: Sandbox, yobi: Callable
) -> None:
    _corrupt(box, {"path": "results.9999.tenant_name", "value": None})

    response = yobi()

    assert response.status_code == 500
    assert "results.9999.tenant_name" in response.json()["message"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"route": TENANTS, "path": "results"}, "give exactly one of"),
        ({"route": TENANTS, "path": "results", "value": 1, "duplicate": True}, "exactly one"),
        ({"route": "tenants", "path": "results", "value": 1}, "name one like"),
        ({"route": TENANTS, "path": "results..x", "value": 1}, "dotted path"),
        ({"route": TENANTS, "path": "results.0", "duplicate": "yes"}, "use true"),
    ],
)
def test_corrupt_entries_that_cannot_apply_are_refused_naming_the_fix(
    box: Sandbox, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(SandboxControlError, match=message):
        box.control.set_faults({"corrupt": [entry]})


def test_drop_after_applies_the_write_and_sends_no_answer(box: Sandbox) -> None:
    box.control.reset()
    company_id = next(iter(box.control.truth()))
    box.control.set_faults({"routes": {UPDATE: {"bursts": [{"nth": 1, "error": "drop_after"}]}}})
    body = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "41"}}]}
    headers = {"Authorization": f"Bearer {box.env[Env.HUBSPOT_ACCESS_TOKEN]}"}

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            box.env[Env.HUBSPOT_BASE_URL] + UPDATE.split()[1],
            json=body,
            headers=headers,
            timeout=TIMEOUT,
        )

    assert box.control.company(company_id)[PROP_SCORE] == "41"
    assert [w["company_id"] for w in box.control.writes()] == [company_id]
    assert box.control.requests()["statuses"]["0"] == 1


def _mail(env: dict[str, str], login: tuple[str, str] | None) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = env[Env.SMTP_FROM], "a@b.test", "hi"
    message.set_content("hello")
    with smtplib.SMTP(env[Env.SMTP_HOST], int(env[Env.SMTP_PORT]), timeout=TIMEOUT) as smtp:
        if login:
            smtp.login(*login)
        smtp.send_message(message)


def test_smtp_with_an_account_takes_mail_only_after_its_login(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    account = ("ranker-smtp", "smtp-secret-123")
    box = make_sandbox(
        SandboxConfig(
            companies=5,
            credentials=Credentials(smtp_username=account[0], smtp_password=account[1]),
        )
    )
    env = box.env
    assert (env[Env.SMTP_USERNAME], env[Env.SMTP_PASSWORD]) == account

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        _mail(env, None)
    assert refused.value.smtp_code == 530
    with pytest.raises(smtplib.SMTPAuthenticationError):
        _mail(env, (account[0], "wrong"))
    _mail(env, account)

    assert [mail["subject"] for mail in box.control.emails()] == ["hi"]


def test_smtp_without_an_account_needs_no_login(box: Sandbox) -> None:
    box.control.reset()
    assert Env.SMTP_USERNAME not in box.env

    _mail(box.env, None)

    assert len(box.control.emails()) == 1
