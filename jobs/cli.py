"""The `flowmetrics` command line: refresh, schedule, serve, seed, status, sql, export, demo.

Every expected failure prints one line (`error: ...`) and exits 1; nothing here computes
metrics or touches the store except through etl and metrics_api.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone

from etl import database
from etl.config import Config
from etl.errors import ConfigError, FlowmetricsError, StoreUnavailable
from jobs.logs import configure_logging
from jobs.progress import Parser, Progress, refresh_event, seed_event
from synthetic import SEED_STAGES
from synthetic.embedded import source_url

log = logging.getLogger("flowmetrics.cli")

DEMO_SECRET = "flowmetrics-demo-secret-not-for-production"


def parse_as_of(text: str | None) -> datetime | None:
    """ISO-8601; a time without an offset is taken as UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not an ISO-8601 time; use e.g. 2026-11-01T00:00:00Z") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def progress(
    args: argparse.Namespace,
    title: str,
    parse: Parser,
    *,
    stages: Sequence[str] = (),
    totals: dict[str, int] | None = None,
) -> Progress:
    """A bar on a terminal; one line per stage in a pipe, with JSON logs or with --quiet."""
    interactive = sys.stderr.isatty() and not args.quiet and not args.json_logs_on
    return Progress(title, parse, stages=stages, totals=totals, interactive=interactive)


def cmd_refresh(config: Config, args: argparse.Namespace) -> int:
    from jobs.refresh import run_refresh

    as_of = parse_as_of(args.as_of)
    url = source_url(config)
    with progress(args, "refresh", refresh_event, stages=("extract", "publish")) as bar:
        record = run_refresh(config, url, mode=args.mode, as_of=as_of, wait_seconds=args.wait, progress=bar)
    print(
        f"refresh {record.mode} ok: as_of {record.as_of.isoformat()}, "
        f"extract {record.extract_rows} rows / {record.extract_seconds:.1f} s, "
        f"transform {record.transform_rows} rows / {record.transform_seconds:.1f} s, "
        f"publish {record.publish_rows} rows / {record.publish_seconds:.1f} s -> {config.metrics_db}"
    )
    return 0


def cmd_schedule(config: Config, args: argparse.Namespace) -> int:
    from jobs.schedule import run_schedule

    run_schedule(config, source_url(config))
    return 0


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    import uvicorn

    from metrics_api import app as api

    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers} is not a number of processes; use 1 or more")
    level = "warning" if args.quiet else "info"
    application = api.create_app(config, demo=args.demo)  # also checks the config before any worker starts
    if args.workers == 1:
        uvicorn.run(application, host=args.host, port=args.port, log_level=level)
        return 0
    del application
    # Each worker is a new interpreter that builds its own app (and store reader) from the
    # environment through the import-string factory; prometheus_client sums the workers'
    # request metrics through files in PROMETHEUS_MULTIPROC_DIR, which must be set before
    # a worker imports it. The folder is fresh per serve, so no stale counts carry over.
    with tempfile.TemporaryDirectory(prefix="flowmetrics-metrics-") as metrics_dir:
        os.environ.update(args.environ or {})
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if args.demo and config.jwt_secret is None:
            os.environ["METRICS_JWT_SECRET"] = api.DEMO_SECRET
        uvicorn.run(
            "metrics_api.app:app_from_env",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level=level,
        )
    return 0


def cmd_seed(config: Config, args: argparse.Namespace) -> int:
    from synthetic.seed import seed

    if args.sessions < 0 or args.accounts < 1 or args.days < 1:
        raise ConfigError("seed needs --sessions >= 0, --accounts >= 1 and --days >= 1")
    url = source_url(config, create=True)
    with progress(args, "seed", seed_event, stages=SEED_STAGES, totals={"sessions": args.sessions}) as bar:
        report = seed(
            url,
            sessions=args.sessions,
            accounts=args.accounts,
            days=args.days,
            seed=args.seed,
            clean=args.clean,
            append=args.append,
            progress=bar,
        )
    print(
        f"seeded {report.sessions} sessions, {report.users} users, {report.trees} trees, "
        f"{report.session_ratings} ratings, {report.step_ratings} step ratings "
        f"({report.dirty_rows} dirty rows) in {report.seconds:.1f} s into {database.redact(url)}"
    )
    return 0


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from jobs.status import render_status

    print(render_status(config, limit=args.limit))
    return 0


def cmd_sql(config: Config, args: argparse.Namespace) -> int:
    import duckdb

    from etl.store import open_store

    path, con = open_store(config.metrics_db)
    try:
        relation = con.sql(args.query)
        if relation is None:
            return 0
        relation.show(max_rows=args.max_rows, max_width=200)
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise StoreUnavailable(f"query failed on {path.name} (the store is read-only): {message}") from exc
    finally:
        con.close()
    return 0


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from jobs.export import export_store

    result = export_store(config.metrics_db, Path(args.folder), fmt=args.format)
    print(
        f"exported {len(result.tables)} tables ({sum(result.tables.values())} rows) of {result.store.name} "
        f"as {args.format} into {result.folder} (schema in schema.json)"
    )
    return 0


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from jobs.demo import run_demo

    bars = functools.partial(progress, args)
    return run_demo(config, sessions=args.sessions, host=args.host, port=args.port, secret=DEMO_SECRET, progress=bars)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmetrics", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--json-logs", action="store_true", help="one JSON object per log line (or METRICS_JSON_LOGS=1)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="also debug lines (every query and chunk)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("refresh", help="extract, transform and publish a new store")
    p.add_argument(
        "--mode",
        choices=("hourly", "nightly"),
        default="hourly",
        help="hourly: window rollups from the last 90 days; nightly: all history too",
    )
    p.add_argument("--as-of", help="reference time (ISO-8601, default now; no offset means UTC)")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a running refresh to finish (default: fail at once)",
    )
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("schedule", help="run hourly and nightly refreshes on their cron schedules")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("serve", help="serve the read API from the store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="allow a built-in JWT secret when none is set")
    p.add_argument("--workers", type=int, default=1, help="server processes (each with its own store reader)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("seed", help="load synthetic data into a fresh source database")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--accounts", type=int, default=5)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--clean", action="store_true", help="no dirty rows")
    p.add_argument("--append", action="store_true", help="add to a database that already has sessions")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("status", help="latest refresh runs and the store's age")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sql", help="run a read-only query on the store")
    p.add_argument("query")
    p.add_argument("--max-rows", type=int, default=40)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("export", help="write every store table as Parquet, with a schema file, into a folder")
    p.add_argument("--format", choices=("parquet",), default="parquet")
    p.add_argument("folder", metavar="DIR", help="created if missing; only the export's files are written there")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="embedded PostgreSQL + seed + nightly refresh + API, in one go")
    p.add_argument("--sessions", type=int, default=50_000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.environ = environ
    try:
        config = Config.from_env(environ)
        args.json_logs_on = args.json_logs or config.json_logs
        configure_logging(json_logs=args.json_logs_on, quiet=args.quiet, verbose=args.verbose)
        return int(args.func(config, args))
    except FlowmetricsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
