"""Untrusted text made inert before any rendering."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from engagement_ranker.core.render import markdown_escape, slack_escape
from engagement_ranker.core.text import REPLACEMENT, neutralize

HIDDEN = ("\x00", "\u202e", "\u2066", "\u2069", "\u200f", "\x1b", "\x85")


def test_nul_and_bidirectional_controls_are_shown_not_obeyed() -> None:
    name = "Smile\x00 Dental \u202eCo\u2066x\u2069"
    assert (
        neutralize(name) == f"Smile{REPLACEMENT} Dental {REPLACEMENT}Co{REPLACEMENT}x{REPLACEMENT}"
    )
    assert neutralize("Café Ørthodontics – 24/7") == "Café Ørthodontics – 24/7"


@given(st.text())
def test_nothing_hidden_survives_any_rendering(text: str) -> None:
    for rendered in (neutralize(text), markdown_escape(text), slack_escape(text)):
        assert not any(character in rendered for character in HIDDEN)


def test_markdown_cannot_link_embed_or_head() -> None:
    for name, live in (
        ("[click](https://evil.example)", r"(?<!\\)\]\("),
        ("![x](https://evil.example/x.png)", r"(?<!\\)!\["),
        ("visit https://evil.example now", r"(?<!\\)://"),
        ("www.evil.example", r"www(?<!\\)\."),
    ):
        assert not re.search(live, markdown_escape(name)), name
    assert markdown_escape("# Heading").startswith("\\#")
