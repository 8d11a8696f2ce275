"""Scale: one latest week in full mode at N companies, against the rate-limit floor.

Per N: a sandbox (`--latency-ms`, the tier's limits), then `engagement-ranker run --week
latest --mode full` as a fresh process with a fresh Dagster home and warehouse. Wall time and
peak RSS are that process's; calls per endpoint and 429s are the sandbox's request log.

Yobi is served by a second sandbox process (same seed, so the same tenants): real HubSpot and
Yobi share no interpreter, and in one sandbox process Yobi's answers (86 MB at N = 10,000,
about 4.5 s of the sandbox's CPU) hold its GIL while HubSpot's searches wait for an answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from engagement_ranker.constants import (
    CUSTOMER_LIFECYCLE_STAGE,
    DEFAULT_HUBSPOT_API_VERSION,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_ROUTES,
    Env,
    HubSpotOperation,
)
from engagement_ranker.sandbox.control import SandboxControl
from engagement_ranker.sandbox.yobi import YobiService
from engagement_ranker_tests.bench.floor import Floor, formula, hubspot_floor
from engagement_ranker_tests.bench.processes import (
    BIN,
    Measured,
    dagster_home,
    product_env,
    run_measured,
    sandbox,
)

RUN_DEADLINE_SECONDS = 1800.0
RATE_LIMITED = "429"
# Targets (issue 10) on a 2-core machine.
SMALL_N = 250
SMALL_WALL_TARGET_SECONDS = 20.0
LARGE_N = 10_000
LARGE_FLOOR_RATIO_TARGET = 1.3
LARGE_RSS_TARGET_BYTES = 10**9
MB = 10**6
YOBI = YobiService.name  # the service's name in the sandbox's request log
YOBI_SETTINGS = (Env.YOBI_BASE_URL, Env.YOBI_EMAIL, Env.YOBI_PASSWORD, Env.YOBI_CONTRACT_FILE)


@dataclass(frozen=True)
class ScaleResult:
    """What one N measured."""

    companies: int
    customer_contacts: int
    sandbox_start_seconds: float
    run: Measured
    status: str
    ranked: int
    written: int
    calls: dict[str, dict[str, int]]  # service -> route -> calls
    rate_limited: int  # HubSpot 429s
    floor: Floor
    log: Path
    # The run's fixed cost: from its start to its first HTTP request, and from the last
    # answer it got (Slack's, usually) to its exit. None when the sandbox saw no request.
    to_first_request: float | None
    after_last_response: float | None

    @property
    def ratio(self) -> float:
        return self.run.wall_seconds / self.floor.seconds if self.floor.seconds else math.inf

    def verdicts(self) -> list[str]:
        """The issue's targets that apply to this N, each with ok or MISSED."""
        checks: list[tuple[str, bool]] = []
        if self.status != "success":
            checks.append((f"run {self.status}", False))
        if self.companies == SMALL_N:
            checks.append(
                (
                    f"wall <= {SMALL_WALL_TARGET_SECONDS:.0f} s",
                    self.run.wall_seconds <= SMALL_WALL_TARGET_SECONDS,
                )
            )
        if self.companies == LARGE_N:
            checks += [
                (
                    f"wall <= {LARGE_FLOOR_RATIO_TARGET} x floor",
                    self.ratio <= LARGE_FLOOR_RATIO_TARGET,
                ),
                ("zero 429s", self.rate_limited == 0),
                (
                    f"RSS <= {LARGE_RSS_TARGET_BYTES // MB} MB",
                    self.run.peak_rss_bytes <= LARGE_RSS_TARGET_BYTES,
                ),
            ]
        return [f"{name}: {'ok' if met else 'MISSED'}" for name, met in checks]


