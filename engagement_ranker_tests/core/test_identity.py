"""Identity resolution: messy domains and names, the layered matcher, and every report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_ranker.constants import DEFAULT_GENERIC_EMAIL_DOMAINS, MatchMethod
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.identity import (
    MAPPING_COLUMNS,
    STRONG_SUGGESTION_SCORE,
    Overrides,
    OverridesError,
    Suggestion,
    email_domain,
    is_record_id,
    normalize_domain,
    normalize_name,
    normalize_name_loosely,
    parse_generic_domains,
    parse_internal_domains,
    parse_overrides,
    resolve_tenants,
    strong_suggestion,
    weekly_activity,
)
from engagement_ranker.core.tenants import tenant_frame


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("https://www.Example.com/path?q=1#top", "example.com"),
        ("HTTP://WWW.EXAMPLE.COM:8080/", "example.com"),
        ("example.com.", "example.com"),
        ("  www.example.com \t", "example.com"),
        ("mailto:jane@example.com", "example.com"),
        ("jane@Example.com", "example.com"),
        ("https://user:secret@host.example.org:99/x", "host.example.org"),
        ("//cdn.example.com/a.js", "cdn.example.com"),
        ("example.com?utm=1", "example.com"),
        # Shared hosts keep the practice's own sub-domain (see normalize_domain's docstring).
        ("https://smile.wixsite.com/bright-smiles", "smile.wixsite.com"),
        ("bright.business.site", "bright.business.site"),
        ("www.com", "www.com"),
        ("café-dental.com", "xn--caf-dental-d7a.com"),
        (None, None),
        ("", None),
        ("   ", None),
        ("n/a", None),
        ("localhost", None),
        ("example .com", None),
        ("1.2.3.4", None),
        (float("nan"), None),
        (pd.NA, None),
    ],
)
def test_normalize_domain(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@Smile.com", "smile.com"),
        ("Jane Doe <jane@www.smile.com>", "smile.com"),
        ("mailto:jane@smile.com", "smile.com"),
        ("jane.smile.com", None),
        ("", None),
        (None, None),
    ],
)
def test_email_domain(raw, expected):
    assert email_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Smile Dental, PLLC", "smile dental"),
        ("Smile Dental", "smile dental"),
        ("SMILE   DENTAL  llc.", "smile dental"),
        ("Acme Inc.", "acme"),
        ("Northside Dental P.A.", "northside dental"),
        ("Gentle Dental, A Professional Corporation", "gentle dental"),
        ("Lake Dental (PLLC)", "lake dental"),
        ("Foo and Bar, Limited", "foo and bar"),
        ("O'Brien Orthodontics", "obrien orthodontics"),
        ("‘Smile’ $ Dental", "smile dental"),
        # The spec removes punctuation and strips legal suffixes, nothing more: '&' goes with
        # the punctuation, accents and professional titles stay.
        ("Long & Thompson Dental Associates", "long thompson dental associates"),
        ("Long and Thompson Dental Associates", "long and thompson dental associates"),
        ("Jones, D.M.D., P.C.", "jones dmd"),
        ("Smith Dental DDS, PLLC", "smith dental dds"),
        ("Café Dentaire", "café dentaire"),
        ("  Øresund   Smiles ", "øresund smiles"),
        ("Smile-Design Co.", "smiledesign"),
        # Real words that cleanco's international list would strip stay.
        ("Smile Spa", "smile spa"),
        ("Bright Smile Dental Group", "bright smile dental group"),
        # Never stripped down to nothing.
        ("Inc", "inc"),
        ("P.C.", "pc"),
        ("", None),
        ("!!!", None),
        (None, None),
        (pd.NA, None),
    ],
)
def test_normalize_name_is_the_specs_normalization(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Smile Dental, PLLC", "smile dental"),
        ("SMILE   DENTAL  llc.", "smile dental"),
        ("Jones, D.M.D., P.C.", "jones"),
        ("Smith Dental DDS, PLLC", "smith dental"),
        ("Gentle Dental, A Professional Corporation", "gentle dental"),
        ("Lake Dental (PLLC)", "lake dental"),
        ("Foo & Bar Ltd", "foo and bar"),
        ("Foo and Bar, Limited", "foo and bar"),
        ("Long & Thompson Dental Associates", "long and thompson dental associates"),
        ("Café Dentaire", "cafe dentaire"),
        ("  Øresund   Smiles ", "oresund smiles"),
        ("O'Brien Orthodontics", "obrien orthodontics"),
        ("Smile-Design Co.", "smile design"),
        ("Smile Spa", "smile spa"),
        ("Inc", "inc"),
        ("P.C.", "pc"),
        ("", None),
        ("!!!", None),
        (None, None),
        (pd.NA, None),
    ],
)
def test_normalize_name_loosely_forgives_spelling(raw, expected):
    assert normalize_name_loosely(raw) == expected


@pytest.mark.parametrize("text", ["5790939450", "0"])
def test_record_ids_are_strings_of_ascii_digits(text):
    assert is_record_id(text) is True


@pytest.mark.parametrize("text", ["", "12a", " 12", "١٢٣", "²", "１２", 12, None])
def test_anything_else_is_not_a_record_id(text):
    assert is_record_id(text) is False


def test_generic_domains_default_and_override():
    assert parse_generic_domains(None) == DEFAULT_GENERIC_EMAIL_DOMAINS
    assert parse_generic_domains("  ") == DEFAULT_GENERIC_EMAIL_DOMAINS
    assert parse_generic_domains("Gmail.com, www.yahoo.com\nfastmail.fm,") == {
        "gmail.com",
        "yahoo.com",
        "fastmail.fm",
    }
    with pytest.raises(ValueError, match=r"GENERIC_EMAIL_DOMAINS entry 'not_a_domain!'"):
        parse_generic_domains("gmail.com,not_a_domain!")


def test_internal_domains_default_and_override():
    assert parse_internal_domains(None) == {"yobi.app", "yib.io"}
    assert parse_internal_domains(" @Yobi.app yobi-staff.com ") == {"yobi.app", "yobi-staff.com"}
    with pytest.raises(ValueError, match=r"INTERNAL_YOBI_USER_EMAIL_DOMAINS entry 'yobi_app!'"):
        parse_internal_domains("yobi.app,yobi_app!")


# --- overrides ------------------------------------------------------------------------------
def test_overrides_parse_company_ids_and_domains():
    overrides = parse_overrides(
        '{"101": 7, "https://www.Smile.com/": 8, "other.org": 9}', known_tenant_ids=[7, 8, 9]
    )
    assert dict(overrides.by_company) == {"101": 7}
    assert dict(overrides.by_domain) == {"smile.com": 8, "other.org": 9}


@pytest.mark.parametrize("text", [None, "", "  ", "{}"])
def test_empty_overrides(text):
    assert parse_overrides(text) == Overrides.none()


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('{"101": 7', ["not valid JSON", "line 1", '{"1234567": 42']),
        ("[101, 7]", ["must be a JSON object", "got list"]),
        ('"101"', ["must be a JSON object", "got str"]),
        ('{"not a key!": 7}', ["entry 'not a key!'", "neither a HubSpot company id"]),
        ('{"101": "7"}', ["entry '101'", "tenant id '7'", "without quotes: 7"]),
        ('{"101": "²"}', ["entry '101'", "tenant id '²' (str) is not an integer"]),
        ('{"١٠١": 7}', ["entry '١٠١'", "neither a HubSpot company id"]),
        ('{"101": 7.0}', ["entry '101'", "tenant id 7.0 (float)"]),
        ('{"101": true}', ["entry '101'", "tenant id True (bool)"]),
        ('{"101": null}', ["entry '101'", "tenant id None"]),
        ('{"101": -3}', ["entry '101'", "positive"]),
        ('{"101": 99}', ["entry '101'", "tenant id 99 is not in Yobi's tenant list"]),
        ('{"101": 7, "102": 7}', ["entry '102'", "tenant 7 is already pinned by entry '101'"]),
        ('{"smile.com": 7, "www.smile.com": 8}', ["entry 'www.smile.com'", "listed twice"]),
        ('{"101": 7, "101": 8}', ["entry '101' appears twice"]),
    ],
)
def test_bad_overrides_name_the_entry_and_the_fix(text, fragments):
    with pytest.raises(OverridesError) as excinfo:
        parse_overrides(text, known_tenant_ids=[7, 8])
    message = str(excinfo.value)
    assert message.startswith("TENANT_MAPPING_OVERRIDES_JSON")
    for fragment in fragments:
        assert fragment in message


def test_every_bad_entry_is_reported_at_once():
    with pytest.raises(OverridesError) as excinfo:
        parse_overrides('{"101": "7", "x y": 8, "102": 99}', known_tenant_ids=[7, 8])
    assert all(e in str(excinfo.value) for e in ("'101'", "'x y'", "'102'"))


def test_unknown_tenant_checked_only_when_the_list_is_given():
    assert dict(parse_overrides('{"101": 99}').by_company) == {"101": 99}


# --- resolution -----------------------------------------------------------------------------
def companies_frame(*rows: tuple[str, str | None, str | None, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["company_id", "name", "domain", "contact_email_domains"])


def tenants_frame(*rows: tuple[int, str, str | None]) -> pd.DataFrame:
    """Tenants as the job hands them to the mapping: through tenant_frame."""
    return tenant_frame(
        [{"tenant_id": t, "tenant_name": name, "website": site} for t, name, site in rows], []
    )


TENANTS = tenants_frame(
    (1, "Smile Dental", "https://www.smiledental.com/"),
    (2, "Bright Smiles Family Dentistry", "brightsmiles.com"),
    (3, "Lakeside Orthodontics", None),
    (4, "Cedar Dental Group", "cedar.wixsite.com/dental"),
    (5, "Oak Dental", "http://oak.wixsite.com"),
    (6, "Maple Dental", "maple-dental.com"),
    (7, "Maple Dental Care", "www.maple-dental.com"),
    (8, "Riverside Dental", None),
    (9, "Riverside Dental, P.C.", ""),
    (10, "Pine Street Dentistry", "pinestreetdds.com"),
    (11, "Harbor Dental", "harbordental.com"),
    # A website typed as the dentist's personal address: its domain is generic.
    (12, "Solo Practice", "drsolo@gmail.com"),
    (13, "Elm Dental", "elmdental.com"),
)

COMPANIES = companies_frame(
    ("101", "Smile Dental, PLLC", "smiledental.com", ""),
    ("102", "Bright Smiles", None, "brightsmiles.com,gmail.com"),
    ("103", "Lakeside Orthodontics LLC", None, ""),
    ("104", "Cedar Dental", "https://cedar.wixsite.com", ""),
    ("105", "Maple", "maple-dental.com", ""),
    ("106", "Riverside Dental", None, ""),
    ("107", "Pine St Dental", "pinestreet.com", ""),
    ("108", "Zzyzx Wellness", None, ""),
    ("109", "Gmail Patients Only", None, "gmail.com"),
    ("110", "Smile Dental Downtown", "http://smiledental.com", ""),
    ("112", "Harbour Smiles", None, "harbor-smiles.com"),
    ("113", "Oak Dental", None, ""),
    ("114", "Oakwood", "oak.wixsite.com", ""),
    ("115", "Elm", None, "elmdental.com,elm-dental.net"),
    ("116", "Birch", "birch.com", ""),
    ("1000", "Uppercase Id Order", None, ""),
)
OVERRIDES = parse_overrides('{"116": 10, "harbor-smiles.com": 11}')
# The Riverside pair is absent on purpose: equal (zero) activity falls to the lowest id.
ACTIVITY = {6: 10, 7: 50, 13: 5}

# company -> (tenant, method, status)
EXPECTED = {
    "101": (1, MatchMethod.DOMAIN, "mapped"),
    "102": (2, MatchMethod.EMAIL_DOMAIN, "mapped"),
    "103": (3, MatchMethod.NAME, "mapped"),
    "104": (4, MatchMethod.DOMAIN, "mapped"),
    "105": (7, MatchMethod.DOMAIN, "ambiguous"),
    "106": (8, MatchMethod.NAME, "ambiguous"),
    "107": (None, None, "unmapped"),
    "108": (None, None, "unmapped"),
    "109": (None, None, "unmapped"),
    "110": (None, None, "duplicate_claim"),
    "112": (11, MatchMethod.OVERRIDE, "mapped"),
    "113": (None, None, "duplicate_claim"),
    "114": (5, MatchMethod.DOMAIN, "mapped"),
    "115": (13, MatchMethod.EMAIL_DOMAIN, "mapped"),
    "116": (10, MatchMethod.OVERRIDE, "mapped"),
    "1000": (None, None, "unmapped"),
}


@pytest.fixture(scope="module")
def result():
    return resolve_tenants(COMPANIES, TENANTS, OVERRIDES, DEFAULT_GENERIC_EMAIL_DOMAINS, ACTIVITY)


def kinds_by_company(result) -> dict[str, list[AnomalyKind]]:
    found: dict[str, list[AnomalyKind]] = {}
    for anomaly in result.anomalies:
        found.setdefault(anomaly.company_id, []).append(anomaly.kind)
    return found


def test_mapping_has_one_row_per_company_in_numeric_id_order(result):
    mapping = result.mapping
    assert tuple(mapping.columns) == MAPPING_COLUMNS
    assert list(mapping["company_id"]) == sorted(EXPECTED, key=int)
    assert str(mapping["tenant_id"].dtype) == "Int64"


@pytest.mark.parametrize("company_id", sorted(EXPECTED, key=int))
def test_each_company_maps_by_the_intended_method(result, company_id):
    row = result.mapping.set_index("company_id").loc[company_id]
    tenant, method, status = EXPECTED[company_id]
    assert (None if pd.isna(row["tenant_id"]) else int(row["tenant_id"])) == tenant
    assert row["method"] == (None if method is None else method.value)
    assert row["status"] == status
    expected_confidence = {
        None: None,
        MatchMethod.OVERRIDE: "high",
        MatchMethod.DOMAIN: "high",
        MatchMethod.EMAIL_DOMAIN: "medium",
        MatchMethod.NAME: "low",
        MatchMethod.LOOSE_NAME: "very low",
    }[method]
    assert row["confidence"] == expected_confidence


def test_every_doubtful_company_is_reported_and_no_other(result):
    assert kinds_by_company(result) == {
        "103": [AnomalyKind.LOW_CONFIDENCE],
        "105": [AnomalyKind.AMBIGUOUS],
        "106": [AnomalyKind.AMBIGUOUS, AnomalyKind.LOW_CONFIDENCE],
        "107": [AnomalyKind.UNMAPPED],
        "108": [AnomalyKind.UNMAPPED],
        "109": [AnomalyKind.UNMAPPED],
        "110": [AnomalyKind.DUPLICATE_CLAIM],
        "113": [AnomalyKind.DUPLICATE_CLAIM],
        "1000": [AnomalyKind.UNMAPPED],
    }


def anomaly(result, company_id, kind):
    (found,) = [a for a in result.anomalies if a.company_id == company_id and a.kind == kind]
    return found


def test_ambiguity_lists_candidates_and_prefers_the_most_active(result):
    row = result.mapping.set_index("company_id").loc["105"]
    assert row["candidates"] == "6,7"
    report = anomaly(result, "105", AnomalyKind.AMBIGUOUS)
    assert report.tenant_id == 7
    assert report.suggestions == (
        "6 Maple Dental (activity 10)",
        "7 Maple Dental Care (activity 50)",
    )
    assert "Maple (105)" in report.message and "chose 7" in report.message
    assert '{"105": <tenant id>}' in report.message


def test_ambiguity_without_activity_falls_to_the_lowest_tenant_id(result):
    assert result.mapping.set_index("company_id").loc["106", "candidates"] == "8,9"
    assert anomaly(result, "106", AnomalyKind.AMBIGUOUS).tenant_id == 8


def test_name_match_is_low_confidence(result):
    report = anomaly(result, "103", AnomalyKind.LOW_CONFIDENCE)
    assert report.tenant_id == 3
    assert "by name only ('lakeside orthodontics')" in report.message


def test_duplicate_claims_go_to_the_stronger_method_then_the_lower_company_id(result):
    same_method = anomaly(result, "110", AnomalyKind.DUPLICATE_CLAIM)
    assert same_method.tenant_id == 1
    assert "company 101 holds it by domain" in same_method.message
    stronger = anomaly(result, "113", AnomalyKind.DUPLICATE_CLAIM)
    assert stronger.tenant_id == 5
    assert "by name, but company 114 holds it by domain" in stronger.message
    # The winners stay mapped; the tenant is held exactly once.
    held = result.mapping["tenant_id"].dropna()
    assert held.is_unique


def test_unmapped_get_fuzzy_suggestions_that_are_never_used(result):
    row = result.mapping.set_index("company_id").loc["107"]
    assert pd.isna(row["tenant_id"])
    assert row["suggestions"].startswith("10 Pine Street Dentistry (")
    report = anomaly(result, "107", AnomalyKind.UNMAPPED)
    assert report.suggestions[0].startswith("10 Pine Street Dentistry (")
    assert len(report.suggestions) <= 3
    assert "pinestreet.com" in report.message
    assert '{"107": <tenant id>}' in report.message
    nothing_close = anomaly(result, "108", AnomalyKind.UNMAPPED)
    assert nothing_close.suggestions == ()
    assert result.mapping.set_index("company_id").loc["108", "suggestions"] == ""


def test_generic_email_domains_never_match(result):
    report = anomaly(result, "109", AnomalyKind.UNMAPPED)
    assert "contact e-mail domains (none)" in report.message
    # Without the generic list, the same company would match the junk website.
    loose = resolve_tenants(COMPANIES, TENANTS, OVERRIDES, frozenset(), ACTIVITY)
    row = loose.mapping.set_index("company_id").loc["109"]
    assert (int(row["tenant_id"]), row["method"]) == (12, "email_domain")


def test_suggestions_rank_best_first_and_stop_at_three():
    tenants = tenants_frame(
        (1, "North Dental", None),
        (2, "South Dental", None),
        (3, "East Dental", None),
        (4, "West Dental", None),
        (5, "Unrelated Orthodontics", None),
    )
    result = resolve_tenants(
        companies_frame(("1", "Nort Dental", None, "")), tenants, Overrides.none()
    )
    (report,) = result.anomalies
    assert len(report.suggestions) == 3
    assert report.suggestions[0].startswith("1 North Dental (")
    scores = [int(s.rsplit("(", 1)[1].rstrip(")")) for s in report.suggestions]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 70


def test_a_name_as_the_spec_normalizes_it_wins_over_a_busier_loose_look_alike():
    tenants = tenants_frame(
        (21, "Long & Thompson Dental Associates", None),
        (22, "LONG AND THOMPSON DENTAL ASSOCIATES, PLLC", None),
    )
    result = resolve_tenants(
        companies_frame(("1", "Long and Thompson Dental Associates", None, "")),
        tenants,
        Overrides.none(),
        activity={21: 500, 22: 3},
    )
    row = result.mapping.iloc[0]
    assert (int(row["tenant_id"]), row["method"], row["confidence"]) == (22, "name", "low")
    assert (row["candidates"], row["status"]) == ("22", "mapped")
    assert [a.kind for a in result.anomalies] == [AnomalyKind.LOW_CONFIDENCE]


def test_the_looser_name_key_maps_only_where_the_specs_finds_nothing_at_very_low_confidence():
    tenants = tenants_frame(
        (31, "Dr. Ana Ruiz", None),
        (32, "Smith & Jones Dentistry", None),
        (33, "Smith and Jones Dentistry, LLC", None),
    )
    result = resolve_tenants(
        companies_frame(
            ("1", "Dr. Ana Ruiz DDS", None, ""),
            ("2", "Smith + Jones Dentistry", None, ""),  # "smith jones" is 32's spec key
            ("3", "Smith and Jones Dentistry Inc.", None, ""),
        ),
        tenants,
        Overrides.none(),
    )
    rows = result.mapping.set_index("company_id")
    assert rows.loc["1", ["tenant_id", "method", "confidence", "status"]].tolist() == [
        31,
        "loose_name",
        "very low",
        "mapped",
    ]
    assert rows.loc["2", ["tenant_id", "method"]].tolist() == [32, "name"]
    assert rows.loc["3", ["tenant_id", "method"]].tolist() == [33, "name"]
    report = anomaly(result, "1", AnomalyKind.LOW_CONFIDENCE)
    assert report.tenant_id == 31
    assert "by a loose name match only" in report.message and "'dr ana ruiz'" in report.message


def test_loose_name_ties_are_ambiguous_and_lose_a_claim_to_a_spec_name_match():
    tenants = tenants_frame((41, "Dr. Ana Ruiz DMD", None), (42, "Dr. Ana Ruiz, D.D.S.", None))
    result = resolve_tenants(
        companies_frame(
            ("1", "Dr. Ana Ruiz", None, ""),  # only loosely like either: ambiguous
            ("2", "DR ANA RUIZ DMD", None, ""),  # 41 by the spec's key: keeps it
        ),
        tenants,
        Overrides.none(),
        activity={41: 9, 42: 1},
    )
    rows = result.mapping.set_index("company_id")
    assert rows.loc["2", ["tenant_id", "method", "status"]].tolist() == [41, "name", "mapped"]
    assert rows.loc["1", ["candidates", "status"]].tolist() == ["41,42", "duplicate_claim"]
    (lost,) = [a for a in result.anomalies if a.company_id == "1"]
    assert "by loose_name, but company 2 holds it by name" in lost.message


def test_suggestions_come_as_data_and_only_a_lone_near_identical_one_is_strong():
    tenants = tenants_frame(
        (51, "Windsor Complete Dental", None),
        (52, "Lakeside Family Dental Care", None),
        (53, "Dr. Rachel Ross", None),
        (54, "Maple Grove Dental Studios", None),
        (55, "Maple Grove Dental Studio1", None),
    )
    result = resolve_tenants(
        companies_frame(
            ("1", "Wildflower Complete Dental", None, ""),  # a look-alike, another practice
            ("2", "Lakeside Famly Dental Care, PLLC", None, ""),  # a typo of 52
            ("3", "Dr. Rachel Rossi", None, ""),  # a namesake one letter off: 96
            ("4", "Maple Grove Dental Studio", None, ""),  # 54 and 55 both score 97+
        ),
        tenants,
        Overrides.none(),
    )
    found = result.suggestions
    assert set(found) == {"1", "2", "3", "4"}
    rows = result.mapping.set_index("company_id")
    for company_id, suggestions in found.items():
        assert rows.loc[company_id, "suggestions"] == " ; ".join(map(str, suggestions))
    assert found["2"][0] == Suggestion(52, "Lakeside Family Dental Care", 98)
    assert str(found["2"][0]) == "52 Lakeside Family Dental Care (98)"
    assert strong_suggestion(found["2"]) == found["2"][0]
    assert found["1"][0].tenant_id == 51 and found["1"][0].score < STRONG_SUGGESTION_SCORE
    assert found["3"][0] == Suggestion(53, "Dr. Rachel Ross", 96)
    assert [s.tenant_id for s in found["4"][:2]] == [54, 55]
    assert min(s.score for s in found["4"][:2]) >= STRONG_SUGGESTION_SCORE
    assert [strong_suggestion(found[c]) for c in ("1", "3", "4")] == [None, None, None]
    assert strong_suggestion(()) is None


def test_override_by_company_beats_a_domain_match():
    result = resolve_tenants(
        companies_frame(("101", "Smile Dental", "smiledental.com", "")),
        TENANTS,
        parse_overrides('{"101": 2}'),
    )
    row = result.mapping.iloc[0]
    assert (int(row["tenant_id"]), row["method"], row["status"]) == (2, "override", "mapped")
    assert result.anomalies == []


def test_contact_email_domains_stand_in_only_when_the_company_has_no_domain():
    tenants = tenants_frame(
        (7, "Heartland DSO Billing", "heartlanddso.com"),
        (8, "Sunrise Family Dental", None),
    )
    result = resolve_tenants(
        companies_frame(
            ("101", "Sunrise Family Dental", "sunrisefamilydental.com", "heartlanddso.com"),
            ("102", "Unknown Practice", None, "heartlanddso.com"),
        ),
        tenants,
        Overrides.none(),
    )
    rows = result.mapping.set_index("company_id")
    # Its own domain matched nothing: it falls through to its name, not to the contact's DSO.
    assert (int(rows.loc["101", "tenant_id"]), rows.loc["101", "method"]) == (8, "name")
    assert (int(rows.loc["102", "tenant_id"]), rows.loc["102", "method"]) == (7, "email_domain")


def test_a_domain_override_belongs_to_the_company_of_that_domain_not_its_contacts():
    tenants = tenants_frame((33, "Heartland DSO", None), (34, "Smile Dental", "smile.com"))
    result = resolve_tenants(
        companies_frame(
            ("1", "Smile Dental", "smile.com", "dso.com"),  # a DSO staffer is a contact
            ("2", "Heartland DSO", "dso.com", ""),
            ("3", "Unlisted Practice", None, "dso.com"),  # no domain: its contacts speak for it
            ("4", "Other Practice", "other.com", "dso.com"),
        ),
        tenants,
        parse_overrides('{"dso.com": 33}'),
    )
    rows = result.mapping.set_index("company_id")
    assert (int(rows.loc["1", "tenant_id"]), rows.loc["1", "method"]) == (34, "domain")
    assert (int(rows.loc["2", "tenant_id"]), rows.loc["2", "method"], rows.loc["2", "status"]) == (
        33,
        "override",
        "mapped",
    )
    # Company 3 reaches the same pin through its contacts, and loses it to the domain's owner.
    assert rows.loc["3", "status"] == "duplicate_claim"
    assert rows.loc["4", "status"] == "unmapped"
    assert not [a for a in result.anomalies if a.company_id in ("1", "2")]


def test_override_to_a_tenant_missing_from_yobi_names_the_entry():
    with pytest.raises(OverridesError, match=r"entry '101': tenant id 99 is not in Yobi"):
        resolve_tenants(COMPANIES, TENANTS, parse_overrides('{"101": 99}'))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (companies_frame(("abc", "X", None, "")), "company id 'abc' is not a HubSpot record id"),
        (companies_frame(("١٠", "X", None, "")), "company id '١٠' is not a HubSpot record id"),
        (
            companies_frame(("1", "X", None, ""), ("1", "Y", None, "")),
            "company ids appear more than once: 1",
        ),
        (pd.DataFrame({"company_id": ["1"]}), "companies frame lacks column(s) name, domain"),
    ],
)
def test_bad_company_frames_are_refused(frame, message):
    with pytest.raises(ValueError) as excinfo:
        resolve_tenants(frame, TENANTS, Overrides.none())
    assert message in str(excinfo.value)


def test_empty_universe_gives_an_empty_typed_mapping():
    result = resolve_tenants(companies_frame(), TENANTS, Overrides.none())
    assert result.mapping.empty and tuple(result.mapping.columns) == MAPPING_COLUMNS
    assert str(result.mapping["tenant_id"].dtype) == "Int64"


@settings(max_examples=25)
@given(st.randoms(use_true_random=False))
def test_resolution_is_independent_of_input_order(rnd):
    expected = resolve_tenants(COMPANIES, TENANTS, OVERRIDES, activity=ACTIVITY)
    companies = COMPANIES.sample(frac=1, random_state=rnd.randrange(2**32))
    tenants = TENANTS.sample(frac=1, random_state=rnd.randrange(2**32))
    shuffled = resolve_tenants(companies, tenants, OVERRIDES, activity=ACTIVITY)
    pd.testing.assert_frame_equal(shuffled.mapping, expected.mapping)
    assert shuffled.anomalies == expected.anomalies


def test_overrides_json_round_trips_from_the_mapping(result):
    """The suggested fix is literally valid input: pin every ambiguous company as chosen."""
    ambiguous = result.mapping[result.mapping["status"] == "ambiguous"]
    text = json.dumps({r.company_id: int(r.tenant_id) for r in ambiguous.itertuples()})
    pinned = resolve_tenants(COMPANIES, TENANTS, parse_overrides(text), activity=ACTIVITY)
    rows = pinned.mapping.set_index("company_id")
    assert set(rows.loc[list(ambiguous["company_id"]), "method"]) == {"override"}


def test_weekly_activity_is_calls_tasks_and_appointments_per_tenant():
    metrics = pd.DataFrame(
        {
            "tenant_id": pd.array([42, 7, 9], dtype="Int64"),
            "new_patients": [50, 50, 50],
            "appointments": [3.0, None, 0.0],
            "tasks": [2.0, 4.0, None],
            "calls": [10.0, 1.0, None],
            "internal_tasks": [5, 5, 5],
        }
    )
    assert weekly_activity(metrics) == {42: 15, 7: 5, 9: 0}
    assert weekly_activity(metrics.iloc[:0]) == {}


def test_weekly_activity_names_a_missing_counter():
    with pytest.raises(ValueError, match=r"weekly metrics frame lacks column\(s\) tasks"):
        weekly_activity(pd.DataFrame({"tenant_id": [1], "calls": [1], "appointments": [1]}))
