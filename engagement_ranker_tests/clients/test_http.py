"""The generic HTTP plumbing: redaction, the sliding-window limiter, policy and URL checks."""

from __future__ import annotations

import pickle
import ssl
import string
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_ranker.clients.errors import (
    AuthError,
    MissingKeyError,
    PropertyCode,
    ValidationError,
)
from engagement_ranker.clients.http import (
    REDACTED,
    RetryLog,
    RetryPolicy,
    SlidingWindowLimiter,
    check_base_url,
    make_timeout,
    redact,
    tls,
)
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.yobi import YobiClient
from engagement_ranker.sandbox.control import SandboxControl

SECRET_ALPHABET = string.ascii_letters + string.digits + "-_.~+/="


@given(
    before=st.text(max_size=40),
    secret=st.text(SECRET_ALPHABET, min_size=4, max_size=40),
    after=st.text(max_size=40),
)
def test_redact_removes_any_named_secret_wherever_it_sits(before, secret, after):
    assert secret not in redact(before + secret + after + secret, [secret])


@pytest.mark.parametrize(
    ("text", "secret_part"),
    [
        ("header Authorization: Bearer eyJhbGciOi.J9.sig", "eyJhbGciOi.J9.sig"),
        ("posting to https://hooks.slack.com/services/T0/B0/abcDEF123", "abcDEF123"),
        ("token pat-na1-5a7d0c1e-0000-4000-8000-0000000000aa refused", "5a7d0c1e"),
        ("GET /x?access_token=s3cr3tvalue&limit=5", "s3cr3tvalue"),
        ('body {"user": "a@b.c", "password": "hunter22"}', "hunter22"),
    ],
)
def test_redact_removes_secret_shapes_nobody_named(text, secret_part):
    redacted = redact(text)
    assert secret_part not in redacted
    assert REDACTED in redacted


def test_redact_leaves_ordinary_text_and_short_values_alone():
    text = "HubSpot POST /crm/v3/objects/companies/batch/update failed: HTTP 400"
    assert redact(text, ["", None, "abc"]) == text


def test_every_error_message_is_redacted_even_if_upstream_echoes_a_token():
    error = AuthError(
        "HubSpot",
        "GET /crm/v3/properties/companies/x",
        401,
        detail="Bearer pat-na1-11111111-2222-3333-4444-555555555555 is not valid",
        fix="check HUBSPOT_ACCESS_TOKEN",
    )
    assert "pat-na1-1111" not in str(error)
    assert "HTTP 401" in str(error) and "check HUBSPOT_ACCESS_TOKEN" in str(error)


def test_errors_survive_pickling_with_their_fields():
    codes = (PropertyCode("customer_engagement_score", "INVALID_INTEGER", "1.5 is no integer"),)
    error = ValidationError(
        "HubSpot", "POST /x", 400, "VALIDATION_ERROR", "cid-1", fix="fix", codes=codes
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.codes, copy.correlation_id) == (
        ValidationError,
        str(error),
        codes,
        "cid-1",
    )
    missing = pickle.loads(
        pickle.dumps(MissingKeyError("Yobi", "GET /y", 200, key_path="results.x", fix="f"))
    )
    assert missing.key_path == "results.x"


def test_limiter_never_lets_a_window_hold_more_than_its_budget_across_threads():
    budget, window = 4, 0.3
    limiter = SlidingWindowLimiter(budget, window)
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            with limiter.slot():
                start = time.monotonic()
                time.sleep(0.01)
                end = time.monotonic()
            with lock:
                spans.append((start, end))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(spans) == 16
    # Whatever instant the server counts a request at (between start and end), request i+budget
    # starts only after request i ended a full window ago.
    spans.sort()
    ends = sorted(end for _, end in spans)
    for k in range(budget, len(spans)):
        assert spans[k][0] - ends[k - budget] >= window - 1e-3


def test_limiter_admits_a_full_budget_at_once():
    limiter = SlidingWindowLimiter(5, 60)
    started = time.monotonic()
    for _ in range(5):
        with limiter.slot():
            pass
    assert time.monotonic() - started < 1


def test_limiter_counts_what_the_server_says_others_spent_until_the_window_passes():
    budget, window = 10, 0.4
    limiter = SlidingWindowLimiter(budget, window)
    with limiter.slot():
        sent_at = time.monotonic()
    # The server counted our one call and 6 of someone else's: 3 remain, not 9.
    limiter.observe_remaining(3, sent_at)
    started = time.monotonic()
    for _ in range(3):
        with limiter.slot():
            pass
    free = time.monotonic() - started
    with limiter.slot():
        waited = time.monotonic() - started
    assert free < window <= waited + 1e-3
    # A window after they were seen, the others' calls are forgotten with ours: all but the
    # slot just taken are free at once again.
    rest = threading.Thread(target=_take, args=(limiter, budget - 1), daemon=True)
    rest.start()
    rest.join(timeout=window)
    assert not rest.is_alive(), "the others' calls never left the window"


def _take(limiter: SlidingWindowLimiter, slots: int) -> None:
    for _ in range(slots):
        with limiter.slot():
            pass


