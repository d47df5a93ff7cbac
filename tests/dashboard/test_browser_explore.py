"""The explorer, the charts and feedback in Debian's chromium; screenshots of every page.

Screenshots go to $OBSMEM_ARTEFACTS (default test-artefacts/screenshots in the repo,
gitignored) at desktop and phone size, so a person can look at them after a run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import TOKEN
from tests.dashboard.test_browser import CHROMIUM, _serve, base_url, browser, page  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"
    ),
]

VENDOR = Path(__file__).resolve().parents[2] / "dashboard" / "static" / "vendor"


@pytest.fixture(autouse=True, scope="module")
def _vendored_libraries() -> None:
    missing = [n for n in ("cytoscape.min.js", "chart.umd.min.js") if not (VENDOR / n).exists()]
    if missing:
        pytest.fail(f"{VENDOR} lacks {missing}: run `make vendor` (npm ci) first")


ARTEFACTS = Path(
    os.environ.get("OBSMEM_ARTEFACTS")
    or Path(__file__).resolve().parents[2] / "test-artefacts" / "screenshots"
)
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _shot(pg, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _click_node(pg, node_id: str) -> None:
    """A real mouse click on the node where cytoscape drew it."""
    canvas = pg.locator("[data-testid=explorer-canvas]")
    canvas.scroll_into_view_if_needed()

    def where() -> tuple[float, float]:
        pos = pg.evaluate(
            "id => window.obsmemExplorer.getElementById(id).renderedPosition()", node_id
        )
        box = canvas.bounding_box()
        assert box is not None
        return box["x"] + pos["x"], box["y"] + pos["y"]

    # The side panel fills in after the graph is ready, which can move or resize the
    # canvas: click only once the node has stayed put (else the click meets empty canvas).
    here, before = where(), None
    deadline = time.monotonic() + 5
    while here != before and time.monotonic() < deadline:
        pg.wait_for_timeout(150)
        before, here = here, where()
    pg.mouse.click(*here)


def test_expanding_a_node_shows_new_neighbours(page, base_url, seeded):  # noqa: F811
    page.goto(f"{base_url}/fixes/{seeded['payments-api']}")
    page.wait_for_selector("[data-testid=explorer][data-ready=true]")
    items = page.locator("[data-testid=explorer-item]")
    start = {items.nth(i).get_attribute("data-node") for i in range(items.count())}
    assert {"agent:k8s-watcher", "agent:db-guardian", "service:payments-api"} <= start
    logging_fix = f"fix:{seeded['logging']}"
    assert logging_fix not in start
    # k8s-watcher also applied the logging fix: expanding the agent brings it in.
    _click_node(page, "agent:k8s-watcher")
    page.wait_for_selector(
        f'[data-testid=explorer-item][data-node="{logging_fix}"]', state="attached"
    )
    assert int(page.get_attribute("[data-testid=explorer]", "data-nodes")) > len(start)
    assert "new neighbour" in page.inner_text("[data-testid=explorer-status]")
    assert "k8s-watcher" in page.inner_text("[data-testid=explorer-panel]")
    # outcome colours: the edge from db-guardian (it worked) is green, not grey
    colour = page.evaluate("""() => window.obsmemExplorer.edges()
        .filter(e => e.source().id() === 'agent:db-guardian')[0].data('outcome')""")
    assert colour == "worked"
    _shot(page, "fix-desktop")


def test_explorer_page_from_a_service_and_the_list_button(page, base_url, seeded):  # noqa: F811
    page.goto(f"{base_url}/graph?kind=service&key=reporting")
    page.wait_for_selector("[data-testid=explorer][data-ready=true]")
    first = int(page.get_attribute("[data-testid=explorer]", "data-nodes"))
    assert first == 31  # the service and its 30 fixes
    page.click(".explorer-list-box summary")
    page.locator("[data-testid=explorer-expand]:not([disabled])").first.click()
    expect(page.locator("[data-testid=explorer]")).not_to_have_attribute("data-nodes", str(first))
    assert int(page.get_attribute("[data-testid=explorer]", "data-nodes")) > first
    _shot(page, "graph-desktop")
    page.goto(f"{base_url}/graph?node=planet:mars")
    assert "choose fix, agent, service or issue" in page.inner_text("[data-testid=explorer-error]")


def test_chart_hover_shows_the_days_numbers(page, base_url, seeded):  # noqa: F811
    page.goto(base_url + "/charts")
    page.wait_for_selector("[data-testid=chart][data-ready=true]")
    assert page.get_attribute("[data-testid=chart]", "data-days") == "30"
    # today is the last bar; the seed made all 35 fixes today
    x = page.evaluate("""() => { const c = window.obsmemChart, m = c.getDatasetMeta(1);
        return m.data[m.data.length - 1].x; }""")
    box = page.locator("[data-testid=chart] canvas").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + box["height"] * 0.6)
    tip = page.locator("[data-testid=chart-tooltip]")
    expect(tip).to_be_visible()
    text = tip.inner_text()
    today = page.evaluate("new Date().toISOString().slice(0, 10)")
    assert tip.get_attribute("data-day") == today and today in text
    assert "35 fixes" in text and "worked" in text and "failed" in text and "success rate" in text
    # y axis ticks are whole, increasing numbers (no "0, 1, 2, 2, 3")
    ticks = page.evaluate("() => window.obsmemChart.scales.y.ticks.map(t => t.value)")
    assert ticks == sorted(set(ticks)) and all(float(t).is_integer() for t in ticks)
    page.select_option("[data-testid=chart-days]", "7")
    expect(page.locator("[data-testid=chart]")).to_have_attribute("data-days", "7")
    assert "in the last 7 days" in page.inner_text("[data-testid=chart-summary]")


def test_feedback_appears_in_the_outcomes_table_and_a_second_click_changes_it(
    page,  # noqa: F811
    base_url,  # noqa: F811
    seeded,
):
    page.goto(f"{base_url}/fixes/{seeded['ingress']}")
    rows = page.locator("[data-testid=outcomes-table] [data-testid=outcome-row]")
    page.fill("[data-testid=feedback-name]", "sre-ann")
    page.click("[data-testid=feedback-yes]")
    expect(page.locator("[data-testid=feedback-status]")).to_contain_text("as sre-ann")
    mine = page.locator('[data-testid=outcome-row][data-agent="sre-ann"]')
    expect(mine).to_have_count(1)
    assert "worked" in mine.inner_text()
    before = rows.count()
    page.click("[data-testid=feedback-no]")
    expect(page.locator("[data-testid=feedback-status]")).to_contain_text("Vote changed")
    expect(mine).to_contain_text("failed")
    assert rows.count() == before and mine.count() == 1
    page.click("[data-testid=feedback-no]")
    expect(page.locator("[data-testid=feedback-status]")).to_contain_text("already")
    # the name is remembered for the next page
    page.goto(f"{base_url}/fixes/{seeded['logging']}")
    assert page.input_value("[data-testid=feedback-name]") == "sre-ann"
    _shot(page, "feedback-desktop")


def test_feedback_says_missing_or_wrong_token(browser, token_app, seeded):  # noqa: F811
    for url in _serve(token_app):
        context = browser.new_context()
        pg = context.new_page()
        try:
            pg.goto(f"{url}/fixes/{seeded['coredns']}")
            pg.click("[data-testid=feedback-yes]")
            status = pg.locator("[data-testid=feedback-status]")
            expect(status).to_contain_text("A token is needed")
            pg.click("[data-testid=token-box] summary")
            pg.fill("[data-testid=token-input]", "not-the-token")
            pg.press("[data-testid=token-input]", "Enter")
            pg.click("[data-testid=feedback-yes]")
            expect(status).to_contain_text("The token was refused")
            if not pg.locator("[data-testid=token-input]").is_visible():
                pg.click("[data-testid=token-box] summary")
            pg.fill("[data-testid=token-input]", TOKEN)
            pg.press("[data-testid=token-input]", "Enter")
            pg.click("[data-testid=feedback-yes]")
            expect(status).to_contain_text("Recorded")
        finally:
            context.close()


@pytest.mark.parametrize("size", sorted(SIZES))
def test_screenshots_of_every_page(browser, base_url, seeded, size):  # noqa: F811
    context = browser.new_context(viewport=SIZES[size])
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        for name, path, ready in [
            ("overview", "/", "[data-testid=agent-row]"),
            ("fixes", "/fixes", "[data-testid=fix-row]"),
            ("fix", f"/fixes/{seeded['payments-api']}", "[data-testid=explorer][data-ready=true]"),
            ("agents", "/agents", "[data-testid=agent-row]"),
            ("graph", "/graph?node=agent:k8s-watcher", "[data-testid=explorer][data-ready=true]"),
            ("charts", "/charts", "[data-testid=chart][data-ready=true]"),
        ]:
            pg.goto(base_url + path)
            pg.wait_for_selector(ready, state="attached")
            width = pg.evaluate("document.documentElement.scrollWidth")
            wide = pg.evaluate(
                """w => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .slice(0, 3).map(e => e.tagName + '.' + e.className)""",
                SIZES[size]["width"],
            )
            assert width <= SIZES[size]["width"], f"{name} scrolls sideways at {size}: {wide}"
            _shot(pg, f"{name}-{size}")
    finally:
        context.close()
    assert errors == []


def test_a_huge_issue_is_clamped_with_show_all(page, base_url, dash_memory):  # noqa: F811
    issue = "Giant stack trace " + " ".join(f"frame{i} at module{i}.py:{i}" for i in range(600))
    fid = dash_memory.remember(issue, "cap the log line length").id
    try:
        page.goto(f"{base_url}/fixes/{fid}")
        heading = page.locator("[data-testid=fix-issue]")
        assert heading.bounding_box()["height"] < 200
        page.click("[data-testid=show-all]")
        assert heading.bounding_box()["height"] > 1000
        assert "show less" in page.inner_text("[data-testid=show-all]")
    finally:
        dash_memory.delete_fix(fid)
