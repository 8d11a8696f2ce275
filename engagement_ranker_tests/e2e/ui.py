"""The Dagster UI (1.13) as a user drives it, kept in this one module so a UI change is fixed
here and not in every journey. Role and text selectors wherever the UI offers them; the few
structural ones (graph nodes, the config editor, the partition list, catalog links) say why."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import FloatRect, Locator, Page, Request, expect

from engagement_ranker.settings import LinkSettings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RUN_PATH = re.compile(r"/runs/(?P<run_id>[0-9a-f-]{36})$")
_BACKFILL_PATH = re.compile(r"/runs/b/(?P<backfill_id>[a-z0-9]+)$")
BLANK = "about:blank"


class Screens:
    """Numbered screenshots of each page a journey visits, kept as a CI artifact."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._taken = 0

    def shoot(self, page: Page, name: str) -> None:
        self._taken += 1
        page.screenshot(path=self.folder / f"{self._taken:02d}-{name}.png")


def records_skipped_prompt(request: Request) -> bool:
    """Whether `request` is the UI telling the server the community prompt was answered."""
    return "SetNuxSeen" in (request.post_data or "")


def skip_community_prompt(page: Page, ui_url: str) -> None:
    """Answer "Skip" to the "Join the Dagster community" prompt a new instance shows once.

    The page hides the prompt at once and tells the server afterwards; this returns only once
    the server has answered, so the page can be closed without losing the answer."""
    page.goto(ui_url)
    prompt = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    with page.expect_response(lambda response: records_skipped_prompt(response.request)) as answer:
        prompt.get_by_role("button", name="Skip", exact=True).click()
    expect(prompt).to_be_hidden()
    assert answer.value.ok, f"the server refused the skipped prompt: HTTP {answer.value.status}"


def _navigate(page: Page, ui_url: str, item: str) -> None:
    """Open an entry of the left navigation (its accessible name starts with the icon's)."""
    page.goto(ui_url)
    page.get_by_role("link", name=re.compile(rf"(^|\s){item}$")).click()


# --- the asset graph -----------------------------------------------------------------------
def open_lineage(page: Page, ui_url: str) -> None:
    _navigate(page, ui_url, "Lineage")
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()


def expand_all_groups(page: Page) -> None:
    """The graph's settings menu: "Expand all groups" (groups start collapsed)."""
    settings = page.get_by_role("button").filter(
        has=page.get_by_role("img", name="settings", exact=True), has_not_text=re.compile(r"\w")
    )
    settings.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")


def _node_box(page: Page, label: str) -> FloatRect | None:
    """Where the graph draws the node (asset or group box) labelled exactly `label`.

    The graph is SVG with each node's HTML in a foreignObject, which has no ARIA role.
    """
    node = page.locator("foreignObject").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    return node.first.bounding_box() if node.count() else None


def _inside(inner: FloatRect, outer: FloatRect) -> bool:
    x, y = inner["x"] + inner["width"] / 2, inner["y"] + inner["height"] / 2
    return (
        outer["x"] <= x <= outer["x"] + outer["width"]
        and outer["y"] <= y <= outer["y"] + outer["height"]
    )


def group_of_each_asset(
    page: Page, assets: Collection[str], groups: Collection[str]
) -> dict[str, str | None]:
    """Asset name -> the group box the graph draws it in (None if drawn in none)."""
    boxes = {group: _node_box(page, group) for group in groups}
    shown: dict[str, str | None] = {}
    for asset in assets:
        box = _node_box(page, asset)
        shown[asset] = next(
            (g for g, outer in boxes.items() if box and outer and _inside(box, outer)), None
        )
    return shown


def open_asset_tab(page: Page, ui_url: str, asset: str, tab: str) -> None:
    """From the catalog, the asset's page, then one of its tabs (Partitions, Checks...)."""
    _navigate(page, ui_url, "Catalog")
    # Names are middle-truncated on screen ("custom…panies"): pick the link by its target.
    page.locator(f'a[href="/assets/{asset}"]').first.click()
    page.get_by_role("tab", name=tab, exact=True).first.click()


