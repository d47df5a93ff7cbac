"""Replace credentials in text with `[REDACTED:<kind>]` before it is stored or shown.

Agents paste logs, env dumps and curl commands into issues and solutions; a
memory that every agent and the dashboard can read must not keep secrets.

Detectors: the token formats that detect-secrets maintains (AWS key ids,
GitHub, GitLab, Stripe, SendGrid, Azure storage keys) are taken from its
plugins' `denylist` regexes, so new formats arrive with library updates (the
ReDoS test checks every rule, theirs included). detect-secrets' own scanner is
not used: it works per line, reports values not positions, flags every
high-entropy word (sha digests, pod names) without its file-level filters, and
costs ~30 ms per 2 KB. Formats it lacks or gets wrong for redaction (JWT
signatures, mixed-case Slack tokens, PEM blocks, `password=` pairs, bearer
headers, generic keys, command-line flags, Kubernetes Secrets) are regexes here,
each one tested both ways.

Linear time: one request must not stall the server, so no rule may backtrack
over unbounded input. Every quantifier is bounded or possessive, and a rule that
scans a run of characters starts only where that run starts (a lookbehind on
the same class), so no run is rescanned from each of its positions.
`google-re2` would give the guarantee for free but has no lookarounds, which
these rules need to avoid false positives; see bench/redact_worst.py.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.stripe import StripeDetector

_B = r"(?<![A-Za-z0-9_])"  # token start: not inside a longer word
_BD = r"(?<![A-Za-z0-9_-])"  # ... nor inside a dashed one (runs that include '-')
_E = r"(?![A-Za-z0-9_])"

# A value that is already a placeholder, a variable or a mask is not a secret.
_PLACEHOLDER = re.compile(
    r"^(?:\$|\[REDACTED|\*{3,}|<|\{\{|%\(|x{4,}$"  # <new token>, ${VAR}, {{ .Values.x }}
    r"|(?:null|none|nil|true|false|yes|no|on|off|ok|change[ _-]?me)$)",
    re.I,
)


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


_PATH = re.compile(
    r"(?:~?/|\.{1,2}/|[A-Za-z]:\\)|.{0,200}\.(?:pem|key|crt|cert|p12|pfx|jks|json|ya?ml)$"
)


def _real_key(value: str) -> bool:
    """A key or token value, not the path of a key file (`--client-key=/etc/pki/admin.key`)."""
    return _real(value) and not _PATH.match(value.strip("\"'"))


# ------------------------------------------------------------ key names
_PASSWORD_NAME = re.compile(
    r"(?:password|passwd|passphrase|pwd|secret|credentials?|(?:^|[^a-z])pass|passwort|mot_de_passe)$"
)
_TOKEN_NAME = re.compile(
    r"(?:token|api[_.-]?key|(?:access|secret|private|client|master|signing|encryption|auth"
    r"|account|service|license|subscription|webhook|app|session|shared)[_.-]?key|[_.-]auth"
    r"|connection[_.-]?string|dsn)$"
)
_ANY_KEY_NAME = re.compile(r"[_.-]key$")
_NOT_SECRET_NAMES = frozenset({"pwd", "oldpwd", "auth"})


def secret_key_kind(name: str) -> str | None:
    """The kind of secret a value under key `name` holds, if the name says it is one.

    `password`, `db_pass`, `client_secret`, `credentials` -> "password"; `token`,
    `api_key`, `AWS_SECRET_ACCESS_KEY`, any `*_key` -> "api_key"; else None. Used for
    metadata keys at any depth and for `NAME=value` / `name: value` pairs in text.
    """
    k = name.strip().strip("\"'").lower()
    if not k or len(k) > 128 or k in _NOT_SECRET_NAMES:
        return None
    if _PASSWORD_NAME.search(k):
        return "password"
    if _TOKEN_NAME.search(k) or _ANY_KEY_NAME.search(k):
        return "api_key"
    return None


def _password_name(k: str) -> bool:
    return secret_key_kind(k) == "password"


def _token_name(k: str) -> bool:
    """A key name whose value is a credential whatever it looks like (`*_key` needs more)."""
    low = k.lower()
    return secret_key_kind(k) == "api_key" and not (
        _ANY_KEY_NAME.search(low) and not _TOKEN_NAME.search(low)
    )


def _generic_key_name(k: str) -> bool:
    low = k.lower()
    return bool(_ANY_KEY_NAME.search(low)) and not _TOKEN_NAME.search(low)


class _Rule:
    """One detector. Speed: a rule runs only if one of its `triggers` occurs in the text;
    `lower` rules are written in lower case and run on the lower-cased text, because
    sre skips ahead far faster without IGNORECASE (about 8x here). `name` rules also
    check the captured key name (group `k`); `finder` rules find spans in Python."""

    __slots__ = ("accept", "finder", "group", "kind", "lower", "name", "regex", "triggers")

    def __init__(
        self,
        kind: str,
        pattern: str | re.Pattern[str],
        *,
        triggers: tuple[str, ...] = (),
        lower: bool = False,
        group: int | str = 0,
        accept: Callable[[str], bool] | None = None,
        name: Callable[[str], bool] | None = None,
        finder: Callable[[str], Iterable[tuple[int, int]]] | None = None,
    ):
        self.kind = kind
        self.regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        self.triggers = triggers
        self.lower = lower
        self.group = group
        self.accept = accept
        self.name = name
        self.finder = finder

    def spans(self, text: str, low: str) -> Iterator[tuple[int, int]]:
        """Candidate (start, end) spans, before quote-stripping and `accept`."""
        if self.finder is not None:
            yield from self.finder(text)
            return
        for m in self.regex.finditer(low if self.lower else text):
            if self.name is not None and not self.name(m.group("k")):
                continue
            yield m.span(self.group)


def _from_plugin(kind: str, plugin: type, triggers: tuple[str, ...]) -> list[_Rule]:
    return [
        _Rule(kind, re.compile(_B + "(?:" + p.pattern + ")", p.flags), triggers=triggers)
        for p in plugin.denylist  # type: ignore[attr-defined]
    ]


# ------------------------------------------------------------ Kubernetes Secrets
_K8S_BLOCK = re.compile(r"(?m)^(?P<i>[ \t]{0,64}+)(?P<b>data|stringData):[ \t]{0,16}+\r?$")
_K8S_ITEM = re.compile(r"(?P<i>[ \t]{1,64}+)[\"']?[A-Za-z0-9_.-]{1,253}+[\"']?:[ \t]{0,16}+")
_K8S_JSON = re.compile(
    r"\"(?:data|stringData)\"[ \t]{0,16}+:[ \t]{0,16}+\{(?P<body>[^{}]{0,65536}+)\}"
)
_K8S_JSON_VALUE = re.compile(
    r"\"[A-Za-z0-9_.-]{1,253}+\"[ \t\r\n]{0,16}+:[ \t\r\n]{0,16}+\"(?P<v>[^\"\\]{1,65536}+)\""
)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{4,}+={0,2}")


def _k8s_values(text: str) -> Iterator[tuple[int, int]]:
    """Values under `data:`/`stringData:` in a Secret manifest (YAML or JSON).

    `stringData` exists only in Secrets; `data` is also a ConfigMap's, so there a value
    is taken when it looks like base64 (what a Secret holds) or the text mentions secrets."""
    k8s_context = "secret" in text.lower()
    scanned = 0  # a block nested in one already read is not read again (linear time)
    for block in _K8S_BLOCK.finditer(text):
        if block.start() < scanned:
            continue
        base = len(block.group("i").expandtabs())
        strict = block.group("b") == "data" and not k8s_context
        pos = block.end() + 1
        while pos < len(text):
            nl = text.find("\n", pos)
            line_end = len(text) if nl < 0 else nl
            item = _K8S_ITEM.match(text, pos, line_end)
            if item is None or len(item.group("i").expandtabs()) <= base:
                break
            start, end = item.end(), line_end
            value = text[start:end].rstrip("\r \t")
            end = start + len(value)
            plain = value and not value.startswith(("|", ">"))
            if plain and (not strict or (_BASE64.fullmatch(value) and len(value) >= 12)):
                yield start, end
            pos = line_end + 1
        scanned = pos
    for block in _K8S_JSON.finditer(text):
        body = block.start("body")
        for item in _K8S_JSON_VALUE.finditer(block.group("body")):
            if k8s_context or _BASE64.fullmatch(item.group("v")):
                yield body + item.start("v"), body + item.end("v")


def _ends_with(*words: str) -> str:
    """A zero-width check that the text just read ends with one of `words` (lower case).

    Rejecting a key by its name inside the regex, rather than after the match, keeps a
    non-secret `name: value` pair from swallowing the next pair on the line."""
    return "(?:" + "|".join(f"(?<={re.escape(w)})" for w in words) + ")"


_PW_END = _ends_with(
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "credential",
    "credentials",
    "pass",
    "passwort",
)
_TOKEN_END = _ends_with(
    "token",
    "key",
    "dsn",
    "_auth",
    "-auth",
    ".auth",
    "connectionstring",
    "connection_string",
)
_KEY_END = _ends_with("key", "auth")

_VALUE = r"""(?P<v>"[^"\n]{1,512}+"|'[^'\n]{1,512}+'|[^\s"',;&)}\]]{1,512}+)"""
_SEP = r"""["']?[ \t]{0,16}+[:=][ \t]{0,16}+"""
# An identifier run (env var, YAML/JSON key, header): starts where the run starts.
_NAME = r"""(?<![a-z0-9_.-])["']?(?P<k>[a-z_][a-z0-9_.-]{0,127}+)"""
_FLAG = r"""(?<![a-z0-9_-])--?(?P<k>[a-z][a-z0-9_-]{0,63}+)(?:=|[ \t]{1,8}+)"""
_CMD_VALUE = r"""(?P<v>"[^"\n]{1,512}+"|'[^'\n]{1,512}+'|[^\s"';&|]{1,512}+)"""

