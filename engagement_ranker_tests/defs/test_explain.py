"""`engagement-ranker explain`: one company's stored week told whole, from what the run stored:
tenant and why, counters per day summing to the week, points, rank, move and driver, and
HubSpot's values before and after; clear refusals for a wrong id or a week never run."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner

from engagement_ranker.cli import main
from engagement_ranker.constants import PROP_RANK, Env
from engagement_ranker.core.week import Week, parse_week_key
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker_tests.defs.conftest import Harness


def _explain(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["explain", *args])
    return result.exit_code, result.output


@pytest.mark.on_disk
def test_a_company_s_week_is_told_from_what_the_run_stored(harness: Harness) -> None:
    latest = latest_week_key()
    assert harness.run(parse_week_key(latest).previous().key, mode=None).success
    assert harness.run(mode="full").success
    ranked = harness.ranked().set_index("company_id")
    moved = ranked[ranked["delta"] < 0].sort_values(["delta", "rank"]).iloc[0]
    company_id = moved.name
    write = next(w for w in harness.control.writes() if w["company_id"] == company_id)

    code, story = _explain("--company", company_id)

    assert code == 0, story
    assert story.startswith(f"{moved['name']} ({company_id}) · {parse_week_key(latest).label}")
    assert re.search(r"^  Method\s+\w+ \((high|medium|low|very low) confidence\)$", story, re.M)
    assert re.search(r"^  Why\s+\S", story, re.M)  # the mapping's reason
    week_line = re.search(r"^  Week\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$", story, re.M)
    counters = [int(v.replace(",", "")) for v in week_line.groups()]
    assert counters == [int(moved[m]) for m in ("new_patients", "appointments", "tasks", "calls")]
    day_rows = re.findall(r"^  (?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) \w{3} \d\d\s+(.*)$", story, re.M)
    assert len(day_rows) == 7
    sums = [sum(int(row.split()[i].replace(",", "")) for row in day_rows) for i in range(4)]
    assert sums == counters  # the days add up to the week ranked
    assert re.search(rf"^  Score\s+{int(moved['score']):,}$", story, re.M)
    assert f"  Rank   {moved['rank_text']}" in story
    assert f"▼{-int(moved['delta'])} · {moved['driver']}" in story
    before = write["before"][PROP_RANK] or "—"  # HubSpot held none before, or its old text
    assert re.search(
        rf"customer_engagement_rank\s+{re.escape(before)}\s+"
        rf"{re.escape(moved['rank_text'])}\s+{re.escape(moved['rank_text'])}",
        story,
    )


@pytest.mark.on_disk
def test_explain_refuses_what_it_cannot_tell(harness: Harness) -> None:
    code, output = _explain("--company", "acme")
    assert code == 1 and "--company 'acme' is not a HubSpot company id" in output
    code, output = _explain("--company", "123", "--week", latest_week_key())
    assert code == 1 and f"week {latest_week_key()} has no stored customer_companies" in output
    assert harness.run(mode=None).success
    code, output = _explain("--company", "123")
    assert code == 1 and "company 123 is not among week" in output
    code, output = _explain("--company", "123", "--week", "2026-11-17")
    assert code == 2 and "--week" in output
    ongoing = Week.starting(parse_week_key(latest_week_key()).first_day + timedelta(weeks=1))
    code, output = _explain("--company", "123", "--week", ongoing.key)
    assert code == 2 and f"week {ongoing.key} has not ended yet" in output
    assert Env.HUBSPOT_ACCESS_TOKEN.value not in output
