"""One family of errors: every class is an ObsmemError, outages are StoreUnavailable."""

from __future__ import annotations

import pytest

from obsmem import errors
from obsmem.errors import ObsmemError, StoreUnavailable, is_unavailable


def test_every_error_class_has_the_one_base() -> None:
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) >= 15
    assert all(issubclass(c, ObsmemError) for c in classes)


@pytest.mark.parametrize(
    ("old_path", "name"),
    [
        ("obsmem.model", "ValidationError"),
        ("obsmem.memory", "Unavailable"),
        ("obsmem.memory", "NotFound"),
        ("obsmem.config", "ConfigError"),
        ("obsmem.transfer", "TransferError"),
        ("obsmem.reconcile", "ReconcileError"),
        ("obsmem.client", "ObsmemError"),
        ("obsmem.stores.pgvector", "VectorUnavailable"),
        ("obsmem.stores.pgvector", "ModelMismatch"),
        ("obsmem.stores.graph", "GraphUnavailable"),
        ("obsmem.stores.graph", "GraphAuthError"),
        ("obsmem.stores.outbox", "OutboxError"),
        ("obsmem.stores.embedded", "EmbeddedError"),
        ("obsmem.stores.router", "is_unavailable"),
    ],
)
def test_old_import_paths_still_work(old_path: str, name: str) -> None:
    import importlib

    obj = getattr(importlib.import_module(old_path), name)
    assert obj is getattr(errors, name, None) or name == "Unavailable"


def test_outages_are_the_store_unavailable_family() -> None:
    outages = [errors.GraphUnavailable("g"), errors.VectorUnavailable("v"),
               errors.GraphAuthError("a"), errors.NoStoreAvailable("n"),
               ConnectionResetError("socket"), TimeoutError("slow")]  # fmt: skip
    assert all(is_unavailable(e) for e in outages)
    assert all(isinstance(e, StoreUnavailable) for e in outages[:4])
    not_outages = [errors.ValidationError("f", "bad"), errors.OutboxError("disk full"),
                   errors.ModelMismatch("m"), errors.NotFound("x"), ValueError("bug")]  # fmt: skip
    assert not any(is_unavailable(e) for e in not_outages)


def test_the_family_is_exported_from_the_package() -> None:
    import obsmem

    assert obsmem.ObsmemError is ObsmemError and obsmem.StoreUnavailable is StoreUnavailable
    assert obsmem.ValidationError is errors.ValidationError


def test_old_builtin_bases_are_kept() -> None:
    """Callers that caught ValueError / KeyError / ConnectionError before still do."""
    assert isinstance(errors.ValidationError("f", "m"), ValueError)
    assert isinstance(errors.NotFound("x"), KeyError)
    assert isinstance(errors.VectorUnavailable("x"), ConnectionError)
    assert isinstance(errors.GraphUnavailable("x"), RuntimeError)
    assert str(errors.NotFound("no fix with id 'a'")) == "no fix with id 'a'"
    exc = errors.ServiceError(404, "not_found", "gone", "id")
    assert (exc.status, exc.code, exc.field, str(exc)) == (
        404,
        "not_found",
        "id",
        "404 not_found: gone",
    )
