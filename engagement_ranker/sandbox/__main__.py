"""`python -m engagement_ranker.sandbox`: the sandbox in the foreground (see runner.serve)."""

from __future__ import annotations

import argparse
from datetime import datetime

from engagement_ranker.constants import HUBSPOT_TIER_LIMITS
from engagement_ranker.sandbox.runner import SandboxConfig, serve


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--now {text!r} is not ISO 8601; e.g. 2026-11-22T06:00:00-05:00"
        ) from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--now {text!r} has no UTC offset; add one, e.g. -05:00")
    return instant


def main(argv: list[str] | None = None) -> None:
    """Parse the flags (as `engagement-ranker sandbox` takes them) and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m engagement_ranker.sandbox", description=__doc__
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--companies", type=int, default=150)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--hubspot-tier", choices=sorted(HUBSPOT_TIER_LIMITS), default="free")
    parser.add_argument("--now", type=_instant, default=None, help="sandbox clock (ISO 8601)")
    parser.add_argument("--host", default="127.0.0.1")
    for service in ("hubspot", "yobi", "slack", "smtp"):
        parser.add_argument(f"--{service}-port", type=int, default=0, help="0: a free port")
    args = parser.parse_args(argv)
    try:
        config = SandboxConfig(**vars(args))
    except ValueError as exc:
        parser.error(str(exc))
    serve(config)


if __name__ == "__main__":
    main()
