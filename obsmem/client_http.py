"""The HTTP transport under obsmem.client: urllib3's keep-alive pool, requests' exception types.

Why not `requests.Session.request`: per call it merges session settings, reads the
proxy variables (every one of os.environ, twice) and ~/.netrc, builds cookie jars
and runs redirect and hook machinery; measured on a 2-core box that was about
0.6 ms of the client's ~1.4 ms CPU per recall (bench/RESULTS.md, "Round 4"). An
agent talking to its memory service needs none of it per call. What requests
would have honoured is decided once, when the Client is made: a proxy from the
environment (NO_PROXY respected) and the CA bundle (REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE, else certifi's, as requests does). Errors keep requests' types
(`requests.ConnectionError`, `requests.Timeout`, ...), so callers' handlers and
the retry rules in obsmem.client are unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
from requests import exceptions as rex
from requests.utils import get_environ_proxies, select_proxy
from urllib3 import exceptions as uex


@dataclass(frozen=True)
class Reply:
    """A finished answer: status and body (read in full; the connection is back in the pool)."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _ca_bundle() -> str:
    env = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return env or certifi.where()


def _as_requests_error(exc: Exception) -> Exception:
    """The requests exception a requests.Session would have raised for this urllib3 error."""
    reason = exc.reason if isinstance(exc, uex.MaxRetryError) else exc
    if isinstance(reason, uex.ConnectTimeoutError):
        return rex.ConnectTimeout(exc)
    if isinstance(reason, uex.ReadTimeoutError):
        return rex.ReadTimeout(exc)
    if isinstance(reason, uex.ResponseError):
        return rex.RetryError(exc)
    if isinstance(reason, uex.ProxyError):
        return rex.ProxyError(exc)
    if isinstance(reason, uex.SSLError):
        return rex.SSLError(exc)
    return rex.ConnectionError(exc)


class Transport:
    """Thread-safe: one pool of keep-alive connections shared by every call of a Client."""

    def __init__(
        self, base_url: str, headers: dict[str, str], retries: urllib3.Retry, timeout: float
    ) -> None:
        self.base_url = base_url
        self.headers = headers
        self.retries = retries
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        # requests' HTTPAdapter defaults: 10 pools, 10 connections each, no blocking.
        pool_args: dict[str, Any] = {"num_pools": 10, "maxsize": 10, "block": False}
        if base_url.startswith("https:"):
            pool_args["ca_certs"] = _ca_bundle()
        proxy = select_proxy(base_url, get_environ_proxies(base_url))
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **pool_args) if proxy else urllib3.PoolManager(**pool_args)
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        hdrs = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        try:
            resp = self.pool.request(
                method, url, body=body, headers=hdrs, retries=self.retries, timeout=self.timeout
            )
        except uex.HTTPError as exc:
            raise _as_requests_error(exc) from exc
        return Reply(resp.status, resp.data)

    def close(self) -> None:
        self.pool.clear()
