"""`python -m engagement_ranker_tests.faults [--only TEXT ...] [--workers N]` (`make faults`)."""

from __future__ import annotations

import argparse
import sys

from engagement_ranker_tests.faults.matrix import DEFAULT_WORKERS, run, select


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_ranker_tests.faults",
        description="Inject every fault into a fresh sandbox, run the week, check what is left.",
    )
    parser.add_argument(
        "--only", nargs="*", default=[], metavar="TEXT", help="rows whose name contains TEXT"
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="rows at a time")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: run at least one row at a time")
    rows = select(args.only)
    if not rows:
        parser.error(f"no row's name contains any of {args.only}; see rows.py")
    return run(rows, args.workers)


if __name__ == "__main__":
    sys.exit(main())
