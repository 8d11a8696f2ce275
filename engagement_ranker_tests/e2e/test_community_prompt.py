"""Dagster's one-time "Join the Dagster community" prompt, skipped once for the whole suite."""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Response, Route

from engagement_ranker_tests.e2e.stack import Stack
from engagement_ranker_tests.e2e.ui import records_skipped_prompt, skip_community_prompt

# Long enough that the prompt is gone from the page well before the server hears "Skip".
ANSWER_DELAY_SECONDS = 1.0


def _answer_skip_late(route: Route) -> None:
    if records_skipped_prompt(route.request):
        time.sleep(ANSWER_DELAY_SECONDS)
    route.continue_()


def test_skipping_the_prompt_returns_once_the_server_has_recorded_it(
    browser: BrowserContext, stack: Stack
) -> None:
    """ "Skip" hides the prompt at once and tells the server afterwards: a tab closed between
    the two loses the answer, and every journey met the prompt again (seen in CI under load)."""
    # Dagster keeps the answer as this file in its home (dagster/_core/nux.py): gone, it asks again.
    (stack.home / ".nux" / "nux.yaml").unlink(missing_ok=True)
    assert stack.api.community_prompt_pending()
    tab = browser.new_page()
    answers: list[Response] = []
    try:
        tab.add_init_script("window.localStorage.removeItem('communityNux')")
        tab.route("**/graphql*", _answer_skip_late)
        # A function, not `answers.append`: Playwright cannot wrap a builtin as a handler.
        tab.on("response", lambda response: answers.append(response))
        skip_community_prompt(tab, stack.ui_url)
        assert [a.status for a in answers if records_skipped_prompt(a.request)] == [200]
        tab.close()
        assert not stack.api.community_prompt_pending()
    finally:
        if not tab.is_closed():
            tab.close()
        stack.api.query("mutation { setNuxSeen }")
