"""Benchmark: how fast `engagement-ranker sandbox --companies 20000` starts, and how fast its
HubSpot search serves a 200-row page (targets: start < 15 s, page < 50 ms).

Run: `python -m engagement_ranker_tests.bench.sandbox_bench [--companies N] [--pages N]`.
The sandbox runs as its own process through the real CLI entry point (as a user starts it) with
no injected latency; start time is until it has printed its environment. Pages walk every
customer contact the way the product does (sort by id, 200 a page, a fresh query filtered on
`hs_object_id GT last` at each 10,000-result window), paced under the 5-a-second search limit.
Cold pages (a new query shape: filter and sort computed) are reported apart from warm ones.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from engagement_ranker.constants import (
    CUSTOMER_LIFECYCLE_STAGE,
    DEFAULT_HUBSPOT_API_VERSION,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_ROUTES,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_RESULT_CAP,
    Env,
    HubSpotOperation,
)

START_TARGET_SECONDS = 15.0
PAGE_TARGET_MS = 50.0
START_DEADLINE_SECONDS = 120.0
STOP_DEADLINE_SECONDS = 10.0
# One search every this many seconds keeps a rolling second under the limit.
PACE_SECONDS = 1.25 / HUBSPOT_SEARCH_PER_SECOND
# The contacts search as the job sends it by default.
SEARCH_PATH = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION][HubSpotOperation.CONTACTS_SEARCH].split()[
    1
]
# `engagement-ranker` is this entry point; calling it directly needs no installed script.
CLI = "from engagement_ranker.cli import main; main()"


def _proc_field(path: str, name: str) -> str | None:
    """One "name : value" field of a /proc file (Linux), None elsewhere."""
    source = Path(path)
    if not source.exists():
        return None
    lines = source.read_text().splitlines()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(name)), None)


def machine() -> list[str]:
    """The setup the numbers were taken on."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    total = _proc_field("/proc/meminfo", "MemTotal")  # "24684092 kB"
    memory = f"{int(total.split()[0]) / 2**20:.1f} GiB" if total else "unknown"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {platform.platform()}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"cpus: {os.cpu_count()} x {cpu}",
        f"memory: {memory}",
        f"load average: {load}",
    ]


def start_sandbox(companies: int, seed: int) -> tuple[subprocess.Popen[str], dict[str, str], float]:
    """Start the CLI's sandbox; return it, the environment it printed and the seconds it took."""
    command = [sys.executable, "-c", CLI, "sandbox", "--companies", str(companies)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    # A reader thread, because a pipe's buffered lines are invisible to select().
    threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
    env: dict[str, str] = {}
    while True:
        left = started + START_DEADLINE_SECONDS - time.perf_counter()
        try:
            line = lines.get(timeout=max(left, 0))
        except queue.Empty:
            stop_sandbox(process)
            raise SystemExit(
                f"the sandbox did not start within {START_DEADLINE_SECONDS} s"
            ) from None
        if not line:
            raise SystemExit(f"the sandbox exited with status {process.wait()} before starting")
        if not line.strip():
            return process, env, time.perf_counter() - started
        key, _, value = line.removeprefix("export ").strip().partition("=")
        env[key] = value.strip("'")


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Forward the sandbox's output lines; "" once it closes."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")


def stop_sandbox(process: subprocess.Popen[str]) -> None:
    """SIGTERM (the sandbox restores default handling), then kill if it lingers."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def search_pages(env: dict[str, str], pages: int) -> tuple[list[float], list[float]]:
    """Milliseconds per page, (cold, warm), walking customers as the product does."""
    headers = {"Authorization": f"Bearer {env[Env.HUBSPOT_ACCESS_TOKEN]}"}
    cold: list[float] = []
    warm: list[float] = []
    last_id = "0"
    after = 0
    with httpx.Client(
        base_url=env[Env.HUBSPOT_BASE_URL], headers=headers, timeout=HTTP_TIMEOUT_SECONDS
    ) as client:
        for _ in range(pages):
            filters = [
                {
                    "propertyName": "lifecyclestage",
                    "operator": "EQ",
                    "value": CUSTOMER_LIFECYCLE_STAGE,
                },
                {"propertyName": "hs_object_id", "operator": "GT", "value": last_id},
            ]
            body = {
                "filterGroups": [{"filters": filters}],
                "properties": ["email", "lifecyclestage"],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": HUBSPOT_SEARCH_PAGE_MAX,
                "after": str(after),
            }
            began = time.perf_counter()
            response = client.post(SEARCH_PATH, json=body)
            elapsed_ms = (time.perf_counter() - began) * 1000
            response.raise_for_status()
            payload = response.json()
            (warm if after else cold).append(elapsed_ms)
            results = payload["results"]
            if "paging" not in payload:
                break
            after += HUBSPOT_SEARCH_PAGE_MAX
            if after >= HUBSPOT_SEARCH_RESULT_CAP:
                last_id, after = results[-1]["id"], 0
            time.sleep(max(0.0, PACE_SECONDS - elapsed_ms / 1000))
    return cold, warm


def p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(label: str, samples: list[float]) -> str:
    if not samples:
        return f"{label}: no samples"
    return (
        f"{label}: n={len(samples)} median={statistics.median(samples):.1f} ms "
        f"p95={p95(samples):.1f} ms max={max(samples):.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pages", type=int, default=60, help="search pages to time")
    args = parser.parse_args(argv)
    print("\n".join(machine()))
    print(f"sandbox: {args.companies} companies, seed {args.seed}, no injected latency")
    process, env, start_seconds = start_sandbox(args.companies, args.seed)
    try:
        verdict = "ok" if start_seconds < START_TARGET_SECONDS else "SLOW"
        print(f"start: {start_seconds:.2f} s (target < {START_TARGET_SECONDS:.0f} s) {verdict}")
        cold, warm = search_pages(env, args.pages)
    finally:
        stop_sandbox(process)
    every = cold + warm
    print(summary(f"search page ({CUSTOMER_LIFECYCLE_STAGE}s, 200 rows), all", every))
    print(summary("  cold (new query shape)", cold))
    print(summary("  warm (next page of a query)", warm))
    verdict = "ok" if every and p95(every) < PAGE_TARGET_MS else "SLOW"
    print(f"target: 200-row page < {PAGE_TARGET_MS:.0f} ms at p95: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
