"""The `obsmem` command: run, seed, query, back up and repair a memory from a shell.

Every command reads the same settings as the service (env vars, see
the README's Operations section); `--data-dir` overrides OBSMEM_DATA_DIR. Listing commands
take `--json`. Expected failures (bad input, a store that cannot be reached, a
missing file) exit non-zero with one line on stderr, never a traceback.

Imports are lazy: `obsmem --help`, `health`, `agents`, `fixes` and `stats` never
load torch; only commands that embed text do.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from obsmem.config import ConfigError, Settings, env_log_level

if TYPE_CHECKING:
    from obsmem.memory import Memory


class Failure(click.ClickException):
    """One line on stderr and exit 1 (2 for bad input, like click's usage errors)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(" ".join(str(message).split()) or "failed")
        self.exit_code = exit_code  # type: ignore[misc]  # click declares a class default

    def show(self, file: Any = None) -> None:
        click.echo(f"obsmem: error: {self.format_message()}", err=True)


def _expected(exc: BaseException) -> Failure | None:
    """Map the errors an operator can cause or fix to one-line failures."""
    from obsmem.model import ValidationError

    if isinstance(exc, ValidationError | ConfigError):
        return Failure(str(exc), exit_code=2)
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        return Failure(f"{exc.strerror}: {exc.filename}")
    name = type(exc).__name__
    module = type(exc).__module__
    # The library's own operational errors (Unavailable, NotFound, EmbeddedError,
    # TransferError, GraphUnavailable, VectorUnavailable, ...) without importing them here.
    if module.startswith("obsmem") and isinstance(exc, RuntimeError | KeyError | ValueError):
        return Failure(f"{name}: {exc}" if name not in {"NotFound"} else str(exc))
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return Failure(f"{name}: {exc}")
    return None


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            failure = _expected(exc)
            if failure is None:
                raise
            raise failure from exc


# ------------------------------------------------------------------ helpers


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings)  # type: ignore[return-value]


@contextmanager
def _memory(ctx: click.Context) -> Iterator[Memory]:
    """A Memory for one command. No replayer: a running server owns the outbox."""
    from obsmem.memory import Memory

    settings = _settings(ctx)
    _warn_if_new(settings)
    memory = Memory.open(settings, replay=False)
    try:
        yield memory
    finally:
        memory.close()


def _uses_data_dir(settings: Settings) -> bool:
    return settings.graph_embedded or settings.vectors_embedded


def _warn_if_new(settings: Settings) -> None:
    """Say plainly when a command is about to start an empty embedded memory."""
    info = settings.data_dir_info
    if _uses_data_dir(settings) and info.is_new:
        hint = ("" if info.source in {"OBSMEM_DATA_DIR", "option"} else
                "; set OBSMEM_DATA_DIR or --data-dir to use an existing one")  # fmt: skip
        click.echo(f"obsmem: data dir {info.describe()}{hint}", err=True)


def _data_dir_line(settings: Settings) -> str:
    where = settings.data_dir_info.describe()
    return where if _uses_data_dir(settings) else f"{where}; outbox only, stores are remote"


def _preload_embedder(*, documents: bool = False, queries: bool = False) -> None:
    """Load the ONNX model on a thread while the command imports drivers and opens the stores.

    The model is shared per process (obsmem.embed), so the Memory's embedder finds it
    loaded; a failure here is left for the real call to report.
    """
    import threading

    def load() -> None:
        try:
            from obsmem.embed import Embedder

            Embedder().load(documents=documents, queries=queries)
        except Exception:  # noqa: S110 - the command's own embed call raises it properly
            pass

    threading.Thread(target=load, name="obsmem-preload", daemon=True).start()


def _out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _short(text: str | None, n: int = 70) -> str:
    first = " ".join((text or "").split())
    return first if len(first) <= n else first[: n - 1] + "…"


