"""The one error hierarchy of the clients: each message says where, what and how to fix it.

Every message passes through `redact`, so a token, password or webhook URL never reaches a
log, a run's metadata or an alert, even if an upstream service echoes one back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engagement_ranker.clients.http import redact, shorten
from engagement_ranker.constants import Env


def _restore(cls: type[ClientError], state: dict[str, Any], args: tuple[Any, ...]) -> ClientError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ClientError(Exception):
    """Base of everything the clients raise on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-rich constructors do not survive default exception pickling (multiprocess runs).
        return (_restore, (type(self), self.__dict__, self.args))


class ApiError(ClientError):
    """A call to `service` at `endpoint` ("METHOD /path", never a full URL) did not succeed."""

    def __init__(
        self,
        service: str,
        endpoint: str,
        status: int | None,
        category: str | None = None,
        correlation_id: str | None = None,
        fix: str = "",
        *,
        detail: str = "",
    ) -> None:
        self.service = service
        self.endpoint = endpoint
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.fix = fix
        self.detail = detail
        message = f"{service} {endpoint} failed"
        if status is not None:
            message += f": HTTP {status}"
        if category:
            message += f" {category}"
        if correlation_id:
            message += f" (correlationId {correlation_id})"
        if detail:
            message += f": {shorten(detail)}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(redact(message))


class AuthError(ApiError):
    """The credentials were refused (401 or a failed login)."""


class ScopeError(ApiError):
    """The credentials work but lack a permission (403)."""

    def __init__(self, *args: Any, required_scopes: Sequence[str] = (), **kwargs: Any) -> None:
        self.required_scopes = tuple(required_scopes)
        super().__init__(*args, **kwargs)


class NotFoundError(ApiError):
    """The endpoint or some records do not exist (404, or a 207 naming `ids`)."""

    def __init__(self, *args: Any, ids: Sequence[str] = (), **kwargs: Any) -> None:
        self.ids = tuple(ids)
        super().__init__(*args, **kwargs)


# Record ids named in one message before "and N more": enough to find them, short enough to read.
IDS_SHOWN = 5


def listed(ids: Sequence[str], shown: int = IDS_SHOWN) -> str:
    """The first `shown` of `ids` and how many others, e.g. "101, 102 and 3 more"."""
    head = ", ".join(ids[:shown])
    return head if len(ids) <= shown else f"{head} and {len(ids) - shown} more"


@dataclass(frozen=True)
class PropertyCode:
    """One of HubSpot's per-property validation findings, and the companies it concerns."""

    property: str | None
    code: str
    message: str
    company_ids: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.property or '?'}: {self.code} ({self.message})"
        companies = self.company_ids
        if companies:
            text += f" for compan{'y' if len(companies) == 1 else 'ies'} {listed(companies)}"
        return text


class ValidationError(ApiError):
    """The request was rejected as invalid (400); `codes` are HubSpot's per-property findings.

    HubSpot applies nothing of a batch it refuses this way.
    """

    def __init__(self, *args: Any, codes: Sequence[PropertyCode] = (), **kwargs: Any) -> None:
        self.codes = tuple(codes)
        if self.codes:
            kwargs["detail"] = "; ".join(str(code) for code in self.codes)
        super().__init__(*args, **kwargs)

    @property
    def ids(self) -> tuple[str, ...]:
        """The companies the findings name, in numeric order."""
        return tuple(sorted({c for code in self.codes for c in code.company_ids}, key=int))


class ValidationRuleRefusal(ValidationError):
    """A portal's admin-configured validation rule refused the write (400 VALIDATION_ERROR; from
    HubSpot's 2026-09 version every rule applies to API writes). Nothing of the batch was
    applied; the message names HubSpot's words, the property and the fix for each rule."""


class RateLimitExhausted(ApiError):
    """The service kept answering 429 until the retry policy gave up."""


class UpstreamUnavailable(ApiError):
    """5xx, timeouts or dropped connections until the retry policy gave up."""


class MalformedResponse(ApiError):
    """The service answered, but not with what its contract promises."""


class MissingKeyError(MalformedResponse):
    """A required response key is absent; `key_path` is where it was looked for."""

    def __init__(self, *args: Any, key_path: str, **kwargs: Any) -> None:
        self.key_path = key_path
        super().__init__(*args, **kwargs)


class PeriodError(ClientError, ValueError):
    """The requested week lies outside what the service's periods can reach."""


class TrendCoverageError(ClientError):
    """Daily trend buckets do not cover every requested day; the run must not scale or guess."""

    def __init__(self, gaps: Mapping[str, tuple[int, Sequence[date]]], period: str) -> None:
        self.gaps = {metric: (count, tuple(days)) for metric, (count, days) in gaps.items()}
        self.period = period
        parts = [
            f"{metric}: {count} tenant{'s' if count != 1 else ''} lack "
            + ", ".join(day.isoformat() for day in days)
            for metric, (count, days) in self.gaps.items()
        ]
        super().__init__(
            f"Yobi trend buckets (period {period}) do not cover the week - "
            + "; ".join(parts)
            + ". Fix: rerun once Yobi has reported those days; never scale partial weeks. If "
            "Yobi leaves out days without activity, confirm it with `engagement-ranker spike` "
            f"and mark those endpoints' trends sparse in the contract {Env.YOBI_CONTRACT_FILE} "
            "names"
        )


class ContractError(ClientError, ValueError):
    """The Yobi contract (built in, or the file YOBI_CONTRACT_FILE names) cannot be used.

    `source` is the file (or the built-in contract), `entry` the dotted entry in it ("" for
    the file as a whole); the message also says what is wrong with the value and the fix.
    """

    def __init__(self, source: str, entry: str, problem: str, fix: str) -> None:
        self.source = source
        self.entry = entry
        self.fix = fix
        where = f"{source}, entry {entry}" if entry else source
        super().__init__(redact(f"Yobi contract {where}: {problem}. Fix: {fix}"))


class BucketTimezoneError(ClientError):
    """The contract says Yobi's trend buckets are days of a zone whose midnights are not New
    York's: no sum of such days is exactly a Sun–Sat America/New_York week, and the spec fails
    a week whose data cannot be constrained to its window rather than approximate it."""

    def __init__(self, zone: str, week_zone: str, source: str, fix: str) -> None:
        self.zone = zone
        self.source = source
        super().__init__(
            f"Yobi's trend buckets are {zone} days (bucket_timezone in {source}), but the week "
            f"is Sunday to Saturday in {week_zone}: no sum of {zone} days is exactly that week, "
            f"and a week that cannot be constrained to its window is not ranked. Fix: {fix}"
        )


class ConflictingRowsError(MalformedResponse):
    """Yobi listed one tenant (or, per location, one location) twice with different figures:
    which row is right cannot be known, so the week is not summed from either."""

    def __init__(self, *args: Any, tenant_id: int, location_id: int | None, **kwargs: Any) -> None:
        self.tenant_id = tenant_id
        self.location_id = location_id
        super().__init__(*args, **kwargs)
