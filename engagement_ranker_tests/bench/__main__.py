"""`make bench`: how fast a week runs from 250 to 10,000 companies against HubSpot's limits,
and how long a 52-week backfill takes through Dagster. Prints the setup and Markdown tables.

Run: `python -m engagement_ranker_tests.bench [--companies 250,1000,10000] [--weeks 52]
[--skip-scale] [--skip-backfill] [--keep]`. Not a test: it measures, prints, and exits 0
unless a benchmark could not run at all; missed targets are marked MISSED in the tables.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from engagement_ranker.cli import restore_default_signals
from engagement_ranker.constants import HUBSPOT_TIER_LIMITS
from engagement_ranker_tests.bench import backfill, scale
from engagement_ranker_tests.bench.processes import DAGSTER_YAML, REPO
from engagement_ranker_tests.bench.sandbox_bench import machine

DEFAULT_COMPANIES = "250,1000,10000"
DEFAULT_LATENCY_MS = 50
DEFAULT_TIER = "free"
DEFAULT_SEED = 7


def _companies(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--companies {text!r} is not a comma-separated list of integers, e.g. 250,1000"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--companies {text!r}: every N must be >= 1")
    return values


def _load() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    return f"load average {os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_ranker_tests.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--companies", type=_companies, default=_companies(DEFAULT_COMPANIES))
    parser.add_argument("--latency-ms", type=int, default=DEFAULT_LATENCY_MS)
    parser.add_argument("--hubspot-tier", choices=sorted(HUBSPOT_TIER_LIMITS), default=DEFAULT_TIER)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--weeks", type=int, default=backfill.DEFAULT_WEEKS)
    parser.add_argument("--backfill-companies", type=int, default=backfill.DEFAULT_COMPANIES)
    parser.add_argument(
        "--dagster-yaml",
        type=Path,
        default=DAGSTER_YAML,
        help="instance config for the backfill (default: the repo's), to try e.g. a coordinator",
    )
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    restore_default_signals()

    print(f"command: python -m engagement_ranker_tests.bench {shlex.join(argv or sys.argv[1:])}")
    print("\n".join(machine()))
    print(f"repo: {REPO}; a fresh DAGSTER_HOME per run, its dagster.yaml linked to the repo's")
    print(
        f"sandbox: python -m engagement_ranker.sandbox --latency-ms {args.latency_ms} "
        f"--hubspot-tier {args.hubspot_tier} --seed {args.seed} --companies N"
    )
    work = Path(tempfile.mkdtemp(prefix="engagement-bench-"))
    if not args.skip_scale:
        results = []
        for companies in args.companies:
            print(f"\nscale: N={companies:,} ({_load()}) ...", flush=True)
            result = scale.measure(
                companies,
                latency_ms=args.latency_ms,
                tier=args.hubspot_tier,
                seed=args.seed,
                root=work / f"scale-{companies}",
            )
            print(
                f"  {result.status}: wall {result.run.wall_seconds:.1f} s, "
                f"floor {result.floor.seconds:.1f} s (log {result.log})",
                flush=True,
            )
            results.append(result)
        print("\n## Scale: latest week, full mode, `engagement-ranker run` as a fresh process\n")
        print("\n".join(scale.tables(results, args.hubspot_tier)))
    if not args.skip_backfill:
        keys, in_reach = backfill.last_weeks(args.weeks)
        plans = [(f"last {len(keys)} weeks", keys)]
        if in_reach and in_reach != keys:
            plans.append(("the weeks in Yobi's reach", in_reach))
        outcomes = []
        for number, (label, weeks) in enumerate(plans, start=1):
            print(
                f"\nbackfill {label} at N={args.backfill_companies:,} ({_load()}) ...", flush=True
            )
            outcome = backfill.measure(
                label,
                weeks,
                companies=args.backfill_companies,
                latency_ms=args.latency_ms,
                tier=args.hubspot_tier,
                seed=args.seed,
                root=work / f"backfill-{number}",
                config=args.dagster_yaml,
            )
            print(f"  {outcome.wall_seconds:.1f} s", flush=True)
            outcomes.append(outcome)
        print(
            f"\n## Backfill through the Dagster daemon at N={args.backfill_companies:,}, "
            f"{args.latency_ms} ms latency, instance config {args.dagster_yaml}\n"
        )
        print("\n".join(backfill.tables(outcomes, args.weeks)))
    if args.keep:
        print(f"\nwork directory kept: {work}")
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
