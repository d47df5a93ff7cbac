"""The JSON API through Flask's test client, on a real Memory with seeded fixes."""

from __future__ import annotations

import uuid

import pytest

from tests.dashboard.conftest import AGENTS, FILLER, SEED

N_FIXES = len(SEED) + len(FILLER)


def err(resp) -> dict:
    body = resp.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


# ---------------------------------------------------------------- health, state, stats


def test_health_reports_every_check(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "healthy", body
    assert set(body["stores"]) == {"graph", "vectors"}
    assert all(s["ok"] for s in body["stores"].values())
    assert {"disk", "memory"} <= set(body["checks"])
    assert body["checks"]["disk"]["free_bytes"] > 0
    assert "depth" in body["outbox"]


def test_health_says_starting_until_warm(client):
    """`obsmem serve` sets obsmem.ready after warming the embedder; until then 503 starting."""
    import threading

    ready = client.application.extensions["obsmem.ready"] = threading.Event()
    try:
        resp = client.get("/health")
        assert (resp.status_code, resp.get_json()["status"]) == (503, "starting")
        ready.set()
        resp = client.get("/health")
        assert (resp.status_code, resp.get_json()["status"]) == (200, "healthy")
    finally:
        del client.application.extensions["obsmem.ready"]


def test_state_has_agents_fixes_counts_and_disk(client):
    body = client.get("/api/state").get_json()
    names = {a["name"] for a in body["agents"]}
    assert {n for n, _ in AGENTS} <= names
    assert len(body["recent_fixes"]) == 10
    assert body["counts"]["fixes"] == N_FIXES
    assert body["disk"]["total_bytes"] > 0
    assert body["last_check"].endswith("Z")
    assert body["status"] in {"healthy", "degraded"}


def test_stats_has_signatures_root_causes_and_time_series(client):
    body = client.get("/api/stats?days=7").get_json()
    assert body["days"] == 7
    causes = {r["root_cause"] for r in body["by_root_cause"]}
    assert {"memory_leak", "expired_cert"} <= causes
    assert body["by_signature"]
    assert sum(r["fixes"] for r in body["over_time"]) >= N_FIXES - 1
    assert all(r["t"].endswith("Z") for r in body["over_time"])
    assert sum(r["successes"] for r in body["over_time"]) >= 3


@pytest.mark.parametrize("days", ["0", "400", "abc", "²"])
def test_stats_rejects_bad_days(client, days):
    resp = client.get(f"/api/stats?days={days}")
    assert resp.status_code == 400
    assert err(resp)["field"] == "days"


# ---------------------------------------------------------------- agents


def test_agents_lists_seeded_agents(client):
    body = client.get("/api/agents").get_json()
    by_name = {a["name"]: a for a in body["agents"]}
    assert body["total"] == len(body["agents"])
    assert by_name["db-guardian"]["server"] == "db-1"
    assert by_name["db-guardian"]["status"] == "active"


def test_register_agent_then_heartbeat(client):
    name = "agent-" + uuid.uuid4().hex[:6]
    resp = client.post("/api/register-agent", json={"name": name, "server": "srv-9"})
    assert resp.status_code == 201
    assert resp.get_json()["agent"]["name"] == name
    assert name in {a["name"] for a in client.get("/api/agents").get_json()["agents"]}
    beat = client.post(f"/api/agents/{name}/heartbeat", content_type="application/json")
    assert beat.status_code == 200
    assert beat.get_json()["agent"]["status"] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "server": ["x"]}, "server"),
        ({"name": "ok", "color": "red"}, "color"),
    ],
)
def test_register_agent_names_the_bad_field(client, body, field):
    resp = client.post("/api/register-agent", json=body)
    assert resp.status_code == 400
    assert err(resp)["field"] == field