def _outbox(stats: dict[str, Any]) -> str:
    depth = stats.get("depth") or {}
    dead = stats.get("dead_letters") or {}
    per = ", ".join(f"{k} {v}" for k, v in sorted(depth.items()))
    return (f"{stats.get('total', 0)} queued ({per}), "
            f"{stats.get('dead_letters_total', 0)} dead letters"
            + (f" ({', '.join(f'{k} {v}' for k, v in sorted(dead.items()) if v)})"
               if stats.get("dead_letters_total") else ""))  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _since(value: str | None) -> int | None:
    """--since accepts an ISO-8601 time or a duration back from now (7d, 12h)."""
    if value is None:
        return None
    from obsmem.model import iso_to_ms, now_ms
    from obsmem.retention import _DURATION, parse_duration

    if _DURATION.match(value):
        return now_ms() - parse_duration(value, "since")
    return iso_to_ms(value, "since")


def _progress(total: int | None, desc: str) -> Any:
    """A tqdm bar on stderr, silent when stderr is not a terminal (scripts, CI)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="rec", file=sys.stderr,
                disable=not sys.stderr.isatty(), leave=False)  # fmt: skip


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# ------------------------------------------------------------------ the group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data dir of the embedded stores and the outbox (default: $OBSMEM_DATA_DIR, "
                   "else the nearest .obsmem at or above the current directory, else ./.obsmem).")  # fmt: skip
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="obsmem", prog_name="obsmem")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, verbose: int) -> None:
    """obsmem: graph-plus-vector memory of the fixes that worked.

    Settings come from the environment (NEO4J_URI, DATABASE_URL, OBSMEM_*);
    with none set, obsmem runs embedded FalkorDB + Postgres in the data dir.
    """
    try:
        settings = Settings.from_env()
        # -v wins; else OBSMEM_LOG_LEVEL / OBS_AGENT_LOG_LEVEL; else warnings only.
        level: int | str = env_log_level() or logging.WARNING
    except ConfigError as exc:
        raise Failure(str(exc), exit_code=2) from None
    if verbose:
        level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if data_dir is not None:
        settings = settings.with_(data_dir=data_dir.absolute(), data_dir_source="option")
    ctx.obj = settings


# ------------------------------------------------------------------ serve / init / health


def _data_dir_is_empty(path: Path) -> bool:
    return not path.exists() or not any(path.iterdir())


@cli.command()
@click.option("--host", help="Interface to bind (overrides OBSMEM_HOST; default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (overrides OBSMEM_PORT).")
@click.option("--demo/--no-demo", default=None,
              help="Seed the demo set on first start of an empty data dir (default: on unless "
                   "OBSMEM_DEMO=0).")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 16),
              help="Server processes sharing the port (overrides OBSMEM_WORKERS; default 1).")  # fmt: skip
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, demo: bool | None, workers: int | None
) -> None:
    """Run the API and dashboard (waitress) until Ctrl-C or SIGTERM."""
    settings = _settings(ctx)
    if host is not None:
        settings = settings.with_(host=host)
    if port is not None:
        settings = settings.with_(port=port)
    if workers is not None:
        settings = settings.with_(workers=workers)
    settings.check_serve()  # refuse an open, unauthenticated bind before starting anything
    click.echo(f"==> data dir: {_data_dir_line(settings)}", err=True)
    seed = settings.demo if demo is None else demo
    if seed and settings.graph_embedded and _data_dir_is_empty(Path(settings.data_dir)):
        click.echo(
            "==> empty data dir: starting the stores and seeding the demo set "
            "(OBSMEM_DEMO=0 to skip)",
            err=True,
        )
        if settings.workers > 1:  # in a child: the supervising parent stays small
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            with ProcessPoolExecutor(1, mp_context=get_context("fork")) as child:
                summary = child.submit(_seed_demo, settings).result()
        else:  # in this process, which loads the same model to serve anyway
            summary = _seed_demo(settings)
        click.echo(f"==> demo: {summary['fixes']} fixes, {summary['agents']} agents", err=True)
    from dashboard.serve import serve as run_server

    ctx.exit(run_server(settings))


def _seed_demo(settings: Settings) -> dict[str, Any]:
    from obsmem.demo import seed
    from obsmem.memory import Memory

    with Memory.open(settings, replay=False) as memory:
        return seed(memory)


def init_stores(settings: Settings, dry_run: bool = False) -> dict[str, Any]:
    """Graph schema + Postgres migrations, opened directly (Memory.open would already apply them)."""
    from obsmem.stores.graph import open_graph
    from obsmem.stores.graph.admin import init_schema
    from obsmem.stores.pgvector import PgVectorStore

    embedded = None
    if settings.graph_embedded or settings.vectors_embedded:
        from obsmem.stores.embedded import EmbeddedServers

        embedded = EmbeddedServers(Path(settings.data_dir), want_graph=settings.graph_embedded,
                                   want_vectors=settings.vectors_embedded).start(supervise=False)  # fmt: skip
    try:
        graph = open_graph(settings, falkordb_url=embedded.falkordb_url()
                           if embedded and settings.graph_embedded else None)  # fmt: skip
        try:
            graph_report = init_schema(graph, dry_run=dry_run).to_dict()
        finally:
            graph.close()
        url = settings.database_url or embedded.postgres_url()  # type: ignore[union-attr]
        applied: list[str] = []
        with PgVectorStore(url, pool_min=0, pool_max=1,
                           timeout_s=settings.store_timeout_s) as store:  # fmt: skip
            pending = store.pending_migrations()  # VectorUnavailable when Postgres is down
            if not dry_run:
                applied = store.migrate()
        return {
            "dry_run": dry_run,
            "graph": graph_report,
            "vectors": {
                "backend": "postgres",
                "pending": [] if not dry_run else pending,
                "applied": applied,
            },
        }
    finally:
        if embedded is not None:
            embedded.stop()


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show what would be created, change nothing.")
@json_option
@click.pass_context
def init(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Create the graph indexes/constraints and apply Postgres migrations (idempotent)."""
    report = init_stores(_settings(ctx), dry_run=dry_run)
    if not dry_run:  # the ONNX export (a few seconds, once per machine) so no later start pays it
        from obsmem.embed import default_model_dir, ensure_exported, ensure_quantized

        report["embedder"] = {"onnx": str(ensure_exported(default_model_dir())),
                              "onnx_query": str(ensure_quantized(default_model_dir()))}  # fmt: skip
    if as_json:
        _out(report)
        return
    g, v = report["graph"], report["vectors"]
    if dry_run:
        click.echo(f"graph ({g['backend']}): would create {len(g['missing'])}, "
                   f"already there {len(g['present'])}")  # fmt: skip
        for name in g["missing"]:
            click.echo(f"  + {name}")
        click.echo(f"vectors (postgres): would apply {len(v['pending'])} migration(s)")
        for name in v["pending"]:
            click.echo(f"  + {name}")
        return
    click.echo(f"graph ({g['backend']}): created {len(g['created'])}, present {len(g['present'])}"
               + (f", MISSING {', '.join(g['missing'])}" if g["missing"] else ""))  # fmt: skip
    click.echo(
        f"vectors (postgres): applied {len(v['applied'])} migration(s)"
        + (f": {', '.join(v['applied'])}" if v["applied"] else ", schema up to date")
    )
    click.echo(f"query embedder (int8): {report['embedder']['onnx_query']}")
    click.echo(f"embedder (onnx): {report['embedder']['onnx']}")
    if g["missing"]:
        raise Failure(f"graph schema incomplete: {', '.join(g['missing'])}")


