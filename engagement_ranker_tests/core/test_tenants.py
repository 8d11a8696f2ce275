"""Yobi's tenant list as one frame with the keys identity matches on."""

from __future__ import annotations

from engagement_ranker.core.tenants import tenant_frame


def test_tenants_sorted_with_normalized_keys_and_location_counts() -> None:
    frame = tenant_frame(
        [
            {
                "tenant_id": 12,
                "tenant_name": "Smile Dental, PLLC",
                "website": "https://www.Smile.com/x",
            },
            {
                "tenant_id": 3,
                "tenant_name": "Lake & Shore DDS",
                "website": None,
                "is_active": False,
            },
        ],
        [
            {"location_id": 1, "tenant_id": 12, "name": "Main"},
            {"location_id": 2, "tenant_id": 12, "name": "North"},
        ],
    )
    assert list(frame["tenant_id"]) == [3, 12]
    smile = frame.set_index("tenant_id").loc[12]
    assert smile["domain_key"] == "smile.com"
    assert smile["name_key"] == smile["loose_name_key"] == "smile dental"
    lake = frame.set_index("tenant_id").loc[3]
    assert (lake["name_key"], lake["loose_name_key"]) == ("lake shore dds", "lake and shore")
    assert smile["location_count"] == 2
    assert frame.set_index("tenant_id").loc[3, "location_count"] == 0
