"""Pure domain logic: no dagster, no httpx, no I/O."""