def test_register_agent_needs_a_json_object(client):
    assert (
        client.post(
            "/api/register-agent", data="name=x", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 415
    )
    resp = client.post("/api/register-agent", data="{nope", content_type="application/json")
    assert resp.status_code == 400 and err(resp)["field"] == "body"
    resp = client.post("/api/register-agent", json=["a"])
    assert resp.status_code == 400 and err(resp)["field"] == "body"
    assert client.post("/api/register-agent").status_code == 415  # no content type (issue 18)
    assert client.post("/api/register-agent", content_type="application/json").status_code == 400


def test_heartbeat_from_an_unknown_agent_registers_it(client):
    name = "newcomer-" + uuid.uuid4().hex[:6]
    resp = client.post(f"/api/agents/{name}/heartbeat", content_type="application/json")
    assert resp.status_code == 200
    assert name in {a["name"] for a in client.get("/api/agents").get_json()["agents"]}
    bad = client.post("/api/agents/%20/heartbeat", content_type="application/json")
    assert bad.status_code == 400 and err(bad)["field"] == "name"


# ---------------------------------------------------------------- fixes


def test_fixes_pages_through_everything_once(client):
    seen: list[str] = []
    offset = 0
    while True:
        body = client.get(f"/api/fixes?limit=7&offset={offset}").get_json()
        assert body["total"] == N_FIXES
        if not body["fixes"]:
            break
        seen += [f["id"] for f in body["fixes"]]
        offset += 7
    assert len(seen) == len(set(seen)) == N_FIXES


def test_fixes_filters(client, seeded):
    body = client.get("/api/fixes?service=orders-db").get_json()
    assert [f["id"] for f in body["fixes"]] == [seeded["orders-db"]]
    assert body["total"] == 1
    body = client.get("/api/fixes?agent=net-sentry&limit=100").get_json()
    assert {f["service"] for f in body["fixes"]} == {"ingress", "coredns"}
    failed = client.get("/api/fixes?success=false&limit=100").get_json()
    assert failed["total"] == 1 + len([f for f in FILLER if not f["success"]])
    assert all(f["success"] is False for f in failed["fixes"])
    future = client.get("/api/fixes?since=2999-01-01T00:00:00Z").get_json()
    assert future["total"] == 0 and future["fixes"] == []


def test_fixes_search_ranks_the_expected_fix_first(client, seeded):
    body = client.get("/api/fixes?q=postgres refuses new clients, pool exhausted").get_json()
    assert body["fixes"][0]["id"] == seeded["orders-db"]
    assert "why" in body["fixes"][0] and body["served_by"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=²", "limit"),
        ("limit=-1", "limit"),
        ("offset=-5", "offset"),
        ("offset=99999999999", "offset"),
        ("success=maybe", "success"),
        ("since=yesterday", "since"),
        ("since=99999-01-01", "since"),
        ("agent=a%00b", "agent"),
    ],
)
def test_fixes_rejects_bad_parameters(client, query, field):
    resp = client.get("/api/fixes?" + query)
    assert resp.status_code == 400
    assert err(resp)["field"] == field


def test_fix_detail_has_agents_and_outcomes(client, seeded):
    body = client.get(f"/api/fixes/{seeded['payments-api']}").get_json()
    assert body["fix"]["service"] == "payments-api"
    assert body["fix"]["created_at"].endswith("Z")
    assert "db-guardian" in body["agents"]
    assert any(o["success"] is True for o in body["outcomes"])


def test_fix_detail_unknown_and_malformed_ids(client):
    assert client.get("/api/fixes/fix_doesnotexist").status_code == 404
    resp = client.get("/api/fixes/%20bad%20id")
    assert resp.status_code == 400 and err(resp)["field"] == "fix_id"


def test_feedback_is_recorded(client, seeded):
    fid = seeded["coredns"]
    resp = client.post(f"/api/fixes/{fid}/feedback", json={"success": True, "agent": "net-sentry"})
    assert resp.status_code == 200
    assert resp.get_json()["fix_id"] == fid
    client.application.extensions["obsmem.memory"].drain(30)
    detail = client.get(f"/api/fixes/{fid}").get_json()
    assert any(o["agent"] == "net-sentry" and o["success"] for o in detail["outcomes"])


def test_feedback_errors(client, seeded):
    fid = seeded["coredns"]
    resp = client.post(f"/api/fixes/{fid}/feedback", json={})
    assert resp.status_code == 400 and err(resp)["field"] == "success"
    resp = client.post(f"/api/fixes/{fid}/feedback", json={"success": "sometimes"})
    assert resp.status_code == 400 and err(resp)["field"] == "success"
    resp = client.post("/api/fixes/fix_nothere/feedback", json={"success": True})
    assert resp.status_code == 404