_RULES: list[_Rule] = [
    # Whole blocks first: earlier rules win overlaps, so nothing inside is matched twice.
    _Rule(
        "private_key",
        # The body cannot contain "-----", so a BEGIN without END scans only up to the next
        # armour line: each character is read once whatever the number of BEGINs.
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=\s\\:,.]|-(?!----)){0,65536}+"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
        triggers=("PRIVATE KEY",),
    ),
    _Rule(
        "private_key",
        r"PuTTY-User-Key-File-\d{1,3}:(?:[^P]|P(?!rivate-MAC:|uTTY-User-Key-File-)){0,65536}+"
        r"Private-MAC: {0,8}[0-9a-f]{1,128}",
        triggers=("PuTTY",),
    ),
    *_from_plugin("aws_access_key", AWSKeyDetector, ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"))[:1],
    _Rule(
        "aws_secret_key",
        r"(?<![a-z0-9])aws[\w.-]{0,20}?(?:secret|key|pwd|pw|password|pass|token)[\w.-]{0,20}?"
        r"""["']?[ \t]{0,16}+[:=>][ \t]{0,16}+["']?(?P<v>[a-z0-9/+]{40})(?![a-z0-9/+])""",
        triggers=("aws",),
        lower=True,
        group="v",
    ),
    _Rule("gcp_api_key", _B + r"AIza[0-9A-Za-z_-]{35}" + _E, triggers=("AIza",)),
    *_from_plugin("azure_storage_key", AzureStorageKeyDetector, ("AccountKey=",)),
    _Rule(
        "azure_sas_signature",
        r"[?&]sig=(?P<v>[a-z0-9%+/=]{20,1024}+)",
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
    _Rule("slack_token", _BD + r"xox[abposre]-[A-Za-z0-9-]{10,512}+", triggers=("xox",)),
    _Rule("slack_token", _BD + r"xapp-\d-[A-Za-z0-9-]{10,512}+", triggers=("xapp-",)),
    _Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Za-z0-9_]{1,64}+/"
        r"[A-Z][A-Za-z0-9_]{1,64}+/[A-Za-z0-9_]{1,128}+",
        triggers=("hooks.slack.com",),
    ),
    *_from_plugin("stripe_key", StripeDetector, ("k_live_",)),
    _Rule(
        "openai_key",
        _BD + r"sk-[A-Za-z0-9_-]{20,128}?T3BlbkFJ[A-Za-z0-9_-]{20,128}+",
        triggers=("T3BlbkFJ",),
    ),
    _Rule(
        "openai_key",
        _BD + r"sk-(?:proj|svcacct|admin|ant-api\d\d)-[A-Za-z0-9_-]{20,512}+",
        triggers=("sk-",),
    ),
    *_from_plugin("sendgrid_key", SendGridDetector, ("SG.",)),
    _Rule("pypi_token", _BD + r"pypi-AgE[A-Za-z0-9_-]{70,1024}+", triggers=("pypi-",)),
    _Rule("npm_token", _B + r"npm_[A-Za-z0-9]{36}" + _E, triggers=("npm_",)),
    _Rule(
        "registry_token",
        _BD + r"(?:dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,128}+|hvs\.[A-Za-z0-9_-]{24,256}+"
        r"|glsa_[A-Za-z0-9]{32}_[0-9a-fA-F]{8}|glc_[A-Za-z0-9+/=]{32,512}+"
        r"|hf_[A-Za-z0-9]{30,64}+|dop_v1_[a-f0-9]{64}|doo_v1_[a-f0-9]{64}"
        r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|lin_api_[A-Za-z0-9]{40}"
        r"|AGE-SECRET-KEY-1[0-9A-Z]{58})",
        triggers=(
            "dckr_",
            "hvs.",
            "glsa_",
            "glc_",
            "hf_",
            "do_v1_",
            "shp",
            "lin_api_",
            "AGE-SECRET",
        ),
    ),
    _Rule(
        "jwt",
        _BD + r"eyJ[A-Za-z0-9_-]{8,8192}+\.[A-Za-z0-9_-]{8,65536}+\.[A-Za-z0-9_-]{0,8192}+",
        triggers=("eyJ",),
    ),
    # Credentials by context.
    _Rule(
        "url_password",
        r"://[^\s:/@?#\[\]\"'<>]{0,256}+:(?P<v>[^\s/@?#\[\]\"'<>]{1,256})@",
        triggers=("://",),
        group="v",
        accept=_real,
    ),
    _Rule(
        "password",
        r"(?<![a-z0-9_-])(?:-u|--user)[ \t=]{1,8}+[A-Za-z0-9_.@+-]{1,128}+:(?P<v>[^\s\"']{1,256}+)",
        triggers=("-u", "--user"),
        group="v",
        accept=lambda v: _real(v) and not v.isdigit(),  # docker run -u 1000:1000
    ),
    _Rule(
        "password",
        # mysql -pSECRET (no space: with a space mysql prompts and X is the database)
        r"(?<![a-z0-9_-])(?:mysql|mariadb|mysqldump|mysqladmin|mysqlsh|mysqlimport)"
        r"(?:[ \t]{1,8}+[^\s|;&]{1,128}+){0,12}?[ \t]{1,8}+-p(?P<v>[^\s\"';&|]{1,256}+)",
        triggers=("mysql", "mariadb"),
        group="v",
        accept=_real,
    ),
    _Rule(
        "password",
        # docker/podman/helm ... login -p X (the flag's meaning in these commands)
        r"(?<![a-z0-9_-])(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane|regctl)"
        r"[ \t]{1,8}+(?:registry[ \t]{1,8}+)?login"
        r"(?:[ \t]{1,8}+[^\s|;&]{1,128}+){0,12}?[ \t]{1,8}+-p(?:=|[ \t]{1,8}+)" + _CMD_VALUE,
        triggers=("login",),
        group="v",
        accept=_real,
    ),
    _Rule(
        "password",
        _FLAG.replace("(?:=|", _PW_END + "(?:=|") + _CMD_VALUE,
        triggers=("--", "-"),
        lower=True,
        group="v",
        accept=_real,
        name=_password_name,
    ),
    _Rule(
        "api_key",
        _FLAG.replace("(?:=|", _TOKEN_END + "(?:=|") + _CMD_VALUE,
        triggers=("--",),
        lower=True,
        group="v",
        accept=_real_key,
        name=_token_name,
    ),
    _Rule(
        "bearer_token",
        r"\b(?:proxy-)?authorization[\"']?[ \t]{0,16}+[:=][ \t]{0,16}+[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate)[ \t]{1,16}+)?(?P<v>[a-z0-9._~+/=-]{8,8192}+)",
        triggers=("authorization",),
        lower=True,
        group="v",
    ),
    _Rule(
        "bearer_token",
        r"\bbearer[ \t]{1,16}+(?P<v>[a-z0-9._~+/-]{8,8192}+=*+)",
        triggers=("bearer",),
        lower=True,
        group="v",
    ),
    _Rule(
        "api_key",
        r"(?<![a-z0-9-])x-(?P<k>[a-z0-9-]{0,64}+)[ \t]{0,16}+:[ \t]{0,16}+(?P<v>[^\s\"',;]{8,1024}+)",
        triggers=("x-",),
        lower=True,
        group="v",
        accept=_real,
        name=lambda k: any(w in k for w in ("key", "token", "secret", "auth")),
    ),
    _Rule(
        "password",
        _NAME + _PW_END + _SEP + _VALUE,
        triggers=("pass", "pwd", "secret", "credential"),
        lower=True,
        group="v",
        accept=_real,
        name=_password_name,
    ),
    _Rule(
        "api_key",
        _NAME + _TOKEN_END + _SEP + _VALUE,
        triggers=("key", "token", "dsn", "auth", "connection"),
        lower=True,
        group="v",
        accept=_real_key,
        name=_token_name,
    ),
    _Rule(
        "api_key",
        _NAME + _KEY_END + _SEP + _VALUE,
        triggers=("key", "auth"),
        lower=True,
        group="v",
        accept=lambda v: _real(v) and _looks_random(v.strip("\"'")),
        name=lambda k: _generic_key_name(k) or k.lower() in ("key", "auth", "secret_key"),
    ),
    _Rule("k8s_secret", r"(?!)", triggers=("data", "Data"), finder=_k8s_values),
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
        for start, end in rule.spans(text, low):
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


