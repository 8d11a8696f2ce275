"""The floor: the least time a run's HubSpot calls can take under the limits and latency.

Yobi, Slack and SMTP have no published limits and can overlap HubSpot, so only HubSpot
counts. Three facts bound a run from below:
- search pages come at most 5 a second, each after the previous page's cursor;
- the universe (search -> associations -> companies) must be read before anything is ranked,
  and the write protocol can only follow the ranking: property definitions and the before
  image (DESIGN.md, "Writing" step 4: read before the first write), the updates, their
  read-back;
- every other call passes through the account's rolling 10-second window (100 on Free):
  the first can go once the first search page is back, and the last must be answered.
A window of L calls lets L go at once and the next L one window later, hence the ceilings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engagement_ranker.constants import (
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_ROUTES,
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_WINDOW_SECONDS,
    HUBSPOT_TIER_LIMITS,
    HUBSPOT_WINDOW_SECONDS,
    HubSpotOperation,
)

# Round trips after the last search page before ranking: associations, then company read.
UNIVERSE_TAIL_TRIPS = 2
# Round trips of the write phase: the before image, an update, the read-back of what it wrote.
WRITE_TRIPS = 3
# Round trips around the window: the first call waits for the first search page, the last
# call's answer ends the run.
WINDOW_TRIPS = 2


def formula(tier: str) -> list[str]:
    """The floor's formula, with this tier's limits, as printed under the table."""
    limit = HUBSPOT_TIER_LIMITS[tier]
    window = HUBSPOT_WINDOW_SECONDS
    per_second = HUBSPOT_SEARCH_PER_SECOND
    return [
        "RTT = injected latency per call; S = search calls; B = all other HubSpot calls;",
        f"P = property definition reads; D = before-image reads = ceil(ranked / "
        f"{HUBSPOT_BATCH_READ_MAX}); U = batch updates;",
        f"R = read-back reads = ceil(written / {HUBSPOT_BATCH_READ_MAX}); "
        f"L = {limit} calls per W = {window} s ({tier})",
        f"t_search   = max((ceil(S/{per_second}) - 1) x {HUBSPOT_SEARCH_WINDOW_SECONDS:g} s, "
        "(S - 1) x RTT) + RTT"
        "   (pages in a chain, at most "
        f"{per_second}/s)",
        f"t_universe = t_search + {UNIVERSE_TAIL_TRIPS} x RTT"
        "   (associations, then companies, of the last page: all read before ranking)",
        f"t_write    = (ceil((P + D + U + R)/L) - 1) x W + {WRITE_TRIPS} x RTT"
        "   (the write protocol, after ranking; 0 without updates)",
        f"t_window   = (ceil(B/L) - 1) x W + {WINDOW_TRIPS} x RTT"
        "   (every non-search call through the rolling window)",
        "floor      = max(t_universe + t_write, t_window)",
    ]


def _calls(counts: dict[str, int], operation: HubSpotOperation) -> int:
    """Calls of `operation` in `counts` (by route, as the sandbox logs them), in any family."""
    return sum(counts.get(table[operation], 0) for table in HUBSPOT_ROUTES.values())


def _windows(calls: int, limit: int) -> int:
    """How many full windows must pass before the last of `calls` may be sent."""
    return max(math.ceil(calls / limit) - 1, 0)


@dataclass(frozen=True)
class Floor:
    """The floor's terms for one run, in seconds."""

    search: int
    other: int
    definitions: int
    before: int
    updates: int
    readback: int
    t_search: float
    t_universe: float
    t_write: float
    t_window: float

    @property
    def seconds(self) -> float:
        return max(self.t_universe + self.t_write, self.t_window)

    @property
    def binding(self) -> str:
        """Which bound sets the floor."""
        return "window" if self.t_window >= self.t_universe + self.t_write else "universe+write"


def hubspot_floor(
    counts: dict[str, int], ranked: int, written: int, latency_ms: int, tier: str
) -> Floor:
    """The floor of a run that made `counts` HubSpot calls by route, ranked `ranked`
    companies and wrote `written`."""
    rtt = latency_ms / 1000
    limit = HUBSPOT_TIER_LIMITS[tier]
    search = _calls(counts, HubSpotOperation.CONTACTS_SEARCH)
    other = sum(counts.values()) - search
    updates = _calls(counts, HubSpotOperation.COMPANIES_UPDATE)
    readback = math.ceil(written / HUBSPOT_BATCH_READ_MAX)
    definitions = _calls(counts, HubSpotOperation.COMPANY_PROPERTY)
    before = math.ceil(ranked / HUBSPOT_BATCH_READ_MAX)
    protocol = definitions + before + updates + readback
    search_windows = _windows(search, HUBSPOT_SEARCH_PER_SECOND) * HUBSPOT_SEARCH_WINDOW_SECONDS
    t_search = max(search_windows, max(search - 1, 0) * rtt) + rtt if search else 0.0
    t_write = (
        _windows(protocol, limit) * HUBSPOT_WINDOW_SECONDS + WRITE_TRIPS * rtt if updates else 0.0
    )
    t_window = (
        _windows(other, limit) * HUBSPOT_WINDOW_SECONDS + WINDOW_TRIPS * rtt if other else 0.0
    )
    return Floor(
        search=search,
        other=other,
        definitions=definitions,
        before=before,
        updates=updates,
        readback=readback,
        t_search=t_search,
        t_universe=t_search + UNIVERSE_TAIL_TRIPS * rtt,
        t_write=t_write,
        t_window=t_window,
    )
