"""The write plan: values as HubSpot strings, the diff, modes, batches, definitions, read-back."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.constants import (
    HUBSPOT_BATCH_UPDATE_MAX,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_LABELS,
    WriteMode,
)
from engagement_ranker.core.scoring import rank_companies
from engagement_ranker.core.writeplan import (
    CompanyWrite,
    batches,
    intended_values,
    plan_writes,
    property_problems,
    readback_mismatches,
    unwritten_allowlist,
)


def values(score: str, rank: str, tier: str) -> dict[str, str]:
    return {PROP_SCORE: score, PROP_RANK: rank, PROP_TIER: tier}


def test_intended_values_are_hubspot_strings():
    ranked = rank_companies(
        pd.DataFrame(
            {
                "company_id": ["12", "7"],
                "name": ["A", "B"],
                "tenant_id": pd.array([1, 2], dtype="Int64"),
                "method": "domain",
                "new_patients": [1, 0],
                "appointments": [2, 0],
                "tasks": [3, 0],
                "calls": [4, 1],
            }
        )
    )
    assert intended_values(ranked) == {
        "12": values("20", "1 out of 2", "Top 30%"),
        "7": values("1", "2 out of 2", "Bottom 30%"),
    }


INTENDED = {
    "100": values("37", "1 out of 4", "Top 30%"),
    "9": values("20", "2 out of 4", "Middle 40%"),
    "31": values("5", "3 out of 4", "Bottom 30%"),
    "4": values("0", "4 out of 4", "Bottom 30%"),
}
BEFORE = {
    "100": values("37.0", "1 out of 4", "Top 30%"),  # same: 37.0 is 37
    "9": values("20", "3 out of 4", "Middle 40%"),  # rank changed
    "31": {PROP_SCORE: None, PROP_RANK: None, PROP_TIER: None},  # never written
    # "4" absent from the before image entirely
}


def test_plan_sends_only_changes_in_numeric_id_order():
    plan = plan_writes(INTENDED, BEFORE, WriteMode.FULL, allowlist=())
    assert [w.company_id for w in plan.changes] == ["4", "9", "31"]
    assert plan.unchanged == ("100",)
    assert plan.held_back == ()
    nine = plan.changes[1]
    assert nine.before == BEFORE["9"] and nine.after == INTENDED["9"]
    assert plan.changes[0].before == {PROP_SCORE: None, PROP_RANK: None, PROP_TIER: None}


def test_allowlist_holds_back_changed_companies_not_listed():
    plan = plan_writes(INTENDED, BEFORE, WriteMode.ALLOWLIST, allowlist=["9", "100"])
    assert [w.company_id for w in plan.changes] == ["9"]
    assert plan.unchanged == ("100",)
    assert plan.held_back == ("4", "31")


def test_dry_run_plans_what_would_be_written():
    plan = plan_writes(INTENDED, BEFORE, WriteMode.DRY_RUN, allowlist=())
    assert [w.company_id for w in plan.changes] == ["4", "9", "31"]


@pytest.mark.parametrize(
    ("before", "changed"),
    [
        ("37", False),
        ("37.0", False),
        ("37.00", False),
        (" 37 ", False),
        ("38", True),
        ("", True),
        ("n/a", True),
        (None, True),
    ],
)
def test_score_compares_numerically(before, changed):
    intended = {"1": values("37", "1 out of 1", "Top 30%")}
    current = {"1": {**intended["1"], PROP_SCORE: before}}
    plan = plan_writes(intended, current, WriteMode.FULL, ())
    assert bool(plan.changes) is changed


def test_text_properties_compare_exactly():
    intended = {"1": values("37", "1 out of 1", "Top 30%")}
    for prop, other in ((PROP_RANK, "1 out of 1 "), (PROP_TIER, "top 30%")):
        current = {"1": {**intended["1"], prop: other}}
        assert plan_writes(intended, current, WriteMode.FULL, ()).changes


def writes(n: int) -> list[CompanyWrite]:
    return [CompanyWrite(str(i), {}, values("1", "1 out of 1", "Top 30%")) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(0, []), (1, [1]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50])],
)
def test_batches_of_at_most_100_in_order(n, sizes):
    changes = writes(n)
    split = batches(changes)
    assert [len(b) for b in split] == sizes
    assert [w for b in split for w in b] == changes


def test_batch_size_outside_hubspot_limit_is_refused():
    assert [len(b) for b in batches(writes(5), size=2)] == [2, 2, 1]
    for size in (0, HUBSPOT_BATCH_UPDATE_MAX + 1):
        with pytest.raises(ValueError, match=r"outside 1\.\.100"):
            batches(writes(5), size=size)


# --- property definitions -------------------------------------------------------------------
def definition(kind: str, field: str, **extra) -> dict:
    return {
        "type": kind,
        "fieldType": field,
        "options": [],
        "hasUniqueValue": False,
        "modificationMetadata": {"readOnlyValue": False},
        **extra,
    }


def tier_options(*labels: str) -> list[dict]:
    return [{"label": f"Label {v}", "value": v, "hidden": False} for v in labels]


GOOD = {
    PROP_SCORE: definition("number", "number"),
    PROP_RANK: definition("string", "text"),
    PROP_TIER: definition("string", "text"),
}


@pytest.mark.parametrize(
    "tier",
    [
        definition("string", "text"),
        definition("enumeration", "select", options=tier_options(*TIER_LABELS)),
        definition("enumeration", "radio", options=tier_options(*TIER_LABELS, "Extra")),
    ],
)
def test_writable_definitions_have_no_problems(tier):
    assert property_problems({**GOOD, PROP_TIER: tier}) == []
    assert property_problems({**GOOD, PROP_RANK: definition("string", "textarea")}) == []


@pytest.mark.parametrize(
    ("prop", "bad", "fragments"),
    [
        (PROP_SCORE, None, ["does not exist", "as Number"]),
        (PROP_RANK, None, ["does not exist", "as Single-line text"]),
        (PROP_SCORE, definition("string", "text"), ["type 'string'", "as Number"]),
        (PROP_SCORE, definition("number", "calculation_equation"), ["'calculation_equation'"]),
        (PROP_RANK, definition("number", "number"), ["type 'number'", "Single-line text"]),
        (PROP_RANK, definition("enumeration", "select"), ["type 'enumeration'"]),
        (PROP_TIER, definition("string", "textarea"), ["field type 'textarea'"]),
        (PROP_TIER, definition("bool", "booleancheckbox"), ["type 'bool'"]),
        (
            PROP_TIER,
            definition("enumeration", "select", options=tier_options("Top 30%", "Bottom 30%")),
            ["lack 'Middle 40%'", "labels do not count"],
        ),
        (
            PROP_TIER,
            definition(
                "enumeration",
                "select",
                # Labels right, internal values wrong: HubSpot matches values.
                options=[{"label": v, "value": v.lower().replace(" ", "_")} for v in TIER_LABELS],
            ),
            ["lack 'Top 30%', 'Middle 40%', 'Bottom 30%'"],
        ),
        (
            PROP_SCORE,
            definition("number", "number", modificationMetadata={"readOnlyValue": True}),
            ["read-only"],
        ),
        (PROP_SCORE, definition("number", "number", hasUniqueValue=True), ["unique values"]),
    ],
)
def test_each_problem_names_the_property_what_is_wrong_and_the_fix(prop, bad, fragments):
    problems = property_problems({**GOOD, prop: bad})
    assert len(problems) == 1
    (problem,) = problems
    assert problem.startswith(prop)
    assert "HubSpot Settings > Properties" in problem
    for fragment in fragments:
        assert fragment in problem


def test_a_property_absent_from_the_mapping_is_missing():
    problems = property_problems({PROP_SCORE: GOOD[PROP_SCORE]})
    assert [p.split()[0] for p in problems] == [PROP_RANK, PROP_TIER]


# --- read-back ------------------------------------------------------------------------------
def test_readback_matches_hubspot_style():
    intended = {"2": values("37", "1 out of 2", "Top 30%"), "10": values("0", "2 out of 2", "x")}
    actual = {"2": values("37.0", "1 out of 2", "Top 30%"), "10": values("0", "2 out of 2", "x")}
    assert readback_mismatches(intended, actual) == []


def test_readback_reports_every_difference():
    intended = {
        "10": values("37", "1 out of 3", "Top 30%"),
        "2": values("5", "2 out of 3", "Middle 40%"),
        "3": values("1", "3 out of 3", "Bottom 30%"),
    }
    actual = {
        "10": values("36", "1 out of 3", "Top 30%"),
        "2": {PROP_SCORE: "5", PROP_RANK: None, PROP_TIER: "Middle 40%"},
    }
    assert readback_mismatches(intended, actual) == [
        "company 2: customer_engagement_rank reads back None, sent '2 out of 3'",
        "company 3: missing when read back",
        "company 10: customer_engagement_score reads back '36', sent '37'",
    ]


def test_every_allowlisted_company_not_ranked_is_named_with_why() -> None:
    universe = pd.DataFrame(
        {"company_id": ["1", "2", "3"], "excluded_reason": [None, "churned", None]}
    )
    mapping = pd.DataFrame({"company_id": ["1", "3"], "status": ["mapped", "unmapped"]})
    reasons = dict(unwritten_allowlist(["1", "2", "3", "404"], ["1"], universe, mapping))
    assert set(reasons) == {"2", "3", "404"}
    assert reasons["2"] == "it is excluded: churned"
    assert reasons["3"].startswith("it has no Yobi tenant (unmapped)")
    assert reasons["404"].startswith("it is not a customer company this week")