def partition_keys_listed(page: Page) -> list[str]:
    """The partition keys in the rows of the asset's Partitions tab, top to bottom.

    The list is virtualized: only the rows in view exist, so this is the newest screenful.
    """
    # A virtualized table of plain divs: no roles, so its rows are found by their CSS module.
    rows = page.locator("[class*=VirtualizedTable_row]")
    expect(rows.first).to_contain_text(_DATE)
    return [m[0] for m in map(_DATE.search, rows.all_inner_texts()) if m]


# --- launching runs and backfills ----------------------------------------------------------
PICK_ATTEMPTS = 3
PICK_SECONDS = 10


def _until_shown(pick: Callable[[], None], shown: Locator) -> None:
    """`pick`, then `shown` on screen; again if not. A box or dialog still loading its weeks
    drops a choice made before it has them (typed and Enter: nothing picked; the launch dialog's
    "Latest" clicked: still 0 partitions once they load)."""
    for attempt in range(1, PICK_ATTEMPTS + 1):
        pick()
        try:
            expect(shown).to_be_visible(timeout=PICK_SECONDS * 1000)
            return
        except AssertionError:
            if attempt == PICK_ATTEMPTS:
                raise


def _materialize_all(
    page: Page,
    select: Callable[[Locator], None],
    run_config: Mapping[str, Any] | None,
    launch: str,
    screens: Screens,
) -> str:
    """Materialize all from the page open now: pick partitions, paste the run config (if
    any), launch. Returns the URL of the run or backfill page the confirmation's "View" link
    opens."""
    page.get_by_role("button", name=re.compile(r"Materialize all")).click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    select(dialog)
    if run_config is not None:
        dialog.get_by_text("Config", exact=True).click()
        dialog.get_by_role("button", name="Add config").click()
        editor = page.get_by_role("dialog").filter(has_text="Config Editor")
        editor.locator(".CodeMirror").click()  # the editor library's own class: no role
        # As a paste: typing key by key would let the editor auto-indent the YAML.
        page.keyboard.insert_text(yaml.safe_dump(dict(run_config), sort_keys=False))
        screens.shoot(page, "run-config")
        editor.get_by_role("button", name="Save config").click()
        expect(editor).to_be_hidden()
        expect(dialog.get_by_text("Config saved")).to_be_visible()
    screens.shoot(page, "launch-dialog")
    dialog.get_by_role("button", name=launch, exact=True).click()
    page.get_by_role("link", name="View", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/"))
    url = page.url
    # The journey waits through the API; meanwhile the page is put down, for a run's or a
    # backfill's page polls the webserver every few seconds (the browser stage spent 251
    # CPU-seconds with them open, 205 without). `expect_status` opens it again.
    page.goto(BLANK)
    return url


def _run_id(url: str) -> str:
    match = _RUN_PATH.search(url)
    assert match, f"the launched run's page is {url}, not /runs/<run id>"
    return match["run_id"]


def materialize_latest_week(
    page: Page, ui_url: str, run_config: Mapping[str, Any], screens: Screens
) -> str:
    """Launch one run of every asset for the latest week; returns its run id."""

    def latest(dialog: Locator) -> None:
        _until_shown(
            dialog.get_by_role("button", name="Latest", exact=True).click,
            dialog.get_by_text("1 partition", exact=True),
        )

    open_lineage(page, ui_url)
    return _run_id(_materialize_all(page, latest, run_config, "Launch 1 run", screens))


def materialize_week_in_address(page: Page, url: str, week: str, screens: Screens) -> str:
    """From a page whose address names `week` (`?partition=`), *Materialize all* opens on that
    week alone; launch it without config. Returns the run id."""

    def named(dialog: Locator) -> None:
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        expect(dialog.get_by_role("button", name="Launch 1 run", exact=True)).to_be_enabled()
        expect(dialog).to_contain_text(week)

    page.goto(url)
    return _run_id(_materialize_all(page, named, None, "Launch 1 run", screens))


def backfill_weeks(
    page: Page, ui_url: str, weeks: list[str], run_config: Mapping[str, Any], screens: Screens
) -> str:
    """Launch a backfill of consecutive weeks (a key range); returns the backfill id."""

    def weeks_range(dialog: Locator) -> None:
        keys = dialog.get_by_role("textbox").first

        def pick() -> None:
            keys.fill(f"[{weeks[0]}...{weeks[-1]}]")
            keys.press("Enter")

        _until_shown(pick, dialog.get_by_text(f"{len(weeks)} partitions", exact=True))

    open_lineage(page, ui_url)
    url = _materialize_all(page, weeks_range, run_config, "Launch backfill", screens)
    match = _BACKFILL_PATH.search(url)
    assert match, f"the backfill's page is {url}, not /runs/b/<backfill id>"
    return match["backfill_id"]


def launchpad_config(page: Page, ui_url: str, location: str, job: str, week: str) -> str:
    """The job's launchpad with `week` picked in its partition box: the run config it shows."""
    page.goto(f"{ui_url}/locations/{location}/jobs/{job}/playground")
    picker = page.get_by_placeholder("Partition")

    def pick() -> None:
        picker.fill(week)
        picker.press("Enter")

    _until_shown(pick, page.get_by_text(f"partition: {week}", exact=True))
    # The editor library's own classes: the code area, one element per line of YAML.
    code = page.locator(".CodeMirror-code").first
    expect(code).to_contain_text("hubspot_writeback")
    return "\n".join(code.locator(".CodeMirror-line").all_inner_texts())


# --- results -------------------------------------------------------------------------------
def run_page(ui_url: str, run_id: str) -> str:
    """The run's page, as the product links it in its messages."""
    url = LinkSettings(dagster_ui_url=ui_url).run_url(run_id)
    assert url is not None
    return url


def backfill_page(ui_url: str, backfill_id: str) -> str:
    return f"{ui_url}/runs/b/{backfill_id}"


def expect_status(page: Page, url: str, status: str) -> None:
    """The run or backfill page at `url`, opened now, shows `status` (Success, Failure,
    Succeeded...)."""
    page.goto(url)
    expect(page.get_by_text(status, exact=True).first).to_be_visible()
    expect(page.get_by_text("Loading run logs")).to_have_count(0)


def expect_check_result(
    page: Page, ui_url: str, asset: str, check: str, result: str, week: str
) -> None:
    """The asset's Checks tab, with `check` selected, shows `result` for `week`."""
    page.goto(f"{ui_url}/assets/{asset}?view=checks")
    page.get_by_text(check, exact=True).first.click()
    # The detail panel: the check's name and Execute button, then its latest evaluation.
    latest = re.compile(
        rf"{check}\s+Execute\b.*?Latest execution"
        rf".*?Evaluation result\s+{result}\b.*?Partition\s+{week}\b",
        re.S,
    )
    expect(page.locator("body")).to_contain_text(latest, use_inner_text=True)


def open_partition(page: Page, ui_url: str, asset: str, week: str) -> None:
    """The asset's Partitions tab with `week` selected: its latest materialization."""
    page.goto(f"{ui_url}/assets/{asset}?view=partitions&partition={week}")
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()


def open_markdown(page: Page, ui_url: str, asset: str, week: str, label: str) -> Locator:
    """The Markdown metadata entry `label` of the asset's `week`, opened in its dialog."""
    open_partition(page, ui_url, asset, week)
    row = page.get_by_role("row").filter(has=page.get_by_text(label, exact=True))
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=label)
    expect(dialog).to_be_visible()
    return dialog


def open_plots(page: Page, ui_url: str, asset: str) -> Locator:
    """The asset's Overview, its metadata as plots: each numeric entry over the partitions."""
    page.goto(f"{ui_url}/assets/{asset}")
    # The toggle's accessible name starts with its icon's ("asset_plot Plots").
    page.get_by_role("button", name=re.compile(r"(^|\s)Plots$")).click()
    return page.locator("body")
