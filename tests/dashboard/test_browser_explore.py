"""The explorer, the charts and feedback in Debian's chromium; screenshots of every page.

Screenshots go to $OBSMEM_ARTEFACTS (default test-artefacts/screenshots in the repo,
gitignored) at desktop and phone size, so a person can look at them after a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboard.test_browser import CHROMIUM, base_url, browser, page  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"
    ),
]

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
    pg.locator("[data-testid=explorer-canvas]").scroll_into_view_if_needed()
    pos = pg.evaluate("id => window.obsmemExplorer.getElementById(id).renderedPosition()", node_id)
    box = pg.locator("[data-testid=explorer-canvas]").bounding_box()
    pg.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


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
            ("charts", "/charts", "[data-testid=chart-ready]"),
        ]:
            pg.goto(base_url + path)
            pg.wait_for_selector(ready, state="attached")
            width = pg.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size]["width"], f"{name} scrolls sideways at {size}"
            _shot(pg, f"{name}-{size}")
    finally:
        context.close()
    assert errors == []
