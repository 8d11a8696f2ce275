"""`python -m engagement_ranker.sandbox` = `engagement-ranker sandbox`, where the console script
is not on PATH (one parser for both, in cli.py)."""

import sys

from engagement_ranker.cli import main

if __name__ == "__main__":
    main(["sandbox", *sys.argv[1:]], prog_name="python -m engagement_ranker.sandbox")
