"""The Dagster shell: partitions, assets, checks, resources, jobs, schedule, sensors."""