@cli.command()
@json_option
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Check both stores and the outbox; exit 1 when unhealthy (no store answers)."""
    from obsmem.stores.router import is_unavailable

    data_dir = _data_dir_line(_settings(ctx))
    try:
        with _memory(ctx) as memory:
            report = memory.health()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # A store that refuses even the connection: that is an answer, not a crash.
        report = {"status": "unhealthy", "error": f"{type(exc).__name__}: {exc}", "stores": {}}
    if as_json:
        _out({**report, "data_dir": str(_settings(ctx).data_dir_info.path)})
    else:
        click.echo(
            f"status: {report['status']}" + (f" ({report['error']})" if "error" in report else "")
        )
        click.echo(f"  data dir {data_dir}")
        for name, s in report["stores"].items():
            click.echo(f"  {name:8} {s.get('backend', ''):9} {_store_line(s)}")
        if "outbox" in report:
            click.echo(f"  outbox   {_outbox(report['outbox'])}")
    if report["status"] == "unhealthy":
        ctx.exit(1)


def _store_line(s: dict[str, Any]) -> str:
    """up / slow with the ping; DOWN / HANGING with since when and the error; the last error seen."""
    state = s.get("state") or ("up" if s.get("ok") else "down")
    if s.get("ok"):
        line = f"{state} {s.get('latency_ms')} ms"
        if s.get("last_error"):
            line += f" (last error {s.get('last_error_at')}: {s['last_error']})"
        return line
    line = state.upper()
    if s.get("since"):
        line += f" since {s['since']}"
    return line + f": {s.get('error') or s.get('last_error')}"


# ------------------------------------------------------------------ agents' verbs


@cli.command()
@click.argument("issue")
@click.argument("solution")
@click.option("--success/--failure", "success", default=None, help="Did the fix work?")
@click.option("--agent", help="Agent that applied the fix.")
@click.option("--service")
@click.option("--namespace")
@click.option("--severity")
@click.option("--root-cause")
@click.option("--confidence", type=float)
@click.option("--tag", "tags", multiple=True, help="Repeatable.")
@click.option("--metadata", help="A JSON object.")
@click.option("--id", "fix_id", help="Your own stable id (default: derived from the text).")
@json_option
@click.pass_context
def remember(ctx: click.Context, issue: str, solution: str, success: bool | None,
             agent: str | None, service: str | None, namespace: str | None,
             severity: str | None, root_cause: str | None, confidence: float | None,
             tags: tuple[str, ...], metadata: str | None, fix_id: str | None,
             as_json: bool) -> None:  # fmt: skip
    """Store that SOLUTION fixed ISSUE."""
    from obsmem.model import ValidationError

    _preload_embedder(documents=True)
    meta = None
    if metadata is not None:
        try:
            meta = json.loads(metadata)
        except ValueError:
            raise ValidationError("metadata", "is not valid JSON") from None
    with _memory(ctx) as memory:
        result = memory.remember(issue, solution, success=success, agent=agent, service=service,
                                 namespace=namespace, severity=severity, root_cause=root_cause,
                                 confidence=confidence, tags=list(tags) or None, metadata=meta,
                                 id=fix_id)  # fmt: skip
    if as_json:
        _out(result.to_dict())
        return
    click.echo(result.id)
    if result.duplicate_of:
        click.echo(f"merged into existing fix {result.duplicate_of}", err=True)
    if result.pending:
        click.echo(f"queued for {', '.join(result.pending)} (store down; replays later)", err=True)


@cli.command()
@click.argument("query")
@click.option("-k", "--limit", "k", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--service")
@click.option("--agent")
@click.option("--only-successful", is_flag=True, help="Only fixes that worked.")
@click.option("--since", help="ISO-8601 time or a duration back from now (7d).")
@click.option("--min-relevance", type=click.FloatRange(0, 1),
              help="Bar for a good match (default OBSMEM_MIN_RELEVANCE).")  # fmt: skip
@json_option
@click.pass_context
def recall(ctx: click.Context, query: str, k: int, service: str | None, agent: str | None,
           only_successful: bool, since: str | None, min_relevance: float | None,
           as_json: bool) -> None:  # fmt: skip
    """Fixes for problems like QUERY, best first, with their relevance (0..1).

    Says "no good match" (exit 0) when no fix reaches the bar; the closest are still listed.
    """
    _preload_embedder(queries=True)
    with _memory(ctx) as memory:
        result = memory.recall(query, k, service=service, agent=agent,
                               only_successful=only_successful, since_ms=_since(since),
                               min_relevance=min_relevance)  # fmt: skip
    if as_json:
        _out(result.to_dict())
        return
    if not result:
        click.echo("no matching fixes", err=True)
    elif result.no_match:
        click.echo(f"no good match (no fix reaches relevance {result.min_relevance:.2f}); closest:")
    for rank, hit in enumerate(result, 1):
        fix = hit.fix
        rel = "?" if hit.relevance is None else f"{hit.relevance:.2f}"
        mark = "  (below bar)" if hit.below_bar and not result.no_match else ""
        click.echo(f"{rank}. [relevance {rel}, score {hit.score:.3f}] {fix.id}{mark}  worked {_pct(fix.success_rate)} "
                   f"of {fix.successes + fix.failures}, seen {fix.occurrences}x"
                   f"{'  service=' + fix.service if fix.service else ''}")  # fmt: skip
        click.echo(f"   issue:    {_short(fix.issue, 100)}")
        click.echo(f"   solution: {_short(fix.solution, 100)}")
    if result.degraded:
        click.echo(f"degraded: answered by {', '.join(result.served_by)} only", err=True)


@cli.command()
@click.argument("fix_id")
@click.option("--worked/--failed", "success", required=True, help="Did the fix work this time?")
@click.option("--agent")
@json_option
@click.pass_context
def feedback(ctx: click.Context, fix_id: str, success: bool, agent: str | None,
             as_json: bool) -> None:  # fmt: skip
    """Report whether FIX_ID worked."""
    with _memory(ctx) as memory:
        result = memory.feedback(fix_id, success, agent=agent)
    if as_json:
        _out(result)
    else:
        click.echo(
            f"{fix_id}: {'worked' if success else 'failed'} recorded"
            + (f" (queued for {', '.join(result['pending'])})" if result.get("pending") else "")
        )


# ------------------------------------------------------------------ listings


@cli.command()
@click.option(
    "--remove",
    "remove",
    metavar="NAME",
    help="Forget this agent (its outcome trail goes; the fixes and counts stay).",
)
@json_option
@click.pass_context
def agents(ctx: click.Context, remove: str | None, as_json: bool) -> None:
    """Agents, their status (active/stale/inactive) and when they were last seen.

    Active: seen within 5 minutes; stale: within an hour; inactive: longer ago.
    """
    if remove is not None:
        with _memory(ctx) as memory:
            if not memory.remove_agent(remove):
                raise Failure(f"no agent named {remove!r}")
        if as_json:
            _out({"removed": remove})
        else:
            click.echo(f"removed agent {remove} (it comes back if it registers or reports again)")
        return
    with _memory(ctx) as memory:
        found = memory.get_all_agents()
    if as_json:
        _out([a.to_dict() for a in found])
        return
    _table([(a.name, a.status, a.server, _iso(a.last_seen), a.fixes_applied) for a in found],
           ["name", "status", "server", "last seen", "applied"])  # fmt: skip


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def _iso(ms: int | None) -> str:
    from obsmem.model import ms_to_iso

    return (ms_to_iso(ms) or "-")[:19].replace("T", " ")


@cli.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--agent")
@click.option("--service")
@click.option("--success/--failure", "success", default=None, help="Latest outcome.")
@click.option("--since", help="ISO-8601 time or a duration back from now (7d).")
@json_option
@click.pass_context
def fixes(ctx: click.Context, limit: int, offset: int, agent: str | None, service: str | None,
          success: bool | None, since: str | None, as_json: bool) -> None:  # fmt: skip
    """Recent fixes, newest first."""
    with _memory(ctx) as memory:
        found = memory.get_recent_fixes(limit, offset, agent=agent, service=service,
                                        success=success, since_ms=_since(since))  # fmt: skip
    if as_json:
        _out([f.to_dict() for f in found])
        return
    _table([(f.id, _iso(f.ts), f.service, _yes_no(f.success),
             f.occurrences, _short(f.issue, 60)) for f in found],
           ["id", "first seen", "service", "worked", "seen", "issue"])  # fmt: skip


@cli.command()
@click.argument("fix_id")
@json_option
@click.pass_context
def show(ctx: click.Context, fix_id: str, as_json: bool) -> None:
    """One fix in full: issue, solution, figures, and every outcome with who reported it."""
    with _memory(ctx) as memory:
        detail = memory.fix_detail(fix_id)
    if detail is None:
        raise Failure(f"no fix with id {fix_id!r}")
    if as_json:
        _out(detail)
        return
    f = detail["fix"]
    worked = {True: "worked", False: "failed"}.get(f.get("success"), "unknown")
    click.echo(f"id          {f['id']}")
    for key in ("service", "agent", "namespace", "severity", "root_cause", "confidence"):
        if f.get(key) not in (None, ""):
            click.echo(f"{key.replace('_', ' '):<11} {f[key]}")
    if f.get("tags"):
        click.echo(f"tags        {', '.join(f['tags'])}")
    click.echo(f"first seen  {(f.get('created_at') or '-')[:19].replace('T', ' ')}")
    click.echo(f"last seen   {(f.get('last_seen_at') or '-')[:19].replace('T', ' ')}")
    click.echo(f"outcome     {worked} (latest); {f.get('successes', 0)} worked, "
               f"{f.get('failures', 0)} failed, seen {f.get('occurrences', 0)}x")  # fmt: skip
    click.echo("\nissue:\n  " + "\n  ".join((f.get("issue") or "").splitlines() or [""]))
    click.echo("\nsolution:\n  " + "\n  ".join((f.get("solution") or "").splitlines() or [""]))
    click.echo("")
    if detail["outcomes"]:
        _table([((o.get("at") or "-")[:19].replace("T", " "), o.get("agent") or "-",
                 {True: "worked", False: "failed"}.get(o.get("success"), "-"))
                for o in detail["outcomes"]], ["when", "agent", "outcome"])  # fmt: skip
    else:
        click.echo("no outcomes reported by an agent yet")


@cli.command()
@click.argument("fix_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, fix_id: str, yes: bool) -> None:
    """Delete one fix from both stores (a store that is down gets the delete queued)."""
    with _memory(ctx) as memory:
        fix = memory.get_fix(fix_id)
        if fix is None:
            raise Failure(f"no fix with id {fix_id!r}")
        if not yes:
            click.confirm(f"delete {fix.id} ({_short(fix.issue, 60)})?", abort=True, err=True)
        memory.delete_fix(fix.id)
    click.echo(f"deleted {fix.id}")


@cli.command()
@json_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts per store, success rate and the outbox."""
    data_dir = _data_dir_line(_settings(ctx))
    with _memory(ctx) as memory:
        report = memory.stats()
    if as_json:
        _out({**report, "data_dir": str(_settings(ctx).data_dir_info.path)})
        return
    click.echo(f"data dir  {data_dir}")
    graph = report.get("graph") or {}
    vectors = report.get("vectors") or {}
    outbox = report.get("outbox") or {}
    click.echo(f"fixes     {report.get('fixes', '-')} (graph {graph.get('fixes', 'down')}, "
               f"vectors {vectors.get('fixes', 'down')})")  # fmt: skip
    click.echo(f"agents    {report.get('agents', '-')}")
    click.echo(f"outcomes  {report.get('outcomes', '-')}, success rate "
               f"{_pct(report.get('success_rate'))}")  # fmt: skip
    click.echo(f"outbox    {_outbox(outbox)}")


