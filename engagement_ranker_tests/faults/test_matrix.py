"""The fault matrix as tests: one per row (`make faults`, or `pytest -m faults -k <name>`).

Every selected row starts at once in the matrix's pool (each in a process of its own, a few at
a time); each test waits for its row's verdict, read from HubSpot itself, and fails with the
row's problems. `python -m engagement_ranker_tests.faults` prints the same rows as a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from engagement_ranker_tests.faults.matrix import baseline_problems, trials
from engagement_ranker_tests.faults.rows import BASELINE, ROWS
from engagement_ranker_tests.faults.verdict import Verdict

pytestmark = pytest.mark.faults


@pytest.fixture(scope="session")
def verdict(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Verdict]]:
    """The verdict of a row by name; the selected rows (and the baseline) start at once."""
    selected = {
        item.callspec.params["row"]
        for item in request.session.items
        if item.path.name == "test_matrix.py" and hasattr(item, "callspec")
    }
    with trials([row for row in ROWS if row.name in selected | {BASELINE}]) as found:
        yield found


@pytest.mark.parametrize("row", [row.name for row in ROWS])
def test_fault(row: str, verdict: Callable[[str], Verdict]) -> None:
    found = verdict(row)
    problems = [*found.problems, *baseline_problems(found, verdict(BASELINE))]
    assert not problems, (
        f"{row}: expected {found.expected}, observed {found.observed}\n"
        + "\n".join(f"  - {problem}" for problem in problems)
    )
