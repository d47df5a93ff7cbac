"""Replace credentials in text with `[REDACTED:<kind>]` before it is stored or shown.

Agents paste logs, env dumps and curl commands into issues and solutions; a
memory that every agent and the dashboard can read must not keep secrets.

Detectors: the token formats that detect-secrets maintains (AWS key ids,
GitHub, GitLab, Stripe, OpenAI, SendGrid, PyPI, Azure storage keys, Slack
webhooks, URL basic auth) are taken from its plugins' `denylist` regexes, so
new formats arrive with library updates. detect-secrets' own scanner is not
used: it works per line, reports values not positions, flags every
high-entropy word (sha digests, pod names) without its file-level filters, and
costs ~30 ms per 2 KB. Formats it lacks or gets wrong for redaction (JWT
signatures, mixed-case Slack tokens, PEM blocks, `password=` pairs, bearer
headers, generic keys) are regexes here, each one tested both ways.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Callable

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.stripe import StripeDetector

_B = r"(?<![A-Za-z0-9_])"  # token start: not inside a longer word
_E = r"(?![A-Za-z0-9_])"

# A value that is already a placeholder, a variable or a mask is not a secret.
_PLACEHOLDER = re.compile(r"^(?:\$|\[REDACTED|\*{3,}|<[^>]*>$|\{\{|%\(|x{4,}$|null$|none$)", re.I)


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _looks_random(value: str) -> bool:
    """Generic keys only: long, mixed letters and digits, high entropy per char."""
    return (
        len(value) >= 20
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and _entropy(value) >= 3.5
    )


def _real(value: str) -> bool:
    return not _PLACEHOLDER.match(value)


class _Rule:
    """One detector. Speed: a rule runs only if one of its `triggers` occurs in the text;
    `lower` rules are written in lower case and run on the lower-cased text, because
    sre skips ahead far faster without IGNORECASE (about 8x here)."""

    __slots__ = ("accept", "group", "kind", "lower", "regex", "triggers")

    def __init__(
        self,
        kind: str,
        pattern: str | re.Pattern[str],
        *,
        triggers: tuple[str, ...] = (),
        lower: bool = False,
        group: int | str = 0,
        accept: Callable[[str], bool] | None = None,
    ):
        self.kind = kind
        self.regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        self.triggers = triggers
        self.lower = lower
        self.group = group
        self.accept = accept


def _from_plugin(kind: str, plugin: type, triggers: tuple[str, ...]) -> list[_Rule]:
    return [
        _Rule(kind, re.compile(_B + "(?:" + p.pattern + ")", p.flags), triggers=triggers)
        for p in plugin.denylist  # type: ignore[attr-defined]
    ]


_VALUE = r"""(?P<v>"[^"\n]{1,512}"|'[^'\n]{1,512}'|[^\s"',;&)}\]]{1,512})"""
_SEP = r"""["']?[ \t]*[:=][ \t]*"""

