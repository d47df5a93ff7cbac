"""HTTP client for agents that talk to a running obsmem service.

Depends on `requests` only: importing it pulls in neither torch nor database
drivers. Reads and other idempotent calls are retried on connection errors and
503s; writes are retried only when the request never reached the server, so a
retry can never count an occurrence twice.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class ObsmemError(RuntimeError):
    """The service answered with an error; `status`, `code` and `field` say which."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


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
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
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
        self.session.mount("http://", HTTPAdapter(max_retries=idempotent))
        self.session.mount("https://", HTTPAdapter(max_retries=idempotent))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        if resp.status_code >= 400:
            try:
                err = resp.json().get("error", {})
            except ValueError:
                err = {}
            raise ObsmemError(
                resp.status_code,
                err.get("code", "http_error"),
                err.get("message", resp.text[:200]),
                err.get("field"),
            )
        return resp.json() if resp.content else None

    # --- writes
    def remember(self, issue: str, solution: str, **fields: Any) -> dict[str, Any]:
        body = {"issue": issue, "solution": solution, **{k: v for k, v in fields.items() if v is not None}}
        return self._call("POST", "/api/remember", json=body)

    def feedback(self, fix_id: str, success: bool, agent: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"success": success}
        if agent:
            body["agent"] = agent
        return self._call("POST", f"/api/fixes/{requests.utils.quote(fix_id, safe='')}/feedback", json=body)

    def register_agent(self, name: str, server: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/api/register-agent", json={"name": name, "server": server})

    def heartbeat(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/api/agents/{requests.utils.quote(name, safe='')}/heartbeat")

    def delete_fix(self, fix_id: str) -> bool:
        try:
            self._call("DELETE", f"/api/fixes/{requests.utils.quote(fix_id, safe='')}")
            return True
        except ObsmemError as exc:
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
        params = {"limit": limit, "offset": offset, **{k: v for k, v in filters.items() if v is not None}}
        return self._call("GET", "/api/fixes", params=params)

    def get_fix(self, fix_id: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/api/fixes/{requests.utils.quote(fix_id, safe='')}")
        except ObsmemError as exc:
            if exc.status == 404:
                return None
            raise

    def get_all_agents(self) -> list[dict[str, Any]]:
        out = self._call("GET", "/api/agents")
        return out.get("agents", out) if isinstance(out, dict) else out

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/api/stats")

    def health(self) -> dict[str, Any]:
        resp = self.session.get(self.base_url + "/health", timeout=self.timeout)
        return resp.json()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