def test_remember_detail_delete_roundtrip(client):
    tag = uuid.uuid4().hex[:8]
    item = {
        "issue": f"Kafka consumer lag on topic audit-{tag}",
        "solution": "Add two partitions",
        "service": "audit",
        "agent": "k8s-watcher",
        "success": True,
        "confidence": 0.8,
        "tags": ["kafka"],
        "metadata": {"ticket": tag},
    }
    resp = client.post("/api/remember", json=item)
    assert resp.status_code == 201, resp.get_json()
    fid = resp.get_json()["id"]
    assert set(resp.get_json()["stored_in"]) == {"graph", "vectors"}
    again = client.post("/api/remember", json=item)
    assert again.status_code == 200 and again.get_json()["duplicate_of"] == fid
    assert client.get(f"/api/fixes/{fid}").get_json()["fix"]["metadata"] == {"ticket": tag}
    assert client.delete(f"/api/fixes/{fid}").get_json() == {"deleted": True, "id": fid}
    assert client.get(f"/api/fixes/{fid}").status_code == 404
    assert client.delete(f"/api/fixes/{fid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"solution": "x"}, "issue"),
        ({"issue": "x"}, "solution"),
        ({"issue": "a\x00", "solution": "x"}, "issue"),
        ({"issue": "x", "solution": "y", "confidence": 2}, "confidence"),
        ({"issue": "x", "solution": "y", "tags": [1]}, "tags"),
        ({"issue": "x", "solution": "y", "metadata": [1]}, "metadata"),
        ({"issue": "x", "solution": "y", "success": "yes"}, "success"),
        ({"issue": "x", "solution": "y", "bogus": 1}, "bogus"),
    ],
)
def test_remember_names_the_bad_field(client, body, field):
    resp = client.post("/api/remember", json=body)
    assert resp.status_code == 400
    assert err(resp)["field"] == field


def test_remember_rejects_nan_confidence_and_huge_bodies(client):
    resp = client.post(
        "/api/remember",
        data='{"issue":"x","solution":"y","confidence":NaN}',
        content_type="application/json",
    )
    assert resp.status_code == 400 and err(resp)["field"] == "confidence"
    resp = client.post("/api/remember", json={"issue": "x" * (3 * 1024 * 1024), "solution": "y"})
    assert resp.status_code == 413 and err(resp)["code"] == "payload_too_large"
    resp = client.post("/api/remember", json={"issue": "x" * 20_001, "solution": "y"})
    assert resp.status_code == 400 and err(resp)["field"] == "issue"


# ---------------------------------------------------------------- recall, similar, graph


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_recall_ranks_and_explains(client, seeded, method):
    q = "certificate expired on ingress"
    if method == "GET":
        resp = client.get("/api/recall", query_string={"q": q, "k": 3})
    else:
        resp = client.post("/api/recall", json={"q": q, "k": 3})
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["hits"][0]["fix"]["id"] == seeded["ingress"]
    assert len(body["hits"]) <= 3
    assert body["hits"][0]["why"] and isinstance(body["hits"][0]["score"], float)
    assert set(body["served_by"]) == {"graph", "vectors"} and body["degraded"] is False


def test_recall_relevance_and_no_match(client, seeded):
    body = client.get(
        "/api/recall", query_string={"q": "certificate expired on ingress"}
    ).get_json()
    top = body["hits"][0]
    assert body["no_match"] is False and isinstance(body["min_relevance"], float)
    assert 0 <= top["relevance"] <= 1 and top["below_bar"] is False
    off = client.post("/api/recall", json={"q": "banana smoothie recipe with oat milk"}).get_json()
    assert off["no_match"] is True and off["hits"] and all(h["below_bar"] for h in off["hits"])
    strict = client.get(
        "/api/recall", query_string={"q": "certificate expired on ingress", "min_relevance": "1"}
    ).get_json()
    assert strict["no_match"] is True and strict["min_relevance"] == 1.0