_RULES: list[_Rule] = [
    # Whole blocks first: earlier rules win overlaps, so nothing inside is matched twice.
    _Rule(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)",
        triggers=("PRIVATE KEY",),
    ),
    _Rule(
        "private_key",
        r"PuTTY-User-Key-File-\d+:[\s\S]*?Private-MAC: *[0-9a-f]+",
        triggers=("PuTTY",),
    ),
    *_from_plugin("aws_access_key", AWSKeyDetector, ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"))[:1],
    _Rule(
        "aws_secret_key",
        r"aws[\w.-]{0,20}?(?:secret|key|pwd|pw|password|pass|token)[\w.-]{0,20}?"
        r"""["']?[ \t]*[:=>][ \t]*["']?(?P<v>[a-z0-9/+]{40})(?![a-z0-9/+])""",
        triggers=("aws",),
        lower=True,
        group="v",
    ),
    _Rule("gcp_api_key", _B + r"AIza[0-9A-Za-z_-]{35}" + _E, triggers=("AIza",)),
    *_from_plugin("azure_storage_key", AzureStorageKeyDetector, ("AccountKey=",)),
    _Rule(
        "azure_sas_signature",
        r"[?&]sig=(?P<v>[a-z0-9%+/=]{20,})",
        triggers=("sig=",),
        lower=True,
        group="v",
    ),
    _Rule(
        "azure_client_secret",
        _B + r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}" + _E,
        triggers=("Q~",),
    ),
    *_from_plugin("github_token", GitHubTokenDetector, ("gh",)),
    _Rule("github_token", _B + r"github_pat_[A-Za-z0-9_]{70,90}" + _E, triggers=("github_pat_",)),
    *_from_plugin("gitlab_token", GitLabTokenDetector, ("gl", "GR1348941")),
    _Rule("slack_token", _B + r"xox[abposr]-[A-Za-z0-9-]{10,}", triggers=("xox",)),
    _Rule("slack_token", _B + r"xapp-\d-[A-Za-z0-9-]{10,}", triggers=("xapp-",)),
    *_from_plugin("slack_webhook", SlackDetector, ("hooks.slack.com",))[1:],
    *_from_plugin("stripe_key", StripeDetector, ("k_live_",)),
    *_from_plugin("openai_key", OpenAIDetector, ("T3BlbkFJ",)),
    _Rule(
        "openai_key",
        _B + r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}" + _E,
        triggers=("sk-",),
    ),
    *_from_plugin("sendgrid_key", SendGridDetector, ("SG.",)),
    *_from_plugin("pypi_token", PypiTokenDetector, ("pypi-",)),
    _Rule("npm_token", _B + r"npm_[A-Za-z0-9]{36}" + _E, triggers=("npm_",)),
    _Rule(
        "jwt",
        _B + r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        triggers=("eyJ",),
    ),
    # Credentials by context.
    _Rule("url_password", BasicAuthDetector.denylist[0], triggers=("://",), group=1),
    _Rule(
        "bearer_token",
        r"\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:bearer|basic|token|digest|negotiate)?[ \t]*(?P<v>[a-z0-9._~+/=-]{8,})",
        triggers=("authorization",),
        lower=True,
        group="v",
    ),
    _Rule(
        "bearer_token",
        r"\bbearer[ \t]+(?P<v>[a-z0-9._~+/-]{8,}=*)",
        triggers=("bearer",),
        lower=True,
        group="v",
    ),
    _Rule(
        "api_key",
        r"\bx-[a-z0-9-]*(?:key|token|secret|auth)[a-z0-9-]*[ \t]*:[ \t]*(?P<v>[^\s\"',;]{8,})",
        triggers=("x-",),
        lower=True,
        group="v",
        accept=_real,
    ),
    _Rule(
        "password",
        r"(?:password|passwd|pwd|passphrase|secret)" + _SEP + _VALUE,
        triggers=("pass", "pwd", "secret"),
        lower=True,
        group="v",
        accept=_real,
    ),
    _Rule(
        "api_key",
        r"(?:api[_-]?key|apikey|token|secret[_-]?key|access[_-]?key|private[_-]?key"
        r"|client[_-]?secret|credentials?|auth|key)" + _SEP + _VALUE,
        triggers=("key", "token", "secret", "credential", "auth"),
        lower=True,
        group="v",
        accept=lambda v: _real(v) and _looks_random(v.strip("\"'")),
    ),
]


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """Return `text` with each credential replaced, and the sorted kinds that were found."""
    if not text:
        return text, ()
    low = text.lower()
    if len(low) != len(text):  # a few characters (e.g. U+0130) grow when lowered
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    spans: list[tuple[int, int, str]] = []
    for rule in _RULES:
        haystack = low if rule.lower else text
        if rule.triggers and not any(t in haystack for t in rule.triggers):
            continue
        for m in rule.regex.finditer(haystack):
            start, end = m.span(rule.group)
            if start < 0 or start == end:
                continue
            value = text[start:end]
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                start, end, value = start + 1, end - 1, value[1:-1]
                if not value:
                    continue
            if rule.accept is not None and not rule.accept(value):
                continue
            spans.append((start, end, rule.kind))
    if not spans:
        return text, ()
    # Earlier rules win an overlap (they are the more specific); then stitch once.
    taken: list[tuple[int, int, str]] = []  # sorted, non-overlapping
    for span in spans:
        i = bisect.bisect_left(taken, span)
        if (i > 0 and taken[i - 1][1] > span[0]) or (i < len(taken) and taken[i][0] < span[1]):
            continue
        taken.insert(i, span)
    out: list[str] = []
    pos = 0
    for start, end, kind in taken:
        out.append(text[pos:start])
        out.append(f"[REDACTED:{kind}]")
        pos = end
    out.append(text[pos:])
    return "".join(out), tuple(sorted({k for _, _, k in taken}))