# ------------------------------------------------------------------ operations


@cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--with-vectors", is_flag=True,
              help="Include each fix's embedding (import can then skip re-embedding).")  # fmt: skip
@click.pass_context
def export_cmd(ctx: click.Context, path: Path, with_vectors: bool) -> None:
    """Write agents, fixes and outcomes to PATH as versioned JSONL ('-' for stdout)."""
    from obsmem.transfer import export

    with _memory(ctx) as memory:
        bar = _progress(memory.count_fixes(), "export")
        with bar:
            summary = export(memory.manager, path, with_vectors=with_vectors,
                             on_fix=lambda: bar.update(1))  # fmt: skip
    click.echo(f"exported {summary['fixes']} fixes, {summary['agents']} agents, "
               f"{summary['outcomes']} outcomes to {path}", err=True)  # fmt: skip


@cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, path: Path, batch_size: int, as_json: bool) -> None:
    """Load an export into the configured stores (idempotent: re-import changes nothing)."""
    from obsmem.transfer import import_file

    if str(path) != "-" and not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    with _memory(ctx) as memory:
        bar = _progress(None, "import")
        with bar:
            summary = import_file(memory.manager, path, batch_size=batch_size,
                                  on_fix=lambda: bar.update(1))  # fmt: skip
    if as_json:
        _out(summary)
    else:
        click.echo(f"imported {summary['fixes']} fixes, {summary['agents']} agents, "
                   f"{summary['outcomes']} outcomes; embedded {summary['embedded']}, "
                   f"vectors reused {summary['vectors_reused']}")  # fmt: skip


