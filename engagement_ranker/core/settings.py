"""Parsing of the run's settings from their string form (env vars, launchpad config).

Each parser names the variable, the bad value and the fix, so bad config fails at the start of
a run with a message a data engineer can act on, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from engagement_ranker.constants import Env, WriteMode
from engagement_ranker.core.identity import is_record_id


class SettingError(ValueError):
    """A setting has a value the product cannot use."""


_WEB_SCHEMES = ("http://", "https://")
UI_URL_FIX = "the Dagster UI's address, e.g. http://localhost:3000"


def is_web_url(text: str) -> bool:
    """Run links go into e-mail HTML and Slack: only plain http(s) links are allowed."""
    return text.startswith(_WEB_SCHEMES)


def parse_ui_url(value: str | None, variable: str = Env.DAGSTER_UI_URL) -> str | None:
    """The Dagster UI's address for run links; unset means messages carry no link.

    Checked with the run's other settings, so a bad address stops the run before HubSpot is
    written rather than when the summary is built afterwards.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not is_web_url(text):
        raise SettingError(f"{variable}={value!r} is not an http(s) URL; set it to {UI_URL_FIX}")
    return text


def parse_write_mode(value: str | None, variable: str = Env.ENGAGEMENT_WRITE_MODE) -> WriteMode:
    """`dry-run` when unset: nothing is written until someone asks for it."""
    if value is None or not value.strip():
        return WriteMode.DRY_RUN
    try:
        return WriteMode(value.strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in WriteMode)
        raise SettingError(
            f"{variable}={value!r} is not a write mode; use one of: {allowed}"
        ) from None


def parse_company_ids(
    value: str | Iterable[str] | None, variable: str = Env.ENGAGEMENT_WRITE_ALLOWLIST
) -> tuple[str, ...]:
    """HubSpot company ids from a comma-separated string or a list; each must be ASCII digits."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    ids = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not is_record_id(text):
            raise SettingError(
                f"{variable} entry {text!r} is not a HubSpot company id; "
                "list the numeric record ids, comma-separated (e.g. 5790939450,5790939451)"
            )
        ids.append(text)
    return tuple(dict.fromkeys(ids))


def parse_fraction(value: str | float | None, default: float, variable: str) -> float:
    """A share between 0 and 1, e.g. the minimum mapping coverage."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        fraction = float(value)
    except ValueError:
        raise SettingError(
            f"{variable}={value!r} is not a number; use a share between 0 and 1, e.g. 0.8"
        ) from None
    if not 0.0 <= fraction <= 1.0:
        raise SettingError(f"{variable}={value!r} is outside 0..1; use a share such as 0.8")
    return fraction


def overrides_text(json_text: str | None, file_path: str | None) -> str | None:
    """The overrides JSON: TENANT_MAPPING_OVERRIDES_JSON first, else the file the other names.

    Reading a named file is the one I/O here; it keeps both ways of configuring in one place.
    """
    if json_text is not None and json_text.strip():
        return json_text
    if not file_path:
        return None
    path = Path(file_path)
    if not path.is_file():
        raise SettingError(
            f"{Env.TENANT_MAPPING_OVERRIDES_FILE}={file_path!r} does not exist; point it at a "
            "JSON file or unset it"
        )
    return path.read_text(encoding="utf-8")
