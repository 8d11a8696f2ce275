"""Owner digests from the week's tables: each owner's companies only, flagged when they fall
into the bottom tier or further than the set number of places, unmapped ones listed, and an
owner without an address reported rather than guessed."""

from __future__ import annotations

import pandas as pd

from engagement_ranker.constants import PROP_OWNER, WriteMode
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.movers import attach_prior
from engagement_ranker.core.owners import NO_EMAIL, NOT_AN_OWNER, SENT, Owner, owner_digests
from engagement_ranker.core.render import email
from engagement_ranker.core.scoring import rank_companies
from engagement_ranker.core.week import parse_week_key

WEEK = parse_week_key("2026-11-15")
OWNERS = {
    "41": Owner("41", "ana@example.com", "Ana", "Ruiz"),
    "42": Owner("42", None, "Bo", "Chen"),
}


def ranked(calls: dict[str, int], prior: dict[str, str]) -> pd.DataFrame:
    rows = [
        {
            "company_id": cid,
            "name": f"Practice {cid}",
            "tenant_id": int(cid) + 500,
            "method": "domain",
            "new_patients": 0,
            "appointments": 0,
            "tasks": 0,
            "calls": n,
        }
        for cid, n in calls.items()
    ]
    return attach_prior(rank_companies(pd.DataFrame(rows)), None, prior)


def tables(owner_of: dict[str, str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    universe = pd.DataFrame(
        {
            "company_id": list(owner_of),
            "excluded_reason": [None] * len(owner_of),
            PROP_OWNER: list(owner_of.values()),
        }
    )
    mapping = pd.DataFrame(
        {
            "company_id": list(owner_of),
            "name": [f"Practice {c}" for c in owner_of],
            "tenant_id": pd.array([None if c == "9" else 1 for c in owner_of], "Int64"),
            "suggestions": ["501 Practice Nine (98)" if c == "9" else "" for c in owner_of],
        }
    )
    return universe, mapping


def test_each_owner_gets_their_own_companies_flagged_and_unmapped() -> None:
    # Eight companies ranked by calls; company 1 was 1st of 8, now 8th: fell 7 places and
    # into the bottom tier; company 2 rose from 2nd to 1st. Company 9 is unmapped.
    week = ranked(
        {str(i): (0 if i == 1 else 100 - i) for i in range(1, 9)},
        {"1": "1 out of 8", "2": "2 out of 8"},
    )
    universe, mapping = tables({**{str(i): "41" for i in range(1, 6)}, "6": "42", "9": "41"})
    left = pd.DataFrame({"company_id": ["7"], "excluded_reason": [None], PROP_OWNER: ["77"]})
    universe = pd.concat([universe, left])  # owned by someone who has left

    digests, table, problems = owner_digests(
        universe, mapping, week, OWNERS, week=WEEK, mode=WriteMode.FULL, fall_places=5
    )

    [ana] = digests
    assert ana.owner.owner_id == "41"
    assert list(ana.accounts["company_id"]) == ["2", "3", "4", "5", "1"]  # rank order
    assert list(ana.need_a_look["company_id"]) == ["1"]
    assert ana.need_a_look["look"].iloc[0] == "fell into Bottom 30%; fell 7 places"
    assert list(ana.unmapped["company_id"]) == ["9"]
    assert dict(zip(table["owner_id"], table["outcome"], strict=True)) == {
        "41": SENT,
        "42": NO_EMAIL,
        "77": NOT_AN_OWNER,
    }
    assert [p.kind for p in problems] == [AnomalyKind.OWNER_WITHOUT_EMAIL] * 2
    assert "Bo Chen (owner 42) has no e-mail address" in problems[0].message
    assert "owner 77 is not among HubSpot's active owners" in problems[1].message
    subject, text, _ = email(ana)
    assert subject.startswith("Your accounts · Week of Sun Nov 15") and "[1 NEED A LOOK]" in subject
    assert "Practice 6" not in text and "Practice 7" not in text  # other owners' companies
    assert "Practice 9 (9): looks like 501 Practice Nine (98)" in text
