"""Settings from the environment (twelve-factor): nothing is read from files.

Unset store URLs mean "embedded": obsmem starts its own FalkorDB and Postgres
in the data dir.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from obsmem.errors import ConfigError as ConfigError  # re-exported: old import path


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is outside {lo}..{hi}")
    return value


def pool_max_for(threads: int) -> int:
    """The default Postgres pool size for `threads` server threads.

    Sized when a recall held two connections at once (keyword leg and kNN in
    parallel; with the old fixed 10, 8 concurrent recalls queued on the pool:
    bench.serve_ab 47.7 -> 51.8 recalls/s, p99 398 -> 313 ms with 18). A recall now
    pipelines both statements on one connection; the headroom is kept for what runs
    beside recalls (dashboard reads, the outbox replayer, reconcile). Connections
    open on demand, so an idle server holds no more than it uses.
    """
    return max(10, 2 * threads + 2)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value


def _fraction(env: Mapping[str, str], name: str) -> float | None:
    """A number in 0..1, or None when unset (the library's default applies)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name}={value} is outside 0..1")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0)")


def _opt(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    return raw or None


def env_log_level(env: Mapping[str, str] | None = None) -> str | None:
    """The log level the environment asks for, if any: OBSMEM_LOG_LEVEL, else the
    ops guide's OBS_AGENT_LOG_LEVEL (agents and scripts written against it set that)."""
    env = os.environ if env is None else env
    for name in ("OBSMEM_LOG_LEVEL", "OBS_AGENT_LOG_LEVEL"):
        raw = env.get(name, "").strip().upper()
        if raw:
            if raw not in logging.getLevelNamesMapping():
                raise ConfigError(
                    f"{name}={raw!r} is not a log level (DEBUG, INFO, WARNING, ERROR)"
                )
            return raw
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


QUERY_EMBEDDERS = ("int8", "fp32")  # obsmem.embed.PRECISIONS, without importing the embedder


def query_embedder(env: Mapping[str, str] | None = None) -> str:
    """OBSMEM_QUERY_EMBEDDER: the model recall embeds queries with (documents are always fp32).

    `int8` (default): about half the embedder's CPU per recall, cosine >= 0.984 to
    the fp32 vector; `fp32`: the exact model for queries too (bench/RESULTS.md, round 4).
    """
    env = os.environ if env is None else env
    raw = env.get("OBSMEM_QUERY_EMBEDDER", "").strip().lower()
    if not raw:
        return QUERY_EMBEDDERS[0]
    if raw not in QUERY_EMBEDDERS:
        raise ConfigError(
            f"OBSMEM_QUERY_EMBEDDER={raw!r} is not one of {', '.join(QUERY_EMBEDDERS)}"
        )
    return raw


DATA_DIR_NAME = ".obsmem"


@dataclass(frozen=True)
class DataDir:
    """Which data dir a process uses and why, so every entry point can say it."""

    path: Path
    source: str  # "OBSMEM_DATA_DIR", "found" (nearest .obsmem above cwd), "new" (./.obsmem)

    @property
    def is_new(self) -> bool:
        """True when nothing is there yet: the embedded stores would start empty."""
        return not self.path.is_dir() or not any(self.path.iterdir())

    def describe(self) -> str:
        why = {"OBSMEM_DATA_DIR": "from OBSMEM_DATA_DIR",
               "found": "the nearest .obsmem at or above the current directory",
               "new": "no .obsmem at or above the current directory",
               "option": "from --data-dir",
               "given": "set by the caller's Settings"}.get(self.source, self.source)  # fmt: skip
        return f"{self.path} ({why}{', empty: starting a new memory' if self.is_new else ''})"


def find_data_dir(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> DataDir:
    """OBSMEM_DATA_DIR if set; else the nearest existing .obsmem walking up from cwd (as git
    finds .git), so a command run from a subdirectory sees the same memory; else ./.obsmem."""
    env = os.environ if env is None else env
    raw = env.get("OBSMEM_DATA_DIR", "").strip()
    if raw:
        return DataDir(Path(raw).expanduser().absolute(), "OBSMEM_DATA_DIR")
    here = (cwd or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / DATA_DIR_NAME
        if candidate.is_dir():
            return DataDir(candidate, "found")
    return DataDir(here / DATA_DIR_NAME, "new")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".obsmem")
    host: str = "127.0.0.1"
    port: int = 8000
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = field(default=None, repr=False)
    neo4j_database: str | None = None
    neo4j_max_pool: int = 50
    falkordb_url: str | None = field(default=None, repr=False)
    falkordb_graph: str = "obsmem"
    database_url: str | None = field(default=None, repr=False)
    pg_pool_min: int = 1
    pg_pool_max: int = 10  # from_env: enough for every server thread's recall (pool_max_for)
    api_token: str | None = field(default=None, repr=False)
    auth_reads: bool = False
    # Host names the dashboard answers besides loopback ones (DNS rebinding); "*" = any.
    allowed_hosts: tuple[str, ...] = ()
    store_timeout_s: float = 5.0  # writes, schema and bulk walks (the driver's own timeout)
    read_timeout_s: float = 2.0  # interactive reads: past it the store counts as hanging
    threads: int = 8
    # `obsmem serve` processes sharing one socket (dashboard.workers); 1: this process serves
    workers: int = 1
    demo: bool = True
    log_level: str = "INFO"
    # recall's bar for `no_match` (a relevance in 0..1); None: obsmem.recall.DEFAULT_MIN_RELEVANCE
    min_relevance: float | None = None
    query_embedder: str = QUERY_EMBEDDERS[0]  # OBSMEM_QUERY_EMBEDDER: int8 or fp32 (queries only)
    data_dir_source: str = "given"  # how data_dir was chosen (see find_data_dir)

    @property
    def data_dir_info(self) -> DataDir:
        return DataDir(Path(self.data_dir).absolute(), self.data_dir_source)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        found = find_data_dir(env)
        threads = _int(env, "OBSMEM_THREADS", 8, 1, 256)
        settings = cls(
            data_dir=found.path,
            data_dir_source=found.source,
            host=env.get("OBSMEM_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "OBSMEM_PORT", 8000, 0, 65535),
            neo4j_uri=_opt(env, "NEO4J_URI"),
            neo4j_user=env.get("NEO4J_USER", "").strip() or "neo4j",
            neo4j_password=_opt(env, "NEO4J_PASSWORD"),
            neo4j_database=_opt(env, "NEO4J_DATABASE"),
            neo4j_max_pool=_int(env, "NEO4J_MAX_POOL", 50, 1, 1000),
            falkordb_url=_opt(env, "FALKORDB_URL"),
            falkordb_graph=env.get("OBSMEM_GRAPH", "").strip() or "obsmem",
            database_url=_opt(env, "DATABASE_URL"),
            pg_pool_min=_int(env, "OBSMEM_PG_POOL_MIN", 1, 0, 100),
            pg_pool_max=_int(env, "OBSMEM_PG_POOL_MAX", pool_max_for(threads), 1, 500),
            api_token=_opt(env, "OBSMEM_API_TOKEN"),
            auth_reads=_flag(env, "OBSMEM_AUTH_READS", False),
            allowed_hosts=tuple(
                h.strip().lower()
                for h in env.get("OBSMEM_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
            store_timeout_s=_float(env, "OBSMEM_STORE_TIMEOUT", 5.0),
            read_timeout_s=_float(env, "OBSMEM_READ_TIMEOUT", 2.0),
            threads=threads,
            workers=_int(env, "OBSMEM_WORKERS", 1, 1, 16),
            demo=_flag(env, "OBSMEM_DEMO", True),
            log_level=env_log_level(env) or "INFO",
            min_relevance=_fraction(env, "OBSMEM_MIN_RELEVANCE"),
            query_embedder=query_embedder(env),
        )
        settings.check_auth()
        return settings

    def check_auth(self) -> None:
        """OBSMEM_AUTH_READS=1 promises private reads; without a token it would promise nothing."""
        if self.auth_reads and not self.api_token:
            raise ConfigError(
                "OBSMEM_AUTH_READS=1 but OBSMEM_API_TOKEN is not set: reads cannot be "
                "protected without a token. Set OBSMEM_API_TOKEN, or unset OBSMEM_AUTH_READS."
            )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def graph_embedded(self) -> bool:
        return self.neo4j_uri is None and self.falkordb_url is None

    @property
    def vectors_embedded(self) -> bool:
        return self.database_url is None

    @property
    def graph_backend(self) -> str:
        return "neo4j" if self.neo4j_uri else "falkordb"

    def check_serve(self) -> None:
        """Refuse to expose an unauthenticated API beyond this machine."""
        self.check_auth()
        if not is_loopback(self.host) and not self.api_token:
            raise ConfigError(
                f"OBSMEM_HOST={self.host} is reachable from other machines, and "
                "OBSMEM_API_TOKEN is not set: anyone could read and write the memory. "
                "Set OBSMEM_API_TOKEN, or bind to 127.0.0.1."
            )
        if self.neo4j_uri and not self.neo4j_password:
            raise ConfigError("NEO4J_URI is set but NEO4J_PASSWORD is not")
