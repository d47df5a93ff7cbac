"""The walls of the layout, checked on the source: store drivers only inside obsmem/stores/,
and the library never imports the dashboard."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ("psycopg", "psycopg_pool", "pgvector", "falkordb", "redis", "neo4j")
STORES = ROOT / "obsmem" / "stores"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, at any depth (function-local imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_walk_sees_function_local_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from psycopg.types.json import Jsonb\n    import neo4j.exceptions\n"
    )
    assert [m for _, m in imported_modules(probe)] == ["psycopg.types.json", "neo4j.exceptions"]


@pytest.mark.parametrize(
    "path", sources("obsmem", "dashboard", "scripts"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_driver_outside_stores(path: Path) -> None:
    if STORES in path.parents:
        return
    leaks = [f"{path.relative_to(ROOT)}:{line} imports {mod}"
             for line, mod in imported_modules(path) if mod.split(".")[0] in DRIVERS]  # fmt: skip
    assert leaks == []


@pytest.mark.parametrize("path", sources("obsmem"), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_never_imports_dashboard(path: Path) -> None:
    leaks = [line for line, mod in imported_modules(path) if mod.split(".")[0] == "dashboard"]
    # `obsmem serve` is the one bridge: the CLI starts the server without the library needing it.
    if path == ROOT / "obsmem" / "cli.py":
        assert len(leaks) <= 1
        return
    assert leaks == []


def test_no_private_store_members_outside_stores() -> None:
    """reconcile/cli/transfer use public store methods, not `_conn()` or `_MIGRATION_FILE`."""
    private = ("._conn(", "_MIGRATION_FILE", "._write(", "._read(")
    leaks = [f"{p.relative_to(ROOT)}: {token}" for p in sources("obsmem", "dashboard", "scripts")
             if STORES not in p.parents for token in private if token in p.read_text(encoding="utf-8")]  # fmt: skip
    assert leaks == []