def test_recall_filters(client, seeded):
    body = client.get(
        "/api/recall", query_string={"q": "certificate expired", "k": 10, "only_successful": "true"}
    ).get_json()
    assert seeded["ingress"] not in [h["fix"]["id"] for h in body["hits"]]
    body = client.post("/api/recall", json={"q": "memory", "service": "orders-db"}).get_json()
    assert {h["fix"]["service"] for h in body["hits"]} <= {"orders-db"}


@pytest.mark.parametrize(
    ("req", "field"),
    [
        ({"k": 3}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x", "k": 0}, "k"),
        ({"q": "x", "k": 101}, "k"),
        ({"q": "x", "k": "many"}, "k"),
        ({"q": 7}, "q"),
        ({"q": "x", "since": "soon"}, "since"),
        ({"q": "x", "extra": 1}, "extra"),
        ({"q": "x", "min_relevance": 2}, "min_relevance"),
        ({"q": "x", "min_relevance": "high"}, "min_relevance"),
    ],
)
def test_recall_names_the_bad_field(client, req, field):
    resp = client.post("/api/recall", json=req)
    assert resp.status_code == 400
    assert err(resp)["field"] == field


def test_similar_groups_issues(client, seeded):
    body = client.get("/api/similar", query_string={"q": "synthetic batch job failed"}).get_json()
    assert body["groups"]
    assert {"occurrence_count", "success_rate"} <= set(body["groups"][0])
    assert client.get("/api/similar").status_code == 400


def test_graph_neighbourhood(client, seeded):
    fid = seeded["payments-api"]
    body = client.get(f"/api/graph/{fid}").get_json()
    ids = {n["id"] for n in body["nodes"]}
    assert f"fix:{fid}" in ids
    assert any(n["kind"].lower() == "agent" for n in body["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in body["edges"])
    assert client.get("/api/graph/fix_nothere").status_code == 404


# ---------------------------------------------------------------- metrics, errors, headers


def test_metrics_exposes_latency_stores_outbox_and_counts(client):
    client.get("/api/agents")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert 'obsmem_http_request_duration_seconds_count{endpoint="/api/agents",method="GET"}' in text
    assert 'obsmem_store_up{store="graph"} 1.0' in text
    assert 'obsmem_store_up{store="vectors"} 1.0' in text
    assert 'obsmem_outbox_depth{store="graph"} 0.0' in text
    assert f"obsmem_fixes {float(N_FIXES)}" in text or "obsmem_fixes " in text


def test_two_apps_in_one_process_keep_separate_metrics(dash_memory, seeded):
    from dashboard.app import create_app

    a, b = create_app(dash_memory), create_app(dash_memory)
    a.test_client().get("/api/agents")
    text_b = b.test_client().get("/metrics").get_data(as_text=True)
    assert 'endpoint="/api/agents"' not in text_b


def test_unknown_route_and_wrong_method_are_json(client):
    resp = client.get("/api/nope")
    assert resp.status_code == 404 and err(resp)["code"] == "not_found"
    resp = client.delete("/api/agents")
    assert resp.status_code == 405 and err(resp)["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("path", ["/", "/api/state", "/health", "/fixes"])
def test_security_headers_everywhere(client, path):
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in resp.headers


def test_explore_walks_from_any_node_with_limits(client, seeded):
    fid = seeded["payments-api"]
    hood = client.get(f"/api/explore?node=fix:{fid}").get_json()
    ids = {n["id"] for n in hood["nodes"]}
    assert {f"fix:{fid}", "service:payments-api", "agent:k8s-watcher", "agent:db-guardian"} <= ids
    agent = client.get("/api/explore?node=agent:k8s-watcher&limit=5").get_json()
    assert len(agent["nodes"]) == 5 and agent["truncated"] is True
    two = client.get(f"/api/explore?node=fix:{fid}&depth=2&limit=300").get_json()
    assert len(two["nodes"]) > len(hood["nodes"])
    assert client.get("/api/explore?node=service:nowhere").status_code == 404
    for bad in ("", "planet:mars", "fix:", "fix:a b", f"fix:{fid}&depth=9", f"fix:{fid}&limit=0"):
        resp = client.get("/api/explore?node=" + bad)
        assert resp.status_code == 400, bad
        assert resp.get_json()["error"]["field"] in {"node", "depth", "limit"}
