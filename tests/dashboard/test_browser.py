"""The dashboard in Debian's chromium (Playwright, headless), served by waitress over a real Memory."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.dashboard.conftest import TOKEN

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def _serve(app) -> Iterator[str]:
    from dashboard.serve import start_in_thread

    running = start_in_thread(app, "127.0.0.1", 0, threads=4)
    try:
        yield running.url
    finally:
        running.stop()


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    yield from _serve(app)


@pytest.fixture(scope="module")
def locked_url(locked_app) -> Iterator[str]:
    yield from _serve(locked_app)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    # CSP violations and script errors show up here: the pages must have none.
    assert problems == []


def _post(url: str, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_overview_search_open_fix_and_register(page, base_url, seeded, tmp_path):
    page.goto(base_url + "/")
    for name in ("k8s-watcher", "db-guardian", "net-sentry"):
        assert page.locator(f'[data-testid=agent-row][data-agent="{name}"]').is_visible()
    assert page.locator("[data-testid=recent-fixes] [data-testid=fix-row]").count() == 10
    assert page.inner_text("[data-testid=health-status]") in {"healthy", "degraded"}
    assert page.inner_text("[data-testid=store-graph] [data-field=state]") == "up"
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    # a search nothing matches says so, and still shows the closest, marked
    page.click("[data-testid=nav-fixes]")
    page.fill("[data-testid=search-input]", "banana smoothie recipe with oat milk")
    page.click("[data-testid=search-button]")
    page.wait_for_selector("[data-testid=result-summary][data-no-match=true]")
    assert page.inner_text("[data-testid=result-summary]").startswith("No good match. Closest:")
    rows = page.locator("[data-testid=fix-list] [data-testid=fix-row]")
    assert rows.count() > 0 and rows.count() == page.locator("[data-below-bar=true]").count()

    # search through /api/recall and get the expected fix first
    q = "database refuses connections: too many clients"
    page.fill("[data-testid=search-input]", q)
    page.click("[data-testid=search-button]")
    page.wait_for_selector(f'[data-testid=fix-list][data-query="{q}"]')
    assert page.get_attribute("[data-testid=result-summary]", "data-no-match") == "false"
    first = page.locator("[data-testid=fix-list] [data-testid=fix-row]").first
    assert first.get_attribute("data-fix-id") == seeded["orders-db"]
    assert "served by" in page.inner_text("[data-testid=result-summary]")
    assert page.locator("[data-testid=pager]").is_hidden()  # ranked hits have no pages
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    # open it: text, evidence and the drawn neighbourhood
    first.locator("a.fix-issue").click()
    page.wait_for_selector("[data-testid=explorer][data-ready=true]")
    assert "connection pool exhausted" in page.inner_text("[data-testid=fix-issue]")
    assert "pgbouncer" in page.inner_text("[data-testid=fix-solution]")
    kinds = {
        page.locator("[data-testid=explorer-item]").nth(i).get_attribute("data-kind")
        for i in range(page.locator("[data-testid=explorer-item]").count())
    }
    assert {"fix", "agent"} <= kinds
    page.screenshot(path=str(tmp_path / "fix.png"), full_page=True)

    # register through the API, see it after a reload, and a second one via auto-refresh
    name = "browser-agent-" + uuid.uuid4().hex[:6]
    _post(base_url + "/api/register-agent", {"name": name, "server": "lab-1"})
    page.goto(base_url + "/")
    assert page.locator(f'[data-testid=agent-row][data-agent="{name}"]').is_visible()
    later = name + "-late"
    _post(base_url + "/api/register-agent", {"name": later})
    page.wait_for_selector(f'[data-testid=agent-row][data-agent="{later}"]')  # no reload
    assert page.get_attribute("body", "data-refreshed")


def test_chart_and_phone_layout(page, base_url, seeded, tmp_path):
    page.goto(base_url + "/charts")
    page.wait_for_selector("[data-testid=chart][data-ready=true]")
    assert page.evaluate("() => window.obsmemChart.data.datasets.length") == 4
    page.screenshot(path=str(tmp_path / "charts.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + "/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the overview scrolls sideways on a phone"
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_locked_dashboard_loads_after_pasting_the_token(page, locked_url, seeded, tmp_path):
    page.goto(locked_url + "/")
    assert page.locator("[data-testid=locked-banner]").is_visible()
    assert page.locator("[data-testid=agent-row]").count() == 0
    page.click("[data-testid=token-box] summary")
    page.fill("[data-testid=token-input]", TOKEN)
    page.press("[data-testid=token-input]", "Enter")
    page.wait_for_selector('[data-testid=agent-row][data-agent="k8s-watcher"]')
    assert page.evaluate("document.cookie") == ""
    page.screenshot(path=str(tmp_path / "locked.png"), full_page=True)
