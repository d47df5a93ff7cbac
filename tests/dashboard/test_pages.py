"""Server-rendered pages with Flask's test client: content, search, 404s, no inline script."""

from __future__ import annotations

import re

import pytest


def test_overview_shows_agents_fixes_and_stores(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="health-status"' in html
    for name in ("k8s-watcher", "db-guardian", "net-sentry"):
        assert f'data-agent="{name}"' in html
    assert html.count('data-testid="fix-row"') == 10
    assert 'data-testid="store-graph"' in html and 'data-testid="store-vectors"' in html


def test_fixes_page_paginates_and_filters(client):
    first = client.get("/fixes?limit=10").get_data(as_text=True)
    second = client.get("/fixes?limit=10&offset=10").get_data(as_text=True)
    ids = lambda html: set(re.findall(r'data-fix-id="([^"]+)"', html))  # noqa: E731
    assert len(ids(first)) == 10 and not ids(first) & ids(second)
    assert 'data-testid="next-page"' in first
    only = client.get("/fixes?service=orders-db").get_data(as_text=True)
    assert "pgbouncer" in only and "Raise the memory limit" not in only


def test_fixes_page_search_puts_the_expected_fix_first(client, seeded):
    html = client.get("/fixes?q=pods+killed+out+of+memory").get_data(as_text=True)
    first = re.search(r'data-testid="fix-row" data-fix-id="([^"]+)"', html).group(1)
    assert first == seeded["payments-api"]
    assert 'data-no-match="false"' in html and "No good match" not in html


def test_fixes_page_search_says_no_good_match(client, seeded):
    html = client.get("/fixes?q=banana+smoothie+recipe+with+oat+milk").get_data(as_text=True)
    assert 'data-no-match="true"' in html and "No good match. Closest:" in html
    assert 'data-testid="fix-row"' in html  # the closest are still listed


def test_fixes_page_bad_filter_shows_the_error_not_a_500(client):
    resp = client.get("/fixes?limit=abc")
    assert resp.status_code == 200
    assert 'data-testid="form-error"' in resp.get_data(as_text=True)


def test_fix_page_and_its_404(client, seeded):
    html = client.get(f"/fixes/{seeded['payments-api']}").get_data(as_text=True)
    assert "Raise the memory limit" in html and "db-guardian" in html
    missing = client.get("/fixes/fix_nothere", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and 'data-testid="error-page"' in missing.get_data(
        as_text=True
    )


@pytest.mark.parametrize("path", ["/", "/fixes", "/agents", "/charts", "/graph"])
def test_pages_have_no_inline_script_and_only_local_assets(client, path):
    html = client.get(path).get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert " on" + "click=" not in html and "style=" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_text_is_escaped(client):
    resp = client.post(
        "/api/remember",
        json={
            "issue": "<script>alert(1)</script> in logs",
            "solution": "<img src=x onerror=alert(1)>",
        },
    )
    fid = resp.get_json()["id"]
    html = client.get(f"/fixes/{fid}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    client.delete(f"/api/fixes/{fid}")


def test_top_groups_then_one_other_row():
    from dashboard.pages import top_with_other

    rows = [
        {"root_cause": f"cause {i}", "fixes": 1, "successes": 1, "failures": 0} for i in range(57)
    ]
    rows.append({"root_cause": "memory", "fixes": 9, "successes": 3, "failures": 1})
    out = top_with_other(rows, "root_cause", n=10)
    assert len(out) == 11 and out[0]["label"] == "memory" and out[0]["success_rate"] == 0.75
    assert out[-1] == {
        "label": "other (48)",
        "fixes": 48,
        "successes": 48,
        "failures": 0,
        "outcomes": 48,
        "success_rate": 1.0,
        "other": True,
    }
    assert top_with_other(rows[:3], "root_cause", n=10)[-1].get("other") is None


def test_charts_page_tables_say_top_n(client):
    html = client.get("/charts").get_data(as_text=True)
    assert "top 10 by fixes" in html and 'data-testid="by-root-cause"' in html
    assert "vendor/chart.umd.min.js" in html


def test_fix_list_sort_is_named_and_choosable(client):
    created = client.get("/fixes").get_data(as_text=True)
    assert "newest first seen first" in created and "first seen <time" in created
    seen = client.get("/fixes?sort=last_seen").get_data(as_text=True)
    assert "most recently seen first" in seen and "last seen <time" in seen
    bad = client.get("/fixes?sort=random").get_data(as_text=True)
    assert "sort: must be created or last_seen" in bad
    assert client.get("/api/fixes?sort=last_seen").get_json()["sort"] == "last_seen"
    assert client.get("/api/fixes?sort=nope").status_code == 400


def test_agents_page_states_thresholds_and_links_names(client):
    html = client.get("/agents").get_data(as_text=True)
    assert "seen in the last 5 min" in html and "not seen for over 60 min" in html
    assert 'href="/fixes?agent=k8s-watcher"' in html
