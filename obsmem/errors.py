"""Every error obsmem raises, in one family: catch `ObsmemError` for all of them.

`StoreUnavailable` and its subclasses mean "a store is down or too slow": a write
queues in the outbox, a read degrades to the other store. Everything else is a
caller's mistake (validation, not found, config) or a state an operator must fix
(model mismatch, a full outbox), and is never retried.

Each class keeps the built-in base it had before the family existed (ValueError,
KeyError, ConnectionError, ...), so `except ValueError` in old callers still works.
This module imports nothing but the standard library: the HTTP client uses it too.
"""

from __future__ import annotations


class ObsmemError(Exception):
    """The base of every error obsmem raises on purpose."""


# ---------------------------------------------------------------- outages


class StoreUnavailable(ObsmemError):
    """A store could not be reached or did not answer in time: queue the write, degrade the read."""


class GraphUnavailable(StoreUnavailable, RuntimeError):
    """The graph server cannot be reached (down, timed out, refused): the caller may queue."""


class VectorUnavailable(StoreUnavailable, ConnectionError):
    """Postgres could not be reached or did not answer in time."""


class NoStoreAvailable(StoreUnavailable, RuntimeError):
    """No store can answer this read right now (`memory.Unavailable`)."""


class AuthError(ObsmemError):
    """Credentials were refused: retrying will not help, an operator must act."""


class GraphAuthError(GraphUnavailable, AuthError):
    """The graph refused obsmem's credentials (still an outage for the write route)."""


# Outages that come from the standard library rather than a store (sockets, timeouts).
OUTAGES: tuple[type[BaseException], ...] = (StoreUnavailable, ConnectionError, TimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    """Outage errors (queue and retry) as opposed to bugs or bad data (dead-letter)."""
    return isinstance(exc, OUTAGES)


# ---------------------------------------------------------------- the caller's side


class ValidationError(ObsmemError, ValueError):
    """Bad input: `field` names what was wrong, so an API can say 400 with the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(ObsmemError, KeyError):
    """The fix (or agent) does not exist in any store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class ConfigError(ObsmemError, ValueError):
    """A setting has a value obsmem cannot use; the message names the variable."""


class TransferError(ObsmemError, ValueError):
    """The file is not an obsmem export this version can read (the message says where)."""


class ServiceError(ObsmemError, RuntimeError):
    """The HTTP service answered with an error; `status`, `code` and `field` say which."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


# ---------------------------------------------------------------- operator action needed


class ModelMismatch(ObsmemError, RuntimeError):
    """The database holds embeddings of another model or dimension than this process makes."""


class OutboxError(ObsmemError, RuntimeError):
    """The outbox cannot durably queue (disk full, read-only, corrupt); the message says where."""


class EmbeddedError(ObsmemError, RuntimeError):
    """An embedded server could not be started; the message says where its log is."""


class ReconcileError(ObsmemError, RuntimeError):
    """Reconcile cannot run safely now (the message says why and what to do)."""


__all__ = [
    "OUTAGES",
    "AuthError",
    "ConfigError",
    "EmbeddedError",
    "GraphAuthError",
    "GraphUnavailable",
    "ModelMismatch",
    "NoStoreAvailable",
    "NotFound",
    "ObsmemError",
    "OutboxError",
    "ReconcileError",
    "ServiceError",
    "StoreUnavailable",
    "TransferError",
    "ValidationError",
    "VectorUnavailable",
    "is_unavailable",
]
