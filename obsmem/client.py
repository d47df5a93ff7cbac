"""HTTP client for agents that talk to a running obsmem service.

Depends on `requests` only (its urllib3 carries the calls, see obsmem.client_http):
importing it pulls in neither torch nor database drivers. Reads and other
idempotent calls are retried on connection errors and 503s. Writes carry an
`Idempotency-Key` (one per logical call) and are retried on lost responses
(timeout, dropped connection, 502/503/504) with the same key: the server derives
the write's event id from it, so a retry never counts twice.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import requests
from urllib3.util.retry import Retry

from obsmem.client_http import Reply, Transport
from obsmem.errors import ObsmemError, ServiceError

__all__ = ["Client", "ObsmemError", "ServiceError"]


class Client:
    """Same verbs as `obsmem.Memory`, over HTTP; results are plain JSON dicts."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        headers = {"User-Agent": "obsmem-client", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Connection errors are retried for every method; reads and 5xx only for idempotent ones.
        idempotent = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "DELETE"}),
            raise_on_status=False,
        )
        self._http = Transport(self.base_url, headers, idempotent, timeout)

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return self._answer(self._http.request(method, path, json_body=json, params=params))

    @staticmethod
    def _answer(resp: Reply) -> Any:
        if resp.status_code >= 400:
            try:
                err = resp.json().get("error", {})
            except ValueError:
                err = {}
            raise ServiceError(
                resp.status_code,
                err.get("code", "http_error"),
                err.get("message", resp.text[:200]),
                err.get("field"),
            )
        return resp.json() if resp.content else None

    def _send_write(
        self, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> Any:
        """POST with one idempotency key for this logical call, retried (same key) on a lost answer."""
        # JSON content type even with no body: the server refuses other writes (no form CSRF).
        headers = {"Idempotency-Key": key or uuid.uuid4().hex, "Content-Type": "application/json"}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self._http.request("POST", path, json_body=body, headers=headers)
            except (requests.ConnectionError, requests.Timeout):
                if last:
                    raise
            else:
                if resp.status_code not in (502, 503, 504) or last:
                    return self._answer(resp)
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- writes
    def remember(
        self, issue: str, solution: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "issue": issue,
            "solution": solution,
            **{k: v for k, v in fields.items() if v is not None},
        }
        return self._send_write("/api/remember", body, idempotency_key)

    def feedback(
        self,
        fix_id: str,
        success: bool,
        agent: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"success": success}
        if agent:
            body["agent"] = agent
        return self._send_write(
            f"/api/fixes/{quote(fix_id, safe='')}/feedback", body, idempotency_key
        )

    def register_agent(self, name: str, server: str | None = None) -> dict[str, Any]:
        return self._send_write("/api/register-agent", {"name": name, "server": server})

    def heartbeat(self, name: str) -> dict[str, Any]:
        return self._send_write(f"/api/agents/{quote(name, safe='')}/heartbeat")

    def delete_fix(self, fix_id: str) -> bool:
        try:
            self._call("DELETE", f"/api/fixes/{quote(fix_id, safe='')}")
            return True
        except ServiceError as exc:
            if exc.status == 404:
                return False
            raise

    # --- reads
    def recall(
        self, query: str, k: int = 5, *, min_relevance: float | None = None, **filters: Any
    ) -> dict[str, Any]:
        """{"hits": [{fix, score, relevance, below_bar, why}], "no_match": bool, ...}.

        Act only on hits with `below_bar` false: `no_match` true means nothing known
        matches (the closest hits are still listed, for a person to look at).
        """
        filters["min_relevance"] = min_relevance
        body = {"q": query, "k": k, **{key: v for key, v in filters.items() if v is not None}}
        return self._call("POST", "/api/recall", json=body)

    def find_similar_issues(self, text: str, limit: int = 5) -> list[dict[str, Any]]:
        out = self._call("GET", "/api/similar", params={"q": text, "limit": limit})
        return out.get("issues", out) if isinstance(out, dict) else out

    def get_recent_fixes(self, limit: int = 20, offset: int = 0, **filters: Any) -> dict[str, Any]:
        params = {
            "limit": limit,
            "offset": offset,
            **{k: v for k, v in filters.items() if v is not None},
        }
        return self._call("GET", "/api/fixes", params=params)

    def get_fix(self, fix_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/api/fixes/{quote(fix_id, safe='')}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def get_all_agents(self) -> list[dict[str, Any]]:
        out = self._call("GET", "/api/agents")
        return out.get("agents", out) if isinstance(out, dict) else out

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/api/stats")

    def health(self) -> dict[str, Any]:
        return self._http.request("GET", "/health").json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
