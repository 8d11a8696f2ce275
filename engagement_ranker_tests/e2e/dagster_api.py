"""Dagster's GraphQL API (`/graphql`): what the UI shows, read back as data to confirm each step.

The UI itself is a client of this API, so every journey checks the page a user sees and the
record behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import yaml
from dagster._core.storage.tags import PARTITION_NAME_TAG

from engagement_ranker.constants import HTTP_TIMEOUT_SECONDS
from engagement_ranker_tests.e2e.waiting import wait_until

# The webserver (uvicorn) closes a connection idle 5 s; httpx keeps one 5 s too, so a query
# sent as the server hangs up fails with "Server disconnected". Drop idle ones well before.
KEEPALIVE_EXPIRY_SECONDS = 2.0
# Dagster names the repository of a `Definitions` object this way.
REPOSITORY_NAME = "__repository__"
# The middle part of a run's captured-log keys: [run id, "compute_logs", file key].
COMPUTE_LOGS = "compute_logs"
RUN_DONE = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
BACKFILL_DONE = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)
# The daemon moves a backfill on once a tick (5 s in the test stacks): asking every 0.5 s costs
# the webserver a query (with the backfill's runs) each time and learns little sooner.
BACKFILL_POLL_SECONDS = 3.0

# The metadata kinds the journeys read, by the field holding their value.
_VALUE_FIELDS = ("mdStr", "intValue", "text")


class DagsterApiError(AssertionError):
    """The API answered with GraphQL errors or an unexpected union member."""


def _name(node: dict[str, Any]) -> str:
    return "/".join(node["assetKey"]["path"])


def _key(asset: str) -> dict[str, list[str]]:
    return {"path": asset.split("/")}


@dataclass(frozen=True)
class Run:
    status: str
    tags: dict[str, str]
    run_config: dict[str, Any]


@dataclass(frozen=True)
class CheckExecution:
    run_id: str
    status: str  # SUCCEEDED, FAILED, EXECUTION_FAILED, SKIPPED, IN_PROGRESS
    description: str | None  # why it failed, as the check said
    partition: str | None


@dataclass(frozen=True)
class Materialization:
    partition: str
    run_id: str
    metadata: dict[str, Any]  # label -> Markdown text, int or text; other kinds left out


class DagsterApi:
    """A small client for the queries the e2e journeys need."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=url,
            timeout=HTTP_TIMEOUT_SECONDS,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
        )

    def close(self) -> None:
        self._http.close()

    def query(self, text: str, **variables: Any) -> dict[str, Any]:
        response = self._http.post("/graphql", json={"query": text, "variables": variables})
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise DagsterApiError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    # --- the code location and the daemon -----------------------------------------------
    def location_loaded(self, location: str) -> bool:
        """True once `location` is loaded; a location that failed to load fails at once."""
        data = self.query(
            """{ workspaceOrError { __typename ... on Workspace { locationEntries {
                 name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
            } } } }"""
        )
        entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
        entry = entries.get(location)
        if entry is None or entry["loadStatus"] != "LOADED":
            return False
        loaded = entry["locationOrLoadError"]
        if loaded["__typename"] != "RepositoryLocation":
            raise DagsterApiError(f"code location {location} failed to load: {loaded}")
        return True

    def sensor_ticks(self, location: str, sensor: str) -> int:
        """How many ticks the daemon has recorded for `sensor` (0 until its first)."""
        data = self.query(
            """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
                 __typename ... on Sensor { sensorState { ticks(limit: 1) { status } } } } }""",
            selector={
                "repositoryName": REPOSITORY_NAME,
                "repositoryLocationName": location,
                "sensorName": sensor,
            },
        )
        found = data["sensorOrError"]
        if found["__typename"] != "Sensor":
            raise DagsterApiError(f"sensor {sensor} not found in {location}: {found}")
        return len(found["sensorState"]["ticks"])

    def daemon_heartbeats(self) -> dict[str, float | None]:
        """Each daemon the instance requires, by type: when it last reported (None: never)."""
        data = self.query(
            """{ instance { daemonHealth { allDaemonStatuses {
                 daemonType required lastHeartbeatTime } } } }"""
        )
        return {
            status["daemonType"]: status["lastHeartbeatTime"]
            for status in data["instance"]["daemonHealth"]["allDaemonStatuses"]
            if status["required"]
        }

    def community_prompt_pending(self) -> bool:
        """Whether the UI will still ask this instance to join the Dagster community."""
        return bool(self.query("{ shouldShowNux }")["shouldShowNux"])

    # --- definitions ---------------------------------------------------------------------
    def _asset_nodes(self) -> list[dict[str, Any]]:
        return self.query(
            """{ assetNodes { assetKey { path } groupName dependencyKeys { path }
                 partitionKeysByDimension { partitionKeys }
                 assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }"""
        )["assetNodes"]

    def asset_groups(self) -> dict[str, str]:
        """Asset name -> group name."""
        return {_name(n): n["groupName"] for n in self._asset_nodes()}

    def dependencies(self) -> dict[str, set[str]]:
        """Asset name -> the names of the assets it depends on, as the lineage draws them."""
        return {
            _name(n): {"/".join(key["path"]) for key in n["dependencyKeys"]}
            for n in self._asset_nodes()
        }

    def partition_keys(self) -> dict[str, list[str]]:
        """Asset name -> its partition keys, oldest first."""
        return {
            _name(n): n["partitionKeysByDimension"][0]["partitionKeys"] for n in self._asset_nodes()
        }

    def checks(self) -> set[tuple[str, str]]:
        """(asset name, check name) of every asset check."""
        return {
            (_name(n), check["name"])
            for n in self._asset_nodes()
            for check in n["assetChecksOrError"]["checks"]
        }

    # --- runs and backfills --------------------------------------------------------------
    def launch_run(
        self,
        location: str,
        job: str,
        partition: str,
        run_config: dict[str, Any],
        assets: Sequence[str] | None = None,
    ) -> str:
        """Submit a run of `job` (only `assets` when given) for one partition, as the
        launchpad does; the instance's run coordinator queues it. Returns the run id."""
        selector: dict[str, Any] = {
            "repositoryLocationName": location,
            "repositoryName": REPOSITORY_NAME,
            "jobName": job,
        }
        if assets is not None:
            selector["assetSelection"] = [_key(asset) for asset in assets]
        launched = self.query(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on RunConfigValidationInvalid {
                   errors { message } } } }""",
            params={
                "selector": selector,
                "runConfigData": run_config,
                "executionMetadata": {"tags": [{"key": PARTITION_NAME_TAG, "value": partition}]},
            },
        )["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise DagsterApiError(f"run of {job} for {partition} not launched: {launched}")
        return launched["run"]["runId"]

    def launch_backfill(
        self, assets: Sequence[str], partitions: Sequence[str], run_config: dict[str, Any]
    ) -> str:
        """An asset backfill of `partitions`, as the UI's *Launch backfill* sends it; the
        daemon turns it into runs. Returns the backfill id."""
        launched = self.query(
            """mutation($params: LaunchBackfillParams!) {
                 launchPartitionBackfill(backfillParams: $params) { __typename
                   ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
            params={
                "assetSelection": [_key(asset) for asset in assets],
                "partitionNames": list(partitions),
                "runConfigData": run_config,
                "fromFailure": False,
            },
        )["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise DagsterApiError(f"backfill of {list(partitions)} not launched: {launched}")
        return launched["backfillId"]

    def runs(self) -> dict[str, str]:
        """Every run the instance holds: run id -> status."""
        data = self.query(
            """{ runsOrError(limit: 1000) { __typename ... on Runs { results { runId status } } } }"""
        )["runsOrError"]
        if data["__typename"] != "Runs":
            raise DagsterApiError(f"runs not listed: {data}")
        return {run["runId"]: run["status"] for run in data["results"]}

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's event log, oldest first: `__typename` each; for a started step its
        `stepKey`, for a failed one also `error.message`; for captured stdout/stderr its
        `fileKey`."""
        data = self.query(
            """query($runId: ID!) { logsForRun(runId: $runId, limit: 10000) { __typename
                 ... on EventConnection { events { __typename
                   ... on ExecutionStepStartEvent { stepKey }
                   ... on ExecutionStepFailureEvent { stepKey error { message } }
                   ... on LogsCapturedEvent { fileKey } } } } }""",
            runId=run_id,
        )["logsForRun"]
        if data["__typename"] != "EventConnection":
            raise DagsterApiError(f"events of run {run_id} not read: {data}")
        return data["events"]

    def run(self, run_id: str) -> Run:
        data = self.query(
            """query($runId: ID!) { runOrError(runId: $runId) { __typename
                 ... on Run { status runConfigYaml tags { key value } } } }""",
            runId=run_id,
        )["runOrError"]
        if data["__typename"] != "Run":
            raise DagsterApiError(f"run {run_id} not found: {data}")
        return Run(
            status=data["status"],
            tags={t["key"]: t["value"] for t in data["tags"]},
            run_config=yaml.safe_load(data["runConfigYaml"]) or {},
        )

    def finished_run(self, run_id: str, timeout: float) -> Run:
        """The run once it succeeded, failed or was canceled."""
        return wait_until(
            lambda: (run := self.run(run_id)).status in RUN_DONE and run,
            timeout=timeout,
            what=f"run {run_id} to finish",
        )

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        data = self.query(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
                 ... on PartitionBackfill { status partitionNames runs(limit: 100) {
                   runId status } } } }""",
            id=backfill_id,
        )["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise DagsterApiError(f"backfill {backfill_id} not found: {data}")
        return data

    def finished_backfill(self, backfill_id: str, timeout: float) -> dict[str, Any]:
        """The backfill once every partition has run (or it failed or was canceled)."""
        return wait_until(
            lambda: (found := self.backfill(backfill_id))["status"] in BACKFILL_DONE and found,
            timeout=timeout,
            what=f"backfill {backfill_id} to finish",
            poll=BACKFILL_POLL_SECONDS,
        )

    def captured_stderr(self, run_id: str, file_key: str) -> str:
        """The stderr a run captured under `file_key`, as the UI's log viewer shows it."""
        logs = self.query(
            """query($key: [String!]!) { capturedLogs(logKey: $key) { stderr } }""",
            key=[run_id, COMPUTE_LOGS, file_key],
        )["capturedLogs"]
        return logs["stderr"] or ""

    # --- results per week ----------------------------------------------------------------
    def check_executions(
        self, asset: str, check: str, partition: str | None = None, limit: int = 1000
    ) -> list[CheckExecution]:
        """Executions of `check`, newest first: for one partition, or for all (None)."""
        executions = self.query(
            """query($asset: AssetKeyInput!, $check: String!, $partition: String, $limit: Int!) {
                 assetCheckExecutions(assetKey: $asset, checkName: $check, partition: $partition,
                                      limit: $limit) {
                   runId status partition evaluation { description } } }""",
            asset=_key(asset),
            check=check,
            partition=partition,
            limit=limit,
        )["assetCheckExecutions"]
        return [
            CheckExecution(
                run_id=execution["runId"],
                status=execution["status"],
                description=(execution["evaluation"] or {}).get("description"),
                partition=execution["partition"],
            )
            for execution in executions
        ]

    def check_execution(self, asset: str, check: str, partition: str) -> CheckExecution | None:
        """The latest execution of `check` for one partition; None if it never ran."""
        executions = self.check_executions(asset, check, partition, limit=1)
        return executions[0] if executions else None

    def materializations(self, asset: str, partitions: Sequence[str]) -> list[Materialization]:
        """Every materialization of `asset` for these partitions, newest first."""
        data = self.query(
            """query($asset: AssetKeyInput!, $partitions: [String!]) {
                 assetOrError(assetKey: $asset) { __typename ... on Asset {
                   assetMaterializations(partitions: $partitions) { partition runId
                     metadataEntries { label
                       ... on MarkdownMetadataEntry { mdStr }
                       ... on IntMetadataEntry { intValue }
                       ... on TextMetadataEntry { text } } } } } }""",
            asset=_key(asset),
            partitions=list(partitions),
        )["assetOrError"]
        if data["__typename"] != "Asset":
            raise DagsterApiError(f"asset {asset} not found: {data}")
        return [
            Materialization(
                partition=m["partition"],
                run_id=m["runId"],
                metadata={
                    entry["label"]: entry[field]
                    for entry in m["metadataEntries"]
                    for field in _VALUE_FIELDS
                    if field in entry
                },
            )
            for m in data["assetMaterializations"]
        ]

    def materialization_in_run(self, asset: str, partition: str, run_id: str) -> Materialization:
        found = [m for m in self.materializations(asset, [partition]) if m.run_id == run_id]
        if not found:
            raise DagsterApiError(f"{asset} has no materialization for {partition} in run {run_id}")
        return found[0]
