"""One sandbox, one `dagster dev` and one Chromium for the session; a fresh page and a reset
sandbox per journey; screenshots and server logs under test-artifacts/e2e/ for CI."""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from engagement_ranker_tests.e2e.stack import REPO_ROOT, Stack, running_stack
from engagement_ranker_tests.e2e.ui import Screens, skip_community_prompt

E2E_DIR = Path(__file__).parent
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
# Debian's Chromium: Playwright's own browser download is blocked on these machines.
CHROMIUM = "chromium"
# Without these, Chromium stalls on network lookups on a machine without internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
ACTION_TIMEOUT_MS = 20_000
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

expect.set_options(timeout=ACTION_TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so `page` knows whether to shoot the failure."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/e2e/, emptied: this session's screenshots and logs only."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e"), artifacts) as running:
        yield running


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile; a missing browser fails the suite."""
    chromium = shutil.which(CHROMIUM)
    if chromium is None:
        pytest.fail(
            f"the e2e suite needs Debian's Chromium, but `{CHROMIUM}` is not on PATH: "
            "install it with `apt-get install -y chromium` (.ci/run does)"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        yield context
        context.close()


@pytest.fixture(scope="session")
def community_prompt_skipped(browser: BrowserContext, stack: Stack) -> None:
    """Skip Dagster's one-time welcome prompt as a user would, so it never covers a journey."""
    if stack.api.community_prompt_pending():
        tab = browser.new_page()
        skip_community_prompt(tab, stack.ui_url)
        tab.close()
        assert not stack.api.community_prompt_pending(), "Dagster forgot the skipped prompt"


@pytest.fixture(autouse=True)
def fresh_sandbox(stack: Stack) -> None:
    """Each journey starts from the seeded HubSpot records, no faults, empty logs."""
    stack.control.reset()


@pytest.fixture
def screens(request: pytest.FixtureRequest, artifacts: Path) -> Screens:
    return Screens(artifacts / request.node.name)


@pytest.fixture
def page(
    request: pytest.FixtureRequest,
    browser: BrowserContext,
    screens: Screens,
    community_prompt_skipped: None,
) -> Iterator[Page]:
    """A new tab; when the journey fails, its last page is kept as failure.png."""
    tab = browser.new_page()
    yield tab
    call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call is not None and call.failed:
        screens.shoot(tab, "failure")
    tab.close()
