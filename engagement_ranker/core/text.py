"""Untrusted text made inert: a HubSpot or Yobi value can hold any character, and some of
them (NUL, other control characters, bidirectional overrides) would hide or reorder what a
person reads in Slack, e-mail or the Dagster UI."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# C0 and C1 controls but tab and newline (whitespace, which every rendering collapses), and
# the bidirectional embeddings, overrides, isolates and marks (Unicode TR9).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def neutralize(text: str) -> str:
    """`text` with every control and bidirectional formatting character shown as U+FFFD."""
    return _INVISIBLE.sub(REPLACEMENT, text)
