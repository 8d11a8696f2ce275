"""Each account manager's own accounts: one short digest per HubSpot owner, built from the week.

An owner reads their companies only: rank, tier, move and why; the ones that need a look
first (fell into the bottom tier, or fell more than OWNER_DIGEST_FALL_PLACES places); and
their companies no tenant was found for, which need an override before they can be ranked.
An owner HubSpot holds no e-mail address for is reported, never guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from engagement_ranker.constants import PROP_OWNER, TIER_BOTTOM, WriteMode
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind, company_label
from engagement_ranker.core.frames import Cell, require_columns
from engagement_ranker.core.integrity import listed
from engagement_ranker.core.scoring import tier_for
from engagement_ranker.core.summary import check_run_url
from engagement_ranker.core.universe import included
from engagement_ranker.core.week import Week

# What the asset's table holds per owner, and why a digest was or was not sent.
DIGEST_COLUMNS: tuple[str, ...] = (
    "owner_id",
    "owner_name",
    "email",
    "accounts",
    "ranked",
    "need_a_look",
    "unmapped",
    "outcome",
)
SENT, NO_EMAIL, NOT_AN_OWNER = "sent", "no e-mail address", "not an active owner"


@dataclass(frozen=True)
class Owner:
    """An account manager as HubSpot's owners API lists them; `email` None when HubSpot
    holds none."""

    owner_id: str
    email: str | None
    first_name: str | None
    last_name: str | None

    @property
    def name(self) -> str:
        """The owner's name ("Ana Ruiz"), or their owner id when HubSpot has no name."""
        return " ".join(filter(None, (self.first_name, self.last_name))) or f"owner {self.owner_id}"


@dataclass(frozen=True, eq=False)
class OwnerDigest:
    """One owner's week. `accounts`: their ranked companies in rank order (company_id, name,
    rank, score, tier, delta, driver, look: why it needs a look, "" if it does not);
    `unmapped`: their companies without a tenant (company_id, name, suggestions)."""

    week: Week
    mode: WriteMode  # how far the week was written to HubSpot
    owner: Owner
    accounts: pd.DataFrame
    unmapped: pd.DataFrame
    fall_places: int
    run_url: str | None

    @property
    def need_a_look(self) -> pd.DataFrame:
        return self.accounts[self.accounts["look"] != ""]


def _prior_tier(rank: Cell, n: Cell) -> str | None:
    if pd.isna(rank) or pd.isna(n) or not 1 <= int(rank) <= int(n):
        return None
    return tier_for(int(rank), int(n))


def look_reason(row: pd.Series, fall_places: int) -> str:
    """Why a company needs its account manager's look this week ("" when it does not)."""
    reasons = []
    if row["tier"] == TIER_BOTTOM and _prior_tier(row["prior_rank"], row["prior_n"]) not in (
        None,
        TIER_BOTTOM,
    ):
        reasons.append(f"fell into {TIER_BOTTOM}")
    if pd.notna(row["delta"]) and -int(row["delta"]) > fall_places:
        reasons.append(f"fell {-int(row['delta'])} places")
    return "; ".join(reasons)


def owner_digests(
    universe: pd.DataFrame,
    mapping: pd.DataFrame,
    ranked: pd.DataFrame,
    owners: Mapping[str, Owner],
    *,
    week: Week,
    mode: WriteMode,
    fall_places: int,
    run_url: str | None = None,
) -> tuple[list[OwnerDigest], pd.DataFrame, list[Anomaly]]:
    """(the digests to send, one row per owner of a ranked-or-unmapped company as DIGEST_COLUMNS,
    the owners whose digest cannot go out), every list in owner id order.

    `universe`: customer_companies (its owner column); `mapping`: tenant_mapping; `ranked`:
    ranked_scores; `owners`: HubSpot's active owners by id.
    """
    require_columns(universe, ("company_id", "excluded_reason", PROP_OWNER), "customer companies")
    require_columns(mapping, ("company_id", "name", "tenant_id", "suggestions"), "tenant mapping")
    check_run_url(run_url)
    owned = included(universe)
    owned = owned[owned[PROP_OWNER].notna()][["company_id", PROP_OWNER]]
    accounts = owned.merge(ranked, on="company_id").sort_values("rank", kind="stable")
    accounts["look"] = [look_reason(row, fall_places) for _, row in accounts.iterrows()]
    unmapped = owned.merge(mapping[mapping["tenant_id"].isna()], on="company_id")
    digests, rows, problems = [], [], []
    for owner_id in sorted(set(accounts[PROP_OWNER]) | set(unmapped[PROP_OWNER]), key=int):
        mine = accounts[accounts[PROP_OWNER] == owner_id].reset_index(drop=True)
        lost = unmapped[unmapped[PROP_OWNER] == owner_id].reset_index(drop=True)
        owner = owners.get(owner_id)
        count = len(mine) + len(lost)
        outcome = SENT if owner is not None and owner.email else NO_EMAIL if owner else NOT_AN_OWNER
        rows.append(
            {
                "owner_id": owner_id,
                "owner_name": None if owner is None else owner.name,
                "email": None if owner is None else owner.email,
                "accounts": count,
                "ranked": len(mine),
                "need_a_look": int((mine["look"] != "").sum()),
                "unmapped": len(lost),
                "outcome": outcome,
            }
        )
        if outcome == SENT:
            assert owner is not None
            digests.append(OwnerDigest(week, mode, owner, mine, lost, fall_places, run_url))
        else:
            problems.append(_undeliverable(owner_id, owner, mine, lost))
    return digests, pd.DataFrame(rows, columns=list(DIGEST_COLUMNS)), problems


# How many of an undeliverable owner's companies the anomaly names before "and N more".
UNDELIVERABLE_NAMES_SHOWN = 3


def _undeliverable(
    owner_id: str, owner: Owner | None, accounts: pd.DataFrame, unmapped: pd.DataFrame
) -> Anomaly:
    companies = pd.concat([accounts[["company_id", "name"]], unmapped[["company_id", "name"]]])
    names = [
        company_label(n, c) for c, n in zip(companies["company_id"], companies["name"], strict=True)
    ]
    shown = listed(names, UNDELIVERABLE_NAMES_SHOWN)
    if owner is None:
        why = (
            f"owner {owner_id} is not among HubSpot's active owners (a user who left?); "
            f"reassign their companies in HubSpot: {shown}"
        )
    else:
        why = (
            f"{owner.name} (owner {owner_id}) has no e-mail address in HubSpot, so their digest "
            f"is not sent: add one to their HubSpot user (Settings > Users), for {shown}"
        )
    return Anomaly(AnomalyKind.OWNER_WITHOUT_EMAIL, why)