def test_limiter_forgets_our_own_parallel_calls_once_a_later_answer_shows_them_as_ours():
    budget = 10
    limiter = SlidingWindowLimiter(budget, 60)
    with limiter.slot():  # three of ours at once; the server counted all three
        sent_at = time.monotonic()
        with limiter.slot(), limiter.slot():
            pass
    # The first answer cannot tell the two beside it from someone else's: 2 held back.
    limiter.observe_remaining(budget - 3, sent_at)
    with limiter.slot():  # sent after that answer, and answered with all four counted
        later = time.monotonic()
    limiter.observe_remaining(budget - 4, later)
    # Nobody else spent anything: all but our four are free at once.
    rest = threading.Thread(target=_take, args=(limiter, budget - 4), daemon=True)
    rest.start()
    rest.join(timeout=5)
    assert not rest.is_alive(), "our own calls were still counted as someone else's"


def test_limiter_keeps_what_a_later_answer_counted_over_an_earlier_sent_call():
    budget = 10
    limiter = SlidingWindowLimiter(budget, 60)
    with limiter.slot():
        early = time.monotonic()
    with limiter.slot():
        late = time.monotonic()
    limiter.observe_remaining(budget - 2 - 5, late)  # 5 of someone else's, seen late
    # An answer to the call sent before that one was counted earlier: it cannot clear them.
    limiter.observe_remaining(budget - 1, early)
    waiter = threading.Thread(target=_take, args=(limiter, budget - 2 - 5 + 1), daemon=True)
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive(), "someone else's calls were forgotten on an older answer's word"


def test_a_slot_s_grant_is_its_thread_s_own_and_comes_before_its_request():
    """The time an answer is matched against (which of our calls the server had counted) is the
    grant of the slot the request was sent in: never later than the send, whatever delays the
    thread afterwards (estimated from the answer's `elapsed`, it came late by as long as the
    thread took to read the answer, and a call of ours ending in that gap, sent after the
    answer was written, was taken as counted: the others were under-counted, and a 429 came)."""
    limiter = SlidingWindowLimiter(5, 60)
    granted: dict[str, tuple[float, float]] = {}

    def send(name: str, hold: float) -> None:
        with limiter.slot():
            sent = time.monotonic()
            time.sleep(hold)  # meanwhile the other thread takes a slot of its own
        time.sleep(0.05)  # the answer read late
        granted[name] = (limiter.granted_at(), sent)

    threads = [threading.Thread(target=send, args=(n, h)) for n, h in (("a", 0.1), ("b", 0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(granted) == ["a", "b"]
    for at, sent in granted.values():
        assert at <= sent
    assert granted["a"][0] != granted["b"][0]


def test_limiter_adds_nothing_when_the_server_counted_only_our_calls():
    limiter = SlidingWindowLimiter(5, 60)
    for remaining in (4, 3):
        with limiter.slot():
            sent_at = time.monotonic()
        limiter.observe_remaining(remaining, sent_at)
    started = time.monotonic()
    for _ in range(3):
        with limiter.slot():
            pass
    assert time.monotonic() - started < 1


def test_retry_log_counts_per_endpoint_and_reason_in_sorted_lines():
    log = RetryLog("HubSpot")
    for reason in ("HTTP 429", "HTTP 429", "ReadTimeout"):
        log.record("POST /b", reason)
    log.record("GET /a", "HTTP 503")
    assert log.lines() == [
        "HubSpot GET /a: 1 retries (HTTP 503 x1)",
        "HubSpot POST /b: 3 retries (HTTP 429 x2, ReadTimeout x1)",
    ]


@pytest.mark.parametrize("fields", [{"attempts": 0}, {"initial_wait": -1}, {"max_total": -5}])
def test_retry_policy_rejects_nonsense(fields):
    with pytest.raises(ValueError, match="attempts must be >= 1 and the waits >= 0"):
        RetryPolicy(**fields)


@pytest.mark.parametrize("url", ["", "ftp://x", "not a url", "http://", 5])
def test_base_url_must_be_http_and_the_message_names_the_variable(url):
    with pytest.raises(ValueError, match="HUBSPOT_BASE_URL"):
        check_base_url(url, "HUBSPOT_BASE_URL")


def test_base_url_with_a_query_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="YOBI_BASE_URL carries a query") as caught:
        check_base_url("https://h.test/api?token=abcdef123", "YOBI_BASE_URL")
    assert "abcdef123" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://ops:Hunter2Secret@h.test/api", "ftp://ops:Hunter2Secret@h.test"]
)
def test_base_url_credentials_never_reach_the_message(url):
    with pytest.raises(ValueError, match="HUBSPOT_BASE_URL") as caught:
        check_base_url(url, "HUBSPOT_BASE_URL")
    assert "Hunter2Secret" not in str(caught.value)


def test_base_url_loses_its_trailing_slash():
    assert check_base_url("http://127.0.0.1:8080/api/v1/", "X") == "http://127.0.0.1:8080/api/v1"


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_timeout_must_be_positive(seconds):
    with pytest.raises(ValueError, match="timeout"):
        make_timeout(seconds)


def test_the_clients_of_a_process_load_the_ca_bundle_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building TLS settings loads the CA bundle (~16 ms of CPU), and a week's run builds
    several clients: they share one context, whether or not they ever speak TLS."""
    built: list[object] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    tls.cache_clear()
    unused = "http://127.0.0.1:9"
    for _ in range(2):
        HubSpotClient("token", unused).close()
        YobiClient("someone@example.com", "password", unused).close()
        SandboxControl(unused).close()
    assert len(built) == 1
