"""/openapi.json and the Flask routes describe exactly the same API."""

from __future__ import annotations

import re

from jsonschema.validators import Draft202012Validator


def _flask_routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        out |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_every_route_is_documented_and_nothing_else(client, app):
    spec = client.get("/openapi.json").get_json()
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == _flask_routes(app)


def test_spec_is_valid_openapi_shape(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            for param in op.get("parameters", []):
                Draft202012Validator.check_schema(param["schema"])
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                Draft202012Validator.check_schema(body["schema"])
