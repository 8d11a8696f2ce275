"""The `/_sandbox/` control API: what tests and the demo read and steer, never the emulated API.

`handle_control` is transport-free (the HubSpot server routes `/_sandbox/*` to it);
`SandboxControl` is the small httpx client tests use to call it over a real socket.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

import httpx

from engagement_ranker.clients.http import tls
from engagement_ranker.sandbox.faults import FaultsError
from engagement_ranker.sandbox.state import SandboxState

CONTROL_TIMEOUT_SECONDS = 10.0
ENDPOINTS: tuple[str, ...] = (
    "GET /_sandbox/writes",
    "GET /_sandbox/requests",
    "GET /_sandbox/companies",
    "GET /_sandbox/companies/{id}",
    "POST /_sandbox/companies/{id}",
    "GET /_sandbox/truth",
    "GET /_sandbox/slack",
    "GET /_sandbox/emails",
    "GET /_sandbox/faults",
    "POST /_sandbox/faults",
    "POST /_sandbox/reset",
    "POST /_sandbox/release",
)
_COMPANY_PATH = re.compile(r"^/_sandbox/companies/(?P<company_id>[^/]+)$")

Reply = tuple[int, dict[str, Any]]


def handle_control(state: SandboxState, method: str, path: str, body: Any) -> Reply:
    """Answer one control request: (HTTP status, JSON payload)."""
    path = path.rstrip("/")
    if method == "GET":
        return _get(state, path)
    if method == "POST" and path == "/_sandbox/faults":
        try:
            state.set_faults({} if body is None else body)
        except FaultsError as exc:
            return 400, {"error": str(exc)}
        return 200, {"faults": state.faults.spec}
    if method == "POST" and path == "/_sandbox/release":
        with state.lock:
            state.faults.released.set()
        return 200, {"released": True}
    if method == "POST" and path == "/_sandbox/reset":
        state.reset()
        return 200, {"reset": True}
    match = _COMPANY_PATH.match(path)
    if method == "POST" and match:
        return _edit_company(state, match["company_id"], body)
    return _not_found(method, path)


def _edit_company(state: SandboxState, company_id: str, body: Any) -> Reply:
    """Change a company as someone would in HubSpot's UI: `{"properties": {name: value}}`."""
    properties = body.get("properties") if isinstance(body, dict) else None
    if (
        not isinstance(properties, dict)
        or not properties
        or not all(isinstance(v, str | None) for v in properties.values())
    ):
        return 400, {
            "error": f'company edit {body!r} is not {{"properties": {{name: text or null}}}}; '
            'send e.g. {"properties": {"name": "Dental & Co"}}'
        }
    with state.lock:
        current = state.companies.get(company_id)
        if current is None:
            return 404, {
                "error": f"company {company_id!r} does not exist; "
                "see GET /_sandbox/truth for the company ids"
            }
        edited = {**current, **properties}
        # A new mapping rather than an update in place, so search indexes rebuild; not logged
        # as a write (it is no API call), and `reset` restores the seeded record.
        state.companies = {**state.companies, company_id: edited}
    return 200, {"company_id": company_id, "properties": dict(edited)}


def _get(state: SandboxState, path: str) -> Reply:
    with state.lock:
        if path == "/_sandbox/writes":
            return 200, {"writes": list(state.writes)}
        if path == "/_sandbox/requests":
            return 200, state.requests_summary()
        if path == "/_sandbox/truth":
            truth = sorted(state.dataset.truth.values(), key=lambda t: int(t["company_id"]))
            return 200, {
                "truth": truth,
                "overrides_json": state.dataset.overrides_json,
                "owners": state.dataset.owners,
            }
        if path == "/_sandbox/slack":
            return 200, {"messages": list(state.slack_messages)}
        if path == "/_sandbox/emails":
            return 200, {"emails": list(state.emails)}
        if path == "/_sandbox/faults":
            return 200, {"faults": state.faults.spec}
        if path == "/_sandbox/companies":
            return 200, {
                "companies": {
                    company_id: dict(properties)
                    for company_id, properties in state.companies.items()
                }
            }
        match = _COMPANY_PATH.match(path)
        if match:
            company_id = match["company_id"]
            properties = state.companies.get(company_id)
            if properties is None:
                return 404, {
                    "error": f"company {company_id!r} does not exist; "
                    "see GET /_sandbox/truth for the company ids"
                }
            return 200, {"company_id": company_id, "properties": dict(properties)}
    return _not_found("GET", path)


def _not_found(method: str, path: str) -> Reply:
    return 404, {"error": f"no control endpoint {method} {path}", "endpoints": list(ENDPOINTS)}


class SandboxControlError(RuntimeError):
    """A control call the sandbox refused (e.g. an invalid fault document)."""


class SandboxControl:
    """A client for `/_sandbox/` at `url` (the HubSpot server's base URL)."""

    def __init__(self, url: str, timeout: float = CONTROL_TIMEOUT_SECONDS) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, verify=tls())

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self._http.request(method, f"/_sandbox/{path}", json=body)
        payload: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise SandboxControlError(
                f"{method} /_sandbox/{path} answered {response.status_code}: "
                f"{payload.get('error', payload)}"
            )
        return payload

    def writes(self) -> list[dict[str, Any]]:
        """Every applied HubSpot company write: company_id, before, after, at."""
        return self._call("GET", "writes")["writes"]

    def requests(self) -> dict[str, Any]:
        """Request counts by route and status, overall and per service."""
        return self._call("GET", "requests")

    def company(self, company_id: str) -> dict[str, str | None]:
        """A company's current properties."""
        return self._call("GET", f"companies/{company_id}")["properties"]

    def companies(self) -> dict[str, dict[str, str | None]]:
        """Every company's current properties by id, read at one moment (one call, where
        reading a whole dataset company by company cost a fault row a tenth of its CPU)."""
        return self._call("GET", "companies")["companies"]

    def edit_company(
        self, company_id: str, properties: dict[str, str | None]
    ) -> dict[str, str | None]:
        """Change a company's properties as a HubSpot user would (not an API write; reset
        undoes it); returns its properties after the edit."""
        return self._call("POST", f"companies/{company_id}", {"properties": properties})[
            "properties"
        ]

    def truth(self) -> dict[str, dict[str, Any]]:
        """The dataset's intended mapping, by company id."""
        return {t["company_id"]: t for t in self._call("GET", "truth")["truth"]}

    def owners(self) -> list[dict[str, Any]]:
        """The account's HubSpot owners as seeded, archived ones included."""
        return self._call("GET", "truth")["owners"]

    def slack(self) -> list[dict[str, Any]]:
        """Slack messages received, oldest first."""
        return self._call("GET", "slack")["messages"]

    def emails(self) -> list[dict[str, Any]]:
        """E-mails received, oldest first."""
        return self._call("GET", "emails")["emails"]

    def set_faults(self, faults: dict[str, Any]) -> None:
        """Replace the fault document (see sandbox/faults.py); {} clears."""
        self._call("POST", "faults", faults)

    def release(self) -> None:
        """Serve the requests a "hold" fault keeps waiting, and let later ones through."""
        self._call("POST", "release")

    def reset(self) -> None:
        """Restore the seeded world and clear logs and faults."""
        self._call("POST", "reset")
