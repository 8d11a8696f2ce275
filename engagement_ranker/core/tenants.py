"""Yobi's tenant list as one frame: ids, names, websites, locations, and the matching keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from engagement_ranker.core.identity import (
    normalize_domain,
    normalize_name,
    normalize_name_loosely,
)

TENANT_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "tenant_name",
    "website",
    "domain_key",
    "name_key",
    "loose_name_key",
    "is_active",
    "location_count",
)


def tenant_frame(
    tenants: Sequence[Mapping[str, Any]], locations: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per tenant in tenant id order, with the keys identity matches on, normalized
    once: `domain_key` (website), `name_key` (the spec's) and `loose_name_key` (the looser)."""
    location_count: dict[int, int] = {}
    for location in locations:
        tenant_id = int(location["tenant_id"])
        location_count[tenant_id] = location_count.get(tenant_id, 0) + 1
    rows = [
        {
            "tenant_id": int(t["tenant_id"]),
            "tenant_name": t.get("tenant_name"),
            "website": t.get("website"),
            "domain_key": normalize_domain(t.get("website")),
            "name_key": normalize_name(t.get("tenant_name")),
            "loose_name_key": normalize_name_loosely(t.get("tenant_name")),
            "is_active": t.get("is_active"),
            "location_count": location_count.get(int(t["tenant_id"]), 0),
        }
        for t in tenants
    ]
    frame = pd.DataFrame(rows, columns=list(TENANT_COLUMNS))
    return (
        frame.sort_values("tenant_id", kind="stable")
        .reset_index(drop=True)
        .astype({"tenant_id": "int64", "location_count": "int64", "is_active": "boolean"})
    )


def tenant_ids(tenants: pd.DataFrame) -> frozenset[int]:
    """The ids of a tenant frame (`tenant_frame`), as the counters and overrides take them."""
    return frozenset(int(t) for t in tenants["tenant_id"])