@cli.command()
@click.option("--repair", is_flag=True, help="Fix the drift, the graph being the source of truth.")
@click.option("--check", is_flag=True, help="Exit 1 if drift remains (for cron and CI).")
@json_option
@click.pass_context
def reconcile(ctx: click.Context, repair: bool, check: bool, as_json: bool) -> None:
    """Compare the graph and the vector store: ids in only one, differing figures."""
    from obsmem.reconcile import reconcile as run

    with _memory(ctx) as memory:
        report = run(memory.manager, repair=repair)
    if as_json:
        _out(report.to_dict())
    else:
        for line in report.summary_lines():
            click.echo(line)
    if check and report.remaining_drift:
        ctx.exit(1)


@cli.command()
@click.option("--older-than", required=True, help="Age by last seen: 90d, 12h, 2w.")
@click.option("--keep-successful", is_flag=True, help="Keep fixes that ever worked.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@json_option
@click.pass_context
def prune(ctx: click.Context, older_than: str, keep_successful: bool, dry_run: bool,
          as_json: bool) -> None:  # fmt: skip
    """Delete fixes not seen for a while, from both stores together."""
    from obsmem.retention import parse_duration
    from obsmem.retention import prune as run

    age = parse_duration(older_than)
    with _memory(ctx) as memory:
        plan = run(memory, age, keep_successful=keep_successful, dry_run=dry_run)
    if as_json:
        _out(plan.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for fix in plan.candidates if dry_run else []:
        click.echo(f"{fix['id']}  {fix['last_seen'][:10]}  {_short(fix['issue'], 70)}")
    count = len(plan.candidates) if dry_run else plan.deleted
    click.echo(
        f"{verb} {count} of {plan.scanned} fixes last seen before {plan.to_dict()['cutoff']}"
        + (f"; kept {plan.kept_successful} that worked" if keep_successful else "")
    )


@cli.command()
@json_option
@click.pass_context
def demo(ctx: click.Context, as_json: bool) -> None:
    """Seed realistic demo agents and fixes (idempotent: a second run adds nothing)."""
    from obsmem.demo import seed

    with _memory(ctx) as memory:
        summary = seed(memory)
    if as_json:
        _out(summary)
    else:
        click.echo(f"demo set: {summary['fixes']} fixes, {summary['agents']} agents, "
                   f"{summary['events']} events")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> Any:
    """Console-script entry point (`obsmem = obsmem.cli:main`)."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="obsmem")


run: Callable[..., Any] = main

if __name__ == "__main__":
    main()
