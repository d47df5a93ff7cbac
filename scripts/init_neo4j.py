#!/usr/bin/env python3
"""Create obsmem's graph indexes and constraints (idempotent), verify them, print statistics.

Targets NEO4J_URI (with NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE); without it,
FALKORDB_URL; without that, the embedded FalkorDB of OBSMEM_DATA_DIR (started for
the run and left as it was found). Exit codes: 0 ok, 1 schema incomplete,
2 server unreachable, 3 credentials refused, 4 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from obsmem.config import ConfigError, Settings
from obsmem.stores.graph import GraphAuthError, GraphUnavailable, open_graph
from obsmem.stores.graph.admin import format_report, init_schema


def _fail(code: int, message: str) -> int:
    print(f"init_neo4j: {message}".splitlines()[0], file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="print the statements, change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)  # one line on failure, not driver chatter

    embedded = None
    store = None
    try:
        settings = Settings.from_env()
        url = None
        if settings.graph_embedded:
            from obsmem.stores.embedded import EmbeddedServers

            embedded = EmbeddedServers(settings.data_dir, want_vectors=False).start(supervise=False)
            url = embedded.falkordb_url()
        store = open_graph(settings, falkordb_url=url)
        report = init_schema(store, dry_run=args.dry_run)
    except GraphAuthError as exc:
        return _fail(3, f"credentials refused: {exc}")
    except GraphUnavailable as exc:
        return _fail(2, f"graph unreachable: {exc}")
    except ConfigError as exc:
        return _fail(4, f"bad configuration: {exc}")
    except Exception as exc:  # any other failure: still one line, no traceback
        return _fail(1, f"{type(exc).__name__}: {exc}")
    finally:
        if store is not None:
            store.close()
        if embedded is not None:
            embedded.stop()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif args.dry_run:
        print("\n".join(report.statements))
        print(format_report(report))
    else:
        print(format_report(report))
    return 0 if (report.ok or args.dry_run) else 1


if __name__ == "__main__":
    sys.exit(main())