def _customer_contacts(env: dict[str, str]) -> int:
    """How many customer contacts the sandbox holds (one search page's `total`)."""
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "lifecyclestage",
                        "operator": "EQ",
                        "value": CUSTOMER_LIFECYCLE_STAGE,
                    }
                ]
            }
        ],
        "limit": 1,
    }
    response = httpx.post(
        env[Env.HUBSPOT_BASE_URL]
        + HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION][HubSpotOperation.CONTACTS_SEARCH].split()[1],
        json=body,
        headers={"Authorization": f"Bearer {env[Env.HUBSPOT_ACCESS_TOKEN]}"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    return int(response.json()["total"])


def _yobi_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The Yobi variables of a sandbox's environment."""
    return {key: env[key] for key in YOBI_SETTINGS if key in env}


def _requests(control_url: str, yobi_control_url: str) -> dict[str, Any]:
    """The request log of the run: every service of the first sandbox but Yobi, Yobi of the
    second; the first request and the last answer over both."""
    with SandboxControl(control_url) as control, SandboxControl(yobi_control_url) as yobi:
        main, yobis = control.requests(), yobi.requests()
    services = {name: entry for name, entry in main["by_service"].items() if name != YOBI}
    if YOBI in yobis["by_service"]:
        services[YOBI] = yobis["by_service"][YOBI]
    firsts = [t for t in (main["first_request_at"], yobis["first_request_at"]) if t is not None]
    lasts = [t for t in (main["last_response_at"], yobis["last_response_at"]) if t is not None]
    return {
        "by_service": services,
        "first_request_at": min(firsts, default=None),
        "last_response_at": max(lasts, default=None),
    }


def measure(companies: int, *, latency_ms: int, tier: str, seed: int, root: Path) -> ScaleResult:
    """Start the sandbox for `companies`, run the latest week in full mode, read the logs."""
    root.mkdir(parents=True)
    report = root / "report.json"
    log = root / "run.log"
    with (
        sandbox(companies, latency_ms, tier, seed) as box,
        sandbox(companies, latency_ms, tier, seed) as yobi_box,
    ):
        env = product_env(box.env, _yobi_settings(yobi_box.env), dagster_home(root))
        command = [
            str(BIN / "engagement-ranker"),
            *("run", "--week", "latest", "--mode", "full", "--report", str(report)),
        ]
        run = run_measured(command, env, log, RUN_DEADLINE_SECONDS)
        requests = _requests(box.control_url, yobi_box.control_url)
        contacts = _customer_contacts(box.env)
        start_seconds = max(box.start_seconds, yobi_box.start_seconds)
    outcome = json.loads(report.read_text()) if report.exists() else {}
    written = sum(1 for w in outcome.get("writes", []) if w["outcome"] == "written")
    ranked = len(outcome.get("ranked", []))
    services = requests["by_service"]
    calls = {name: dict(entry["counts"]) for name, entry in services.items()}
    hubspot = calls.get("hubspot", {})
    first, last = requests["first_request_at"], requests["last_response_at"]
    return ScaleResult(
        companies=companies,
        customer_contacts=contacts,
        sandbox_start_seconds=start_seconds,
        run=run,
        status=outcome.get("status", f"no report (exit {run.returncode})"),
        ranked=ranked,
        written=written,
        calls=calls,
        rate_limited=services.get("hubspot", {}).get("statuses", {}).get(RATE_LIMITED, 0),
        floor=hubspot_floor(hubspot, ranked, written, latency_ms, tier),
        log=log,
        to_first_request=None if first is None else first - run.started_at,
        after_last_response=None if last is None else run.ended_at - last,
    )


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def tables(results: list[ScaleResult], tier: str) -> list[str]:
    """The results as Markdown: the summary, calls per endpoint, and the floor's terms."""
    lines = [
        "| N companies | customer contacts | ranked | written | wall s | CPU s | peak RSS MB "
        "| start → 1st request s | last response → exit s "
        "| HubSpot calls | 429s | floor s | wall / floor | targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.companies:,} | {r.customer_contacts:,} | {r.ranked:,} | {r.written:,} "
            f"| {r.run.wall_seconds:.1f} | {r.run.cpu_seconds:.1f} "
            f"| {r.run.peak_rss_bytes / MB:.0f} "
            f"| {_seconds(r.to_first_request)} | {_seconds(r.after_last_response)} "
            f"| {sum(r.calls.get('hubspot', {}).values()):,} | {r.rate_limited} "
            f"| {r.floor.seconds:.1f} | {r.ratio:.2f} | {'; '.join(r.verdicts())} |"
        )
    routes = sorted({(s, route) for r in results for s, c in r.calls.items() for route in c})
    lines += [
        "",
        "Calls per endpoint (the sandbox's request log; 429-refused calls included):",
        "",
        "| service | endpoint | " + " | ".join(f"N={r.companies:,}" for r in results) + " |",
        "|---|---|" + "---:|" * len(results),
    ]
    for service, route in routes:
        counts = " | ".join(str(r.calls.get(service, {}).get(route, 0)) for r in results)
        lines.append(f"| {service} | `{route}` | {counts} |")
    lines += ["", "Floor (HubSpot only: Yobi, Slack and SMTP publish no limits):", "", "```"]
    lines += formula(tier)
    lines.append("")
    for r in results:
        f = r.floor
        lines.append(
            f"N={r.companies:,}: S={f.search} B={f.other} P={f.definitions} D={f.before} "
            f"U={f.updates} R={f.readback}  "
            f"t_search={f.t_search:.2f} t_universe={f.t_universe:.2f} t_write={f.t_write:.2f} "
            f"t_window={f.t_window:.2f}  floor={f.seconds:.2f} s ({f.binding})"
        )
    lines.append("```")
    lines += [
        "",
        "Sandbox start-up (not in the wall time; HubSpot's and Yobi's processes one after "
        "the other, the longer shown): "
        + ", ".join(f"N={r.companies:,} {r.sandbox_start_seconds:.1f} s" for r in results),
    ]
    return lines
