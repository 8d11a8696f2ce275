"""Yobi's contract as data: the built-in one, a file that replaces it, and every error naming
the file, the entry, the value and the fix."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engagement_ranker.clients.errors import ContractError
from engagement_ranker.clients.yobi_contract import (
    BUILT_IN,
    BUILT_IN_DATA,
    Trends,
    load_contract,
)
from engagement_ranker.constants import METRICS, Env

Edit = Callable[[dict[str, Any]], None]


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "yobi-contract.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def edited(edit: Edit) -> dict[str, Any]:
    data = copy.deepcopy(BUILT_IN_DATA)
    edit(data)
    return data


def test_the_built_in_contract_round_trips_through_the_file_the_spike_prints(tmp_path):
    path = write(tmp_path, BUILT_IN.to_json())
    loaded = load_contract(path)
    assert loaded == BUILT_IN
    assert loaded.source == str(path)
    assert loaded.as_data() == BUILT_IN_DATA
    assert BUILT_IN.to_json() == loaded.to_json()  # stable, byte for byte


def test_the_built_in_contract_follows_the_reference():
    assert BUILT_IN.bucket_timezone == "America/New_York"
    assert [(s.name, s.route, s.trends) for s in BUILT_IN.stats] == [
        ("calls", "GET /admin/pms/stats/calls-by-tenant", Trends.DENSE),
        ("tasks", "GET /admin/dental-tenants/tasks/created", Trends.DENSE),
        ("appointments", "GET /admin/pms/stats/appointments-by-location", Trends.DENSE),
    ]
    assert sorted(m for s in BUILT_IN.stats for m in s.metrics) == sorted(METRICS)
    assert [s.name for s in BUILT_IN.stats if s.per_user] == ["tasks"]
    assert [s.name for s in BUILT_IN.stats if s.per_location] == ["appointments"]
    assert BUILT_IN.endpoint("appointments").metrics["appointments"].paths == (
        "total_appointments",
        "appointment_count",
    )


def _set(path: str, value: Any) -> Edit:
    """Set the dotted `path` of the document to `value` (a missing last key is added)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[part]
        data[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[part]
        del data[last]

    return edit


@pytest.mark.parametrize(
    ("edit", "entry", "problem", "fix"),
    [
        (
            _set("bucket_timezon", "UTC"),
            "bucket_timezon",
            "is not a known entry",
            "correct its spelling or remove it; the contract takes bucket_timezone",
        ),
        (_drop("periods"), "periods", "is missing", "add it"),
        (
            _set("stats.appointments.metrics.new_patients", []),
            "stats.appointments.metrics.new_patients",
            "is [], not a list of paths",
            "give a non-empty list of dotted response paths",
        ),
        (
            _set("stats.tasks.keys.rows", ["results..by_tenant"]),
            "stats.tasks.keys.rows[0]",
            'is "results..by_tenant", not a dotted path',
            "give a non-empty list of dotted response paths",
        ),
        (
            _set("stats.calls.trends", "sometimes"),
            "stats.calls.trends",
            'is "sometimes"',
            'use "dense"',
        ),
        (
            _set("bucket_timezone", "Mars/Olympus_Mons"),
            "bucket_timezone",
            'is "Mars/Olympus_Mons", not a time zone',
            "name an IANA time zone, e.g. America/New_York",
        ),
        (
            _set("periods.7days", 0),
            "periods.7days",
            "is 0, not a number of days",
            "give each period Yobi accepts",
        ),
        (
            _set("tenants.path", "admin/dental-tenants/list"),
            "tenants.path",
            'is "admin/dental-tenants/list", not an endpoint path',
            "give the endpoint's path below YOBI_BASE_URL",
        ),
        (
            _set("stats.calls.metrics.tasks", ["created"]),
            "stats",
            "tasks is under 2 endpoints' metrics (calls, tasks)",
            "list each of new_patients, appointments, tasks, calls under exactly one",
        ),
        (
            _set("stats.calls.keys.by_user", ["by_user"]),
            "stats.calls.keys.by_user",
            "is given with by_user on an endpoint with metrics calls",
            "give all of by_user, user_email, user_count",
        ),
        (
            _set("stats.calls.params.period", "7days"),
            "stats.calls.params.period",
            "is set here, but the client chooses the period",
            "remove it",
        ),
        (
            _set("version", 2),
            "version",
            "is 2; this build reads version 1",
            "save a fresh contract from `engagement-ranker spike`",
        ),
        (
            _drop("stats.appointments.keys.date"),
            "stats.appointments.keys.date",
            "is missing",
            "add it",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_file_entry_value_and_fix(
    tmp_path, edit, entry, problem, fix
):
    path = write(tmp_path, edited(edit))
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert message.startswith(f"Yobi contract {path}, entry {entry}: {problem}")
    assert f". Fix: {fix}" in message
    assert (caught.value.source, caught.value.entry) == (str(path), entry)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read (No such file or directory)"),
        ('{"version": 1,\n  "periods": }', "is not JSON: Expecting value at line 2 column 14"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_a_contract_is_refused_naming_it_and_the_fix(tmp_path, content, problem):
    path = tmp_path / "yobi-contract.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert str(caught.value).startswith(f"Yobi contract {path}: {problem}. Fix: ")
    if content is None:
        assert Env.YOBI_CONTRACT_FILE in str(caught.value)
