"""`engagement-ranker spike` against a real sandbox: verdicts, key paths, truth, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engagement_ranker.clients.yobi_contract import BUILT_IN
from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_ROUTES,
    PROP_SCORE,
    PROP_TIER,
    TIER_BOTTOM,
    TIER_MIDDLE,
    TIER_TOP,
    TIMEZONE,
    Env,
    HubSpotApiVersion,
    HubSpotOperation,
    MatchMethod,
)
from engagement_ranker.core.identity import STRONG_SUGGESTION_SCORE
from engagement_ranker.core.week import latest_completed_week
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig
from engagement_ranker.spike import (
    HUBSPOT_CHECK,
    MAPPING_CHECK,
    YOBI_CHECK,
    bucket_zone,
    check_yobi,
    run_spike,
)

REPO = Path(__file__).resolve().parents[1]
COMPANIES = 60
ADMIN_ENDPOINTS = tuple(endpoint.route for endpoint in BUILT_IN.endpoints()[1:])
# Every POST the spike may send: searches and batch reads, which change nothing.
READ_ONLY_POSTS = frozenset(
    {
        *(
            HUBSPOT_ROUTES[version][operation]
            for version in HubSpotApiVersion
            for operation in (
                HubSpotOperation.CONTACTS_SEARCH,
                HubSpotOperation.CONTACT_COMPANIES,
                HubSpotOperation.COMPANIES_READ,
            )
        ),
        "POST /users/login",
    }
)
SCORE_AT_MOST_100 = {"property": PROP_SCORE, "ruleType": "MAX_NUMBER", "ruleArguments": ["100"]}
RANKED = ("mapped", "ambiguous")
NOT_RANKED = ("unmapped", "duplicate_claim")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(companies=COMPANIES)) as box:
        yield box


@pytest.fixture
def spike(sandbox, monkeypatch, capsys):
    """Run the spike in-process against the sandbox; returns (exit code, stdout, stderr)."""
    sandbox.control.reset()
    for name in Env:
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)

    def run(as_json: bool = True, week: str | None = None, faults: dict | None = None):
        if faults:
            sandbox.control.set_faults(faults)
        code = run_spike(as_json=as_json, week=week)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    sandbox.control.reset()


def _verdicts(report: dict) -> dict[str, str]:
    return {section: report[section]["verdict"] for section in ("yobi", "hubspot", "mapping")}


def test_default_dataset_passes_every_verification(spike):
    code, out, _ = spike()
    report = json.loads(out)
    assert code == 0, report["verdicts"]
    assert report["verdicts"] == [
        f"PASS {YOBI_CHECK}",
        f"PASS {HUBSPOT_CHECK}",
        f"PASS {MAPPING_CHECK}",
    ]
    yobi = report["yobi"]
    assert [e["endpoint"] for e in yobi["endpoints"]] == list(ADMIN_ENDPOINTS)
    assert {e["access"] for e in yobi["endpoints"]} == {"ok"}
    required = {k["key"]: k for k in yobi["keys"] if k["required"]}
    # Every required key of every endpoint the job reads (login's are proven by logging in).
    assert set(required) == {
        key.entry
        for endpoint in BUILT_IN.endpoints()
        if endpoint is not BUILT_IN.login
        for key in endpoint.every_key()
        if key.required
    }
    assert all(k["missing"] == 0 and k["entries"] > 0 for k in required.values())
    assert required["stats.appointments.metrics.new_patients"]["path"] == (
        "results.locations[].trend[].new_patients"
    )
    assert required["stats.tasks.keys.user_count"]["path"] == (
        "results.by_tenant[].trend[].by_user[].created"
    )
    week = latest_completed_week(datetime.now(UTC))
    assert report["week"]["key"] == week.key
    for buckets in yobi["buckets"].values():
        assert buckets["first"] <= week.dates[0].isoformat()
        assert buckets["last"] >= week.dates[-1].isoformat()
    assert all(c["uncovered"] == 0 and c["tenants"] > 0 for c in yobi["coverage"].values())
    assert {name: t["measured"] for name, t in yobi["trends"].items()} == {
        stats.name: "dense" for stats in BUILT_IN.stats
    }
    assert all(t["zero_buckets"] > 0 and t["gaps"] == 0 for t in yobi["trends"].values())
    assert yobi["bucket_timezone"]["contract"] == "America/New_York"
    assert yobi["bucket_timezone"]["observed"] in (None, "America/New_York")
    assert yobi["observed_contract"] == BUILT_IN.as_data()
    assert yobi["tenants"]["with_website"] < yobi["tenants"]["count"]
    hubspot = report["hubspot"]
    assert hubspot["api_version"] == "2026-09"
    assert hubspot["validation_rules"] == {name: [] for name in ENGAGEMENT_PROPERTIES}
    assert hubspot["authentication"] == "ok"
    assert all(d["exists"] and not d["read_only"] for d in hubspot["properties"].values())
    assert hubspot["universe"]["customer_contacts"] > hubspot["universe"]["included"] > 0


def test_the_spike_never_writes_to_hubspot(spike, sandbox):
    code, _, _ = spike(as_json=False)
    assert code == 0
    assert sandbox.control.writes() == []
    routes = sandbox.control.requests()["counts"]
    assert routes, "the request log recorded nothing: the spike did not reach the sandbox"
    writes = [r for r in routes if not r.startswith("GET ") and r not in READ_ONLY_POSTS]
    assert writes == []


@pytest.mark.parametrize(
    ("setting", "family"),
    [(None, HubSpotApiVersion.V2026_09), ("legacy", HubSpotApiVersion.LEGACY)],
)
def test_the_spike_speaks_the_hubspot_api_version_the_job_speaks(
    spike, sandbox, monkeypatch, setting, family
):
    if setting:
        monkeypatch.setenv(Env.HUBSPOT_API_VERSION, setting)
    code, out, _ = spike(as_json=False)
    assert code == 0
    assert f"  API version: {family.value}" in out.splitlines()
    used = set(sandbox.control.requests()["by_service"]["hubspot"]["counts"])
    assert used, "the spike never reached HubSpot"
    assert used <= set(HUBSPOT_ROUTES[family].values())
    assert HUBSPOT_ROUTES[family][HubSpotOperation.PROPERTY_VALIDATIONS] in used


def test_an_unknown_hubspot_api_version_fails_naming_the_variable(spike, monkeypatch):
    monkeypatch.setenv(Env.HUBSPOT_API_VERSION, "v3")
    code, out, _ = spike()
    verdict = json.loads(out)["hubspot"]["verdict"]
    assert code == 1
    assert verdict.startswith(f"FAIL {HUBSPOT_CHECK}: {Env.HUBSPOT_API_VERSION}='v3' is not")
    assert "use one of 2026-09, legacy" in verdict


def test_a_validation_rule_on_our_property_fails_saying_it_could_refuse_writes(spike):
    code, out, _ = spike(
        as_json=False, faults={"hubspot": {"validation_rules": [SCORE_AT_MOST_100]}}
    )
    lines = out.splitlines()
    assert code == 1
    score = next(line for line in lines if line.startswith(f"  property {PROP_SCORE}: "))
    assert score.endswith("validation rules: MAX_NUMBER (100) (could refuse writes)")
    tier = next(line for line in lines if line.startswith(f"  property {PROP_TIER}: "))
    assert tier.endswith("validation rules: none")
    assert any(line.startswith("  note: conditional rules") for line in lines)
    verdict = next(line for line in lines if line.startswith(f"FAIL {HUBSPOT_CHECK}: "))
    assert f"HubSpot could refuse writes of {PROP_SCORE}: its validation rule(s) MAX_NUMBER" in (
        verdict
    )
    assert "Fix: have a HubSpot admin exempt the property from these rules" in verdict
    assert f"PASS {MAPPING_CHECK}" in lines


def test_the_spike_reads_each_yobi_endpoint_once(spike, sandbox):
    code, _, _ = spike()
    assert code == 0
    counts = sandbox.control.requests()["by_service"]["yobi"]["counts"]
    assert counts == dict.fromkeys(counts, 1)
    assert len(counts) == len(ADMIN_ENDPOINTS) + 1  # and the login


def test_mapping_figures_equal_the_datasets_truth(spike, sandbox):
    truth = sandbox.control.truth().values()
    universe = [t for t in truth if t["expected"] in RANKED + NOT_RANKED]
    ranked = [t for t in universe if t["expected"] in RANKED]
    ambiguous = [t for t in universe if t["expected"] == "ambiguous"]
    methods = Counter(t["method"] for t in ranked)
    not_ranked = {t["company_id"]: t["expected"] for t in universe if t["expected"] in NOT_RANKED}

    code, out, _ = spike()
    mapping = json.loads(out)["mapping"]

    assert code == 0
    assert mapping["companies"] == len(universe)
    assert mapping["mapped"] == len(ranked)
    assert mapping["coverage_pct"] == round(100 * len(ranked) / len(universe), 1)
    assert mapping["ambiguous"] == len(ambiguous) > 0
    assert mapping["ambiguity_pct"] == round(100 * len(ambiguous) / len(universe), 1)
    assert mapping["by_method"] == {m.value: methods.get(m.value, 0) for m in MatchMethod}
    assert mapping["duplicate_claims"] == Counter(not_ranked.values())["duplicate_claim"] > 0
    assert {u["company_id"]: u["status"] for u in mapping["unmapped"]} == not_ranked
    assert set(mapping["overrides_draft"]) == set(not_ranked)
    suggested = {t["company_id"]: t.get("suggested_tenant_id") for t in universe}
    assert mapping["overrides_draft"] == {c: suggested[c] for c in not_ranked}


def _score(suggestion: str) -> int:
    """The score of one "<tenant id> <name> (<score>)" suggestion."""
    return int(suggestion.rsplit("(", 1)[1].rstrip(")"))


def test_the_overrides_draft_prefills_only_strong_suggestions(spike, sandbox, monkeypatch):
    # Without the overrides, the renamed and rebranded practices fall to fuzzy suggestions,
    # all wrong; only the misspelled practice's suggestion is its own tenant.
    monkeypatch.delenv(Env.TENANT_MAPPING_OVERRIDES_JSON)
    truth = sandbox.control.truth()
    misspelled = {
        c: t["suggested_tenant_id"] for c, t in truth.items() if "suggested_tenant_id" in t
    }
    code, out, _ = spike()
    mapping = json.loads(out)["mapping"]
    draft, weak = mapping["overrides_draft"], mapping.get("weak_suggestions")
    listed = {u["company_id"]: u["suggestions"] for u in mapping["unmapped"]}

    assert code == 0
    assert set(draft) == set(listed)
    assert misspelled and {c: t for c, t in draft.items() if t is not None} == misspelled
    assert all(_score(listed[c][0]) >= STRONG_SUGGESTION_SCORE for c in misspelled)
    assert mapping["strong_suggestion_score"] == STRONG_SUGGESTION_SCORE
    # The weak ones are listed apart with their scores, and left null in the draft.
    renamed = {c for c, t in truth.items() if t["method"] == "override"}
    assert weak and set(weak).isdisjoint(misspelled) and renamed & set(weak)
    for company_id, suggestions in weak.items():
        assert draft[company_id] is None and suggestions == listed[company_id]
        scores = [_score(s) for s in suggestions]
        assert scores[0] < STRONG_SUGGESTION_SCORE or scores[1] >= STRONG_SUGGESTION_SCORE

    code, text, _ = spike(as_json=False)
    block = text.split("  overrides draft")[1].split("\n  }")[0]
    for company_id, tenant_id in draft.items():
        assert f'"{company_id}": {json.dumps(tenant_id)}' in block
    weak_block = text.split("  weak suggestions")[1].split("\n\n")[0]
    for company_id, suggestions in weak.items():
        assert f"    {company_id}  " in weak_block and suggestions[0] in weak_block


def test_missing_new_patients_fails_naming_the_key(spike):
    code, out, _ = spike(faults={"yobi": {"drop_keys": ["new_patients"]}})
    report = json.loads(out)
    verdicts = _verdicts(report)
    assert code == 1
    assert verdicts["yobi"].startswith(
        f"FAIL {YOBI_CHECK}: required key stats.appointments.metrics.new_patients"
    )
    assert "results.locations[].trend[].new_patients" in verdicts["yobi"]
    assert "Fix: " in verdicts["yobi"]
    # Only that key is missing; the tenant list still serves the mapping.
    absent = [k["key"] for k in report["yobi"]["keys"] if k["missing"] and k["required"]]
    assert absent == ["stats.appointments.metrics.new_patients"]
    assert verdicts["hubspot"] == f"PASS {HUBSPOT_CHECK}"
    assert verdicts["mapping"] == f"PASS {MAPPING_CHECK}"


def test_trend_buckets_short_of_the_week_fail_naming_the_days(spike):
    week = latest_completed_week(datetime.now(UTC))
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    # Drop every bucket from the week's Saturday on (a day more, should midnight pass meanwhile).
    short = (today - week.dates[-1]).days + 2
    code, out, _ = spike(faults={"yobi": {"trend_short_days": short}})
    report = json.loads(out)
    verdict = report["yobi"]["verdict"]
    assert code == 1
    assert verdict.startswith(f"FAIL {YOBI_CHECK}: Yobi trend buckets (period ")
    assert "do not cover the week" in verdict
    assert week.dates[-1].isoformat() in verdict
    assert "Fix: rerun once Yobi has reported those days" in verdict
    assert all(c["uncovered"] == c["tenants"] > 0 for c in report["yobi"]["coverage"].values())


def test_refused_yobi_login_fails_before_any_endpoint(spike):
    code, out, _ = spike(faults={"yobi": {"login_fails": True}})
    report = json.loads(out)
    assert code == 1
    assert report["yobi"]["login"] == "failed"
    assert "endpoints" not in report["yobi"]
    assert report["yobi"]["verdict"].startswith(f"FAIL {YOBI_CHECK}: Yobi POST /users/login")
    assert f"Fix: check {Env.YOBI_EMAIL} and {Env.YOBI_PASSWORD}" in report["yobi"]["verdict"]


def test_non_admin_yobi_account_fails_naming_each_endpoint(spike):
    code, out, _ = spike(faults={"yobi": {"non_admin": True}})
    report = json.loads(out)
    verdict = report["yobi"]["verdict"]
    assert code == 1
    assert report["yobi"]["login"] == "ok"
    assert verdict.startswith(f"FAIL {YOBI_CHECK}: no access (HTTP 403) to ")
    assert all(endpoint in verdict for endpoint in ADMIN_ENDPOINTS)
    assert f"Fix: the Yobi account in {Env.YOBI_EMAIL} is not an admin" in verdict
    assert report["mapping"]["verdict"].startswith(f"FAIL {MAPPING_CHECK}: not run")


def test_revoked_hubspot_token_fails_with_the_fix_and_no_secret(spike, sandbox):
    code, out, err = spike(as_json=False, faults={"hubspot": {"auth": "revoked"}})
    lines = out.splitlines()
    assert code == 1
    assert "  token: refused (HTTP 401)" in lines
    hubspot = next(line for line in lines if line.startswith(f"FAIL {HUBSPOT_CHECK}: "))
    assert f"Fix: check {Env.HUBSPOT_ACCESS_TOKEN}" in hubspot
    assert f"PASS {YOBI_CHECK}" in lines
    for secret in (Env.HUBSPOT_ACCESS_TOKEN, Env.YOBI_PASSWORD, Env.SLACK_WEBHOOK_URL):
        assert sandbox.env[secret] not in out + err


def test_a_tier_option_hubspot_lacks_fails_naming_the_property(spike):
    faults = {"hubspot": {"properties": {PROP_TIER: {"drop_options": [TIER_BOTTOM]}}}}
    code, out, _ = spike(faults=faults)
    hubspot = json.loads(out)["hubspot"]
    assert code == 1
    assert hubspot["properties"][PROP_TIER]["options"] == [TIER_TOP, TIER_MIDDLE]
    assert hubspot["verdict"].startswith(f"FAIL {HUBSPOT_CHECK}: {PROP_TIER}")
    assert TIER_BOTTOM in hubspot["verdict"]
    assert hubspot["universe"]["included"] > 0


def test_coverage_below_the_minimum_fails_with_the_overrides_draft(spike, monkeypatch):
    monkeypatch.setenv(Env.MAPPING_COVERAGE_MIN, "0.99")
    code, out, _ = spike(as_json=False)
    verdict = out.splitlines()[-1]
    assert code == 1
    assert verdict.startswith(f"FAIL {MAPPING_CHECK}: only ")
    assert f"below {Env.MAPPING_COVERAGE_MIN} (99.0%)" in verdict
    assert f"Fix: pin the unmapped companies in {Env.TENANT_MAPPING_OVERRIDES_JSON}" in verdict
    assert "  overrides draft (" in out


def test_overrides_are_read_from_the_file_the_job_reads(spike, sandbox, monkeypatch, tmp_path):
    code, out, _ = spike()
    from_variable = json.loads(out)["mapping"]
    path = tmp_path / "overrides.json"
    path.write_text(sandbox.env[Env.TENANT_MAPPING_OVERRIDES_JSON], encoding="utf-8")
    monkeypatch.delenv(Env.TENANT_MAPPING_OVERRIDES_JSON)
    monkeypatch.setenv(Env.TENANT_MAPPING_OVERRIDES_FILE, str(path))
    code, out, _ = spike()
    from_file = json.loads(out)["mapping"]
    assert code == 0
    assert from_file["overrides_in_use"] == from_variable["overrides_in_use"] > 0
    assert from_file["by_method"] == from_variable["by_method"]

    path.unlink()
    code, out, _ = spike()
    verdict = json.loads(out)["mapping"]["verdict"]
    assert code == 1
    assert verdict.startswith(f"FAIL {MAPPING_CHECK}: {Env.TENANT_MAPPING_OVERRIDES_FILE}=")
    assert "is not a readable file" in verdict


def test_the_text_report_is_the_same_byte_for_byte(spike):
    first = spike(as_json=False)
    second = spike(as_json=False)
    assert first[0] == 0
    assert first == second


def test_a_week_not_yet_over_is_refused(spike, sandbox):
    latest = latest_completed_week(datetime.now(UTC))
    upcoming = (latest.dates[0] + timedelta(days=14)).isoformat()
    code, out, err = spike(week=upcoming)
    assert code == 2
    assert out == ""
    assert f"--week: week {upcoming} has not ended yet" in err
    assert latest.key in err
    assert sandbox.control.requests()["counts"] == {}


def test_the_cli_command_prints_json_and_exits_with_the_verdict(sandbox):
    sandbox.control.reset()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        **sandbox.env,
    }
    week = latest_completed_week(datetime.now(UTC)).previous().key
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from engagement_ranker.cli import main; main()",
            "spike",
            "--json",
            "--week",
            week,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["week"]["key"] == week
    assert report["passed"] is True


def test_yobi_is_read_with_the_contract_file_the_job_reads(spike, monkeypatch, tmp_path):
    data = BUILT_IN.as_data()
    data["stats"]["appointments"]["metrics"]["new_patients"] = ["new_patient_count"]
    path = tmp_path / "yobi-contract.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv(Env.YOBI_CONTRACT_FILE, str(path))
    code, out, _ = spike()
    yobi = json.loads(out)["yobi"]
    assert code == 1
    assert yobi["contract_source"] == str(path)
    assert yobi["verdict"].startswith(
        f"FAIL {YOBI_CHECK}: required key stats.appointments.metrics.new_patients is absent at "
        "results.locations[].trend[].new_patient_count"
    )
    assert f"correct entry stats.appointments.metrics.new_patients in {path}" in yobi["verdict"]

    path.unlink()
    code, out, _ = spike()
    verdict = json.loads(out)["yobi"]["verdict"]
    assert code == 1
    assert verdict.startswith(f"FAIL {YOBI_CHECK}: Yobi contract {path}: cannot be read")
    assert f"Fix: point {Env.YOBI_CONTRACT_FILE} at a readable UTF-8 JSON file" in verdict


@pytest.fixture(scope="module")
def sparse_sandbox():
    with Sandbox(SandboxConfig(companies=COMPANIES, yobi_sparse=True)) as box:
        yield box


def test_sparse_trends_are_measured_and_the_observed_contract_reads_them(
    sparse_sandbox, monkeypatch, capsys, tmp_path
):
    for name in Env:
        monkeypatch.delenv(name, raising=False)
    for name, value in sparse_sandbox.env.items():
        if name != Env.YOBI_CONTRACT_FILE:  # read as the built-in (dense) contract says
            monkeypatch.setenv(name, value)
    code = run_spike(as_json=True, week=None)
    yobi = json.loads(capsys.readouterr().out)["yobi"]
    assert code == 1
    assert {name: t["measured"] for name, t in yobi["trends"].items()} == {
        stats.name: "sparse" for stats in BUILT_IN.stats
    }
    assert all(t["zero_buckets"] == 0 and t["absent"] > 0 for t in yobi["trends"].values())
    assert "calls trends are sparse" in yobi["verdict"]
    assert "save the observed contract" in yobi["verdict"]
    observed = yobi["observed_contract"]
    assert {stats["trends"] for stats in observed["stats"].values()} == {"sparse"}

    path = tmp_path / "observed.json"
    path.write_text(json.dumps(observed), encoding="utf-8")
    monkeypatch.setenv(Env.YOBI_CONTRACT_FILE, str(path))
    code = run_spike(as_json=True, week=None)
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["verdicts"]
    assert report["yobi"]["observed_contract"] == observed


def test_the_text_report_prints_the_observed_contract_ready_to_save(spike):
    code, out, _ = spike(as_json=False)
    assert code == 0
    lines = out.splitlines()
    start = lines.index(
        f"  observed contract (save it as a file and name that file in {Env.YOBI_CONTRACT_FILE}):"
    )
    end = lines.index("}", start)
    assert json.loads("\n".join(lines[start + 1 : end + 1])) == BUILT_IN.as_data()


EVENING = datetime(2026, 11, 22, 21, 30, tzinfo=ZoneInfo(TIMEZONE))  # Monday already in UTC


@pytest.mark.parametrize(
    ("zone", "observed", "passed"), [("UTC", "UTC", False), (TIMEZONE, TIMEZONE, True)]
)
def test_the_bucket_time_zone_is_told_from_the_service_clock(make_sandbox, zone, observed, passed):
    box = make_sandbox(SandboxConfig(companies=20, now=EVENING, yobi_bucket_timezone=zone))
    week = latest_completed_week(EVENING)
    section, _ = check_yobi(box.env, week, EVENING.date())
    finding = section.findings["bucket_timezone"]
    assert finding["contract"] == TIMEZONE
    assert finding["observed"] == observed
    assert finding["service_dates"] == {TIMEZONE: "2026-11-22", "UTC": "2026-11-23"}
    assert finding["newest_bucket"] == ("2026-11-23" if zone == "UTC" else "2026-11-22")
    assert section.findings["observed_contract"]["bucket_timezone"] == observed
    assert section.passed is passed
    if not passed:
        assert "trend buckets are UTC days" in section.verdict()
        assert "an exact America/New_York week cannot be summed from UTC days" in section.verdict()


@pytest.mark.parametrize(
    ("served_at", "newest", "stamps", "observed", "evidence"),
    [
        (
            datetime(2026, 11, 22, 15, 0, tzinfo=UTC),
            date(2026, 11, 22),
            [],
            None,
            "share the date 2026-11-22",
        ),
        (None, date(2026, 11, 22), [], None, "no Date header"),
        (
            datetime(2026, 11, 23, 2, 30, tzinfo=UTC),
            date(2026, 11, 21),
            [],
            None,
            "older than today",
        ),
        (
            datetime(2026, 11, 22, 15, 0, tzinfo=UTC),
            date(2026, 11, 22),
            ["2026-11-21T00:00:00-05:00", "2026-11-22T00:00:00-05:00"],
            TIMEZONE,
            "start at midnight in America/New_York",
        ),
        (
            datetime(2026, 11, 22, 15, 0, tzinfo=UTC),
            date(2026, 11, 22),
            ["2026-11-21T00:00:00Z", "2026-11-22T00:00:00+00:00"],
            "UTC",
            "start at midnight in UTC",
        ),
    ],
)
def test_what_the_bucket_dates_can_and_cannot_tell(served_at, newest, stamps, observed, evidence):
    finding = bucket_zone(TIMEZONE, served_at, newest, [datetime.fromisoformat(s) for s in stamps])
    assert finding["observed"] == observed
    assert evidence in finding["evidence"]
