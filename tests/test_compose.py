"""docker-compose.yml and the Dockerfile, checked without Docker (no engine on these machines).

The compose file is validated against the Compose Specification's JSON schema
(vendored by the check-jsonschema package) and then for what obsmem needs:
healthchecks, start order on health, env wiring, and no default secrets.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# ${VAR:?message} is compose's "required, no default" form.
REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    schema_file = (
        importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_broken_file() -> None:
    """The schema step must be able to fail: a typo'd key is refused."""
    schema_file = (
        importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    )
    validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
    broken = {"services": {"x": {"image": "a", "helthcheck": {"test": ["CMD", "true"]}}}}
    assert list(validator.iter_errors(broken))


def test_services_and_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"neo4j", "postgres", "obsmem"}
    assert services["neo4j"]["image"] == "neo4j:5"
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["obsmem"]["build"] in (".", {"context": "."})


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    assert "/health" in json.dumps(compose["services"]["obsmem"]["healthcheck"]["test"])
    assert "pg_isready" in json.dumps(compose["services"]["postgres"]["healthcheck"]["test"])
    assert "cypher-shell" in json.dumps(compose["services"]["neo4j"]["healthcheck"]["test"])


def test_obsmem_waits_for_healthy_stores(compose: dict[str, Any]) -> None:
    depends = compose["services"]["obsmem"]["depends_on"]
    assert depends == {
        "neo4j": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def test_stores_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    volumes = set(compose["volumes"])
    for name, target in [("neo4j", "/data"), ("postgres", "/var/lib/postgresql/data"),
                         ("obsmem", "/var/lib/obsmem")]:  # fmt: skip
        mounts = compose["services"][name]["volumes"]
        assert any(m.split(":")[0] in volumes and m.split(":")[1] == target for m in mounts), name


def test_secrets_are_required_and_have_no_default(compose: dict[str, Any]) -> None:
    neo4j, pg, app = (compose["services"][s] for s in ("neo4j", "postgres", "obsmem"))
    assert REQUIRED.match(_env(pg)["POSTGRES_PASSWORD"])
    assert _env(neo4j)["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")
    assert REQUIRED.match(_env(app)["NEO4J_PASSWORD"])
    assert REQUIRED.match(_env(app)["OBSMEM_API_TOKEN"])
    # No literal secret anywhere: every password/token/auth value is an interpolation.
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|AUTH", key):
                assert "${" in value, f"{name}.{key} holds a literal secret"
                assert ":-" not in value, f"{name}.{key} has a default"


def test_obsmem_is_wired_to_both_stores(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["obsmem"])
    assert env["NEO4J_URI"] == "bolt://neo4j:7687"
    assert env["DATABASE_URL"].startswith("postgresql://obsmem:${POSTGRES_PASSWORD:?")
    assert env["DATABASE_URL"].endswith("@postgres:5432/obsmem")
    pg_env = _env(compose["services"]["postgres"])
    assert pg_env["POSTGRES_USER"] == "obsmem" and pg_env["POSTGRES_DB"] == "obsmem"
    # Listening on all interfaces inside the container; config.check_serve demands the token.
    assert env["OBSMEM_HOST"] == "0.0.0.0"


def test_obsmem_settings_accept_the_compose_environment(compose: dict[str, Any]) -> None:
    """The env the container gets (secrets filled in) is one Settings takes and serves with."""
    from obsmem.config import Settings

    def fill(m: re.Match[str]) -> str:  # ${X:-default} -> default; ${X:?msg} -> a stand-in value
        return m.group(3) if m.group(2) == ":-" else f"x-{m.group(1).lower()}"

    pattern = re.compile(r"\$\{([A-Z0-9_]+)(:[?-])?([^}]*)\}")
    filled = {k: pattern.sub(fill, v) for k, v in _env(compose["services"]["obsmem"]).items()}
    settings = Settings.from_env(filled)
    settings.check_serve()  # raises ConfigError if the token or Neo4j password were missing
    assert settings.neo4j_uri == "bolt://neo4j:7687"
    assert settings.database_url == "postgresql://obsmem:x-postgres_password@postgres:5432/obsmem"
    assert not settings.graph_embedded and not settings.vectors_embedded


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def _instructions(text: str) -> list[tuple[str, str]]:
    # Docker drops comment lines (also inside a continued instruction) before joining lines.
    kept = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("#"))
    out = []
    for line in re.sub(r"\\\n", " ", kept).splitlines():
        line = line.strip()
        if line:
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    froms = [arg for op, arg in steps if op == "FROM"]
    assert froms[-1] == "python:3.11-slim"  # the image that runs; earlier stages only build
    # the dashboard's JS libraries come from the lock file in a build stage, never a CDN
    assert any(op == "RUN" and "npm ci" in arg for op, arg in steps)
    assert any(op == "COPY" and "--from=assets" in arg for op, arg in steps)
    users = [arg for op, arg in steps if op == "USER"]
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # USER comes before the command that runs the service.
    ops = [op for op, _ in steps]
    assert ops.index("USER") < ops.index("CMD")
    health = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert health and "/health" in health[0]
    assert any(op == "CMD" and "serve" in arg for op, arg in steps)
    env = " ".join(arg for op, arg in steps if op == "ENV")
    assert "OBSMEM_HOST=0.0.0.0" in env and "HF_HUB_OFFLINE=1" in env
    assert "OBSMEM_API_TOKEN" not in env and "PASSWORD" not in env


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".obsmem", ".env"} <= ignored


def test_no_healthcheck_puts_a_password_on_a_command_line(compose: dict[str, Any]) -> None:
    """Command lines are world-readable in /proc: secrets reach cypher-shell through its environment."""
    for name, service in compose["services"].items():
        test = json.dumps(service["healthcheck"]["test"])
        assert not re.search(r"(^|\s)(-p|--password)(\s|=|\\\")", test), (
            f"{name}: password flag in {test}"
        )
    neo4j = json.dumps(compose["services"]["neo4j"]["healthcheck"]["test"])
    assert "NEO4J_PASSWORD=" in neo4j and "cypher-shell" in neo4j
