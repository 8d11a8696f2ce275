"""Settings parsers: bad values name the variable, the value and the fix."""

from __future__ import annotations

import pytest

from engagement_ranker.constants import WriteMode
from engagement_ranker.core.settings import (
    SettingError,
    parse_company_ids,
    parse_fraction,
    parse_ui_url,
    parse_write_mode,
)
from engagement_ranker.core.summary import check_run_url


def test_write_mode_defaults_to_dry_run_and_accepts_any_case() -> None:
    assert parse_write_mode(None) is WriteMode.DRY_RUN
    assert parse_write_mode(" ") is WriteMode.DRY_RUN
    assert parse_write_mode(" FULL ") is WriteMode.FULL


def test_unknown_write_mode_lists_the_choices() -> None:
    with pytest.raises(
        SettingError, match=r"ENGAGEMENT_WRITE_MODE='yolo'.*dry-run, allowlist, full"
    ):
        parse_write_mode("yolo")


def test_company_ids_from_text_or_list_deduplicated_in_order() -> None:
    assert parse_company_ids(" 12, 7,,12 ") == ("12", "7")
    assert parse_company_ids(["5", "6"]) == ("5", "6")
    assert parse_company_ids(None) == ()


def test_non_numeric_company_id_is_named() -> None:
    with pytest.raises(SettingError, match=r"ENGAGEMENT_WRITE_ALLOWLIST entry 'acme'"):
        parse_company_ids("12,acme")


@pytest.mark.parametrize("entry", ["١٢٣", "²", "１２"])
def test_company_id_of_non_ascii_digits_is_named(entry: str) -> None:
    """str.isdigit() accepts these, but HubSpot ids are ASCII digits."""
    with pytest.raises(SettingError, match=rf"ENGAGEMENT_WRITE_ALLOWLIST entry '{entry}'"):
        parse_company_ids(f"12,{entry}")


@pytest.mark.parametrize("value", ["lots", "1.5", "-0.1"])
def test_fraction_must_be_a_share(value: str) -> None:
    with pytest.raises(SettingError, match="MAPPING_COVERAGE_MIN"):
        parse_fraction(value, 0.8, "MAPPING_COVERAGE_MIN")


def test_fraction_default_when_unset() -> None:
    assert parse_fraction(None, 0.8, "X") == 0.8
    assert parse_fraction("0.5", 0.8, "X") == 0.5


def test_ui_url_is_kept_trimmed_and_unset_means_no_links() -> None:
    assert parse_ui_url(" https://dagster.example.com/ ") == "https://dagster.example.com/"
    assert parse_ui_url("http://localhost:3000") == "http://localhost:3000"
    assert parse_ui_url(None) is None
    assert parse_ui_url("  ") is None


@pytest.mark.parametrize("url", ["javascript:alert(1)", "localhost:3000", "ftp://dagster"])
def test_ui_url_that_no_run_link_could_use_is_refused_at_the_start(url: str) -> None:
    """The same rule as the run link a summary checks, but before anything is written."""
    with pytest.raises(SettingError) as caught:
        parse_ui_url(url)
    assert str(caught.value) == (
        f"DAGSTER_UI_URL={url!r} is not an http(s) URL; set it to the Dagster UI's address, "
        "e.g. http://localhost:3000"
    )
    with pytest.raises(ValueError, match="DAGSTER_UI_URL"):
        check_run_url(f"{url}/runs/abc")
