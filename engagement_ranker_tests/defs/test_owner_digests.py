"""Each account manager's own accounts, through a real run: the sandbox's SMTP stand-in gets one
digest per owner with an e-mail address, holding exactly that owner's companies; owners
without one are reported, never guessed; the summary e-mail carries its chart inline."""

from __future__ import annotations

import re

import pandas as pd

from engagement_ranker.constants import PROP_OWNER, Env
from engagement_ranker.core.charts import CHART_CID
from engagement_ranker.core.universe import included
from engagement_ranker.defs.keys import CUSTOMER_COMPANIES, TENANT_MAPPING
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.defs.resources import warehouse_path
from engagement_ranker.defs.warehouse import stored_week
from engagement_ranker_tests.defs.conftest import Harness

ACCOUNTS_HEADING = re.compile(r"^YOUR RANKED ACCOUNTS \((\d+)\)$")
RANK_CELL = re.compile(r"^\s+(\d+)\s")
COMPANY_ID = re.compile(r"\((\d{6,})\)")


def _stored(key) -> pd.DataFrame:
    from dagster_duckdb import DuckDBResource

    return stored_week(DuckDBResource(database=warehouse_path()), key, latest_week_key())


def _ranks_listed(text: str) -> tuple[int, set[int]]:
    """(the count the heading gives, the ranks its table lists) of a digest's plain text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if ACCOUNTS_HEADING.match(line))
    count = int(ACCOUNTS_HEADING.match(lines[start])[1])
    ranks = set()
    for line in lines[start + 2 :]:  # after the heading and the column names
        if not line.strip():
            break
        ranks.add(int(RANK_CELL.match(line)[1]))
    return count, ranks


def _unmapped_listed(text: str) -> set[str]:
    part = text.split("NOT RANKED: NO YOBI TENANT FOUND", 1)
    return set(COMPANY_ID.findall(part[1])) if len(part) == 2 else set()


def test_each_owner_gets_one_digest_with_exactly_their_companies(harness: Harness) -> None:
    harness.setenv(Env.OWNER_DIGESTS, "true")

    result = harness.run(mode="full")

    assert result.success
    universe = included(_stored(CUSTOMER_COMPANIES))
    mapping = _stored(TENANT_MAPPING)
    ranked = harness.ranked()
    owners = {o["id"]: o for o in harness.control.owners()}
    team = [harness.sandbox.env[Env.SUMMARY_EMAIL_TO]]
    emails = harness.control.emails()
    digests = [mail for mail in emails if mail["to"] != team]
    assert len(emails) - len(digests) == 1  # and the team's summary
    reachable = {
        owner_id
        for owner_id in universe[PROP_OWNER].dropna()
        if owners[owner_id].get("email") and not owners[owner_id]["archived"]
    }
    assert sorted(mail["to"][0] for mail in digests) == sorted(
        owners[o]["email"] for o in reachable
    )  # one each, nobody else, no guessed address
    rank_of = dict(zip(ranked["company_id"], ranked["rank"], strict=True))
    unmapped = set(mapping.loc[mapping["tenant_id"].isna(), "company_id"])
    for mail in digests:
        [owner_id] = [o for o in reachable if owners[o]["email"] == mail["to"][0]]
        theirs = set(universe.loc[universe[PROP_OWNER] == owner_id, "company_id"])
        expected_ranks = {rank_of[c] for c in theirs if c in rank_of}
        count, ranks = _ranks_listed(mail["text"])
        assert ranks == expected_ranks and count == len(expected_ranks)
        assert _unmapped_listed(mail["text"]) == theirs & unmapped
        assert mail["subject"].startswith("Your accounts · ")
    # The owner without an e-mail and the one who left are reported, by name and number.
    [materialization] = result.asset_materializations_for_node("owner_digests")
    anomalies = materialization.metadata["anomalies"].value
    silent = [o for o in owners.values() if not o.get("email") and not o["archived"]]
    assert all(o["id"] in anomalies for o in silent)
    assert "has no e-mail address in HubSpot" in anomalies
    assert "is not among HubSpot's active owners" in anomalies
    assert materialization.metadata["sent"].value == len(reachable)


def test_digests_are_opt_in_and_the_summary_carries_its_chart(harness: Harness) -> None:
    result = harness.run(mode="full")

    assert result.success
    [summary] = harness.control.emails()  # no digest: OWNER_DIGESTS is off by default
    [chart] = summary["images"]
    assert chart["cid"] == CHART_CID and chart["content_type"] == "image/png"
    assert chart["bytes"] > 10_000
    assert f'src="cid:{CHART_CID}"' in summary["html"]
    owners_route = "owners"
    calls = harness.control.requests()["by_service"]["hubspot"]["counts"]
    assert not [route for route in calls if owners_route in route]