def _secret_value(v: object) -> bool:
    """Under a credential-like key: anything but nothing, a flag or a placeholder."""
    if v is None or isinstance(v, bool):
        return False
    if isinstance(v, str):
        return bool(v.strip()) and _real(v.strip())
    if isinstance(v, dict | list):
        return bool(v)
    return True


def redact_tree(node: object) -> tuple[object, set[str]]:
    """A JSON value with every string redacted, keys included, at any depth.

    A value under a credential-like key (`password`, `token`, `*_key`, ...) is replaced
    whole, whatever its type: `{"db": {"password": 12345}}` keeps no digit of it."""
    kinds: set[str] = set()

    def text(s: str) -> str:
        out, found = redact(s)
        kinds.update(found)
        return out

    def walk(n: object, depth: int) -> object:
        if isinstance(n, str):
            return text(n)
        if depth > 64:  # callers cap depth far lower; this only keeps recursion bounded
            return None
        if isinstance(n, dict):
            out: dict[str, object] = {}
            for k, v in n.items():
                key = text(k) if isinstance(k, str) else k
                kind = secret_key_kind(k) if isinstance(k, str) else None
                if kind is not None and _secret_value(v):
                    kinds.add(kind)
                    out[key] = f"[REDACTED:{kind}]"
                    continue
                out[key] = walk(v, depth + 1)
            return out
        if isinstance(n, list):
            return [walk(v, depth + 1) for v in n]
        return n

    return walk(node, 0), kinds
