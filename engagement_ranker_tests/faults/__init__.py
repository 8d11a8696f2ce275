"""The fault matrix (issue 8): every fault injected through the sandbox, each week run end to
end through Dagster, and checked against what HubSpot, the alerts and every log hold afterwards.

`python -m engagement_ranker_tests.faults` (`make faults`) runs it; rows.py is the matrix.
"""
