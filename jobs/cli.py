"""The `flowmetrics` command line: refresh, schedule, serve, seed, status, sql, export, demo.

Every expected failure prints one line (`error: ...`) and exits 1, a bad argument too (exit
2); nothing here computes metrics or touches the store except through etl and metrics_api.
Only `demo` starts the embedded PostgreSQL: `refresh`, `seed` and `schedule` need DATABASE_URL.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import NoReturn, TypeVar

from etl import database
from etl.config import DASK_ADDRESS, Config
from etl.errors import ConfigError, FlowmetricsError
from jobs.logs import configure_logging, without_run_outcome
from jobs.progress import Parser, Progress, refresh_event, report_refresh, seed_event
from synthetic import SEED_STAGES

T = TypeVar("T")

log = logging.getLogger("flowmetrics.cli")

DEMO_SECRET = "flowmetrics-demo-secret-not-for-production"

AS_OF_SLACK = timedelta(minutes=5)
"""How far in the future --as-of may be (clock skew between hosts); a backfill's is in the past."""


class QueryError(FlowmetricsError):
    """A `flowmetrics sql` query was refused or failed."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, `error: ...`, like every other failure (exit 2)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"error: {text} (see `{self.prog} --help`)\n")


def _parsed(text: str, parse: Callable[[str], T], what: str, example: str) -> T:
    """`parse(text)`, or the argument error naming what was expected and an example."""
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}; use e.g. {example}") from None


def as_of_time(text: str) -> datetime:
    """--as-of: ISO-8601; a time without an offset is UTC; at most AS_OF_SLACK ahead of now."""
    value = _parsed(text, datetime.fromisoformat, "an ISO-8601 time", "2026-11-01T00:00:00Z")
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    ahead = value - datetime.now(timezone.utc)
    if ahead > AS_OF_SLACK:
        from jobs.status import duration_text

        raise argparse.ArgumentTypeError(
            f"{text} is {duration_text(ahead.total_seconds())} in the future; give a time no later than now "
            f"(at most {AS_OF_SLACK.seconds // 60} minutes ahead), or leave it out for now"
        )
    return value


def seconds_to_wait(text: str) -> float:
    """--wait: seconds, 0 or more."""
    value = _parsed(text, float, "a number of seconds", "60")
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a time to wait; use 0 (fail at once) or more seconds")
    return value


def positive_int(text: str) -> int:
    """A count of 1 or more."""
    value = _parsed(text, int, "a whole number", "10")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; use 1 or more")
    return value


def scheduler_address(text: str) -> str:
    """--cluster: a Dask scheduler's address, as `dask scheduler` prints it."""
    if not DASK_ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Dask scheduler address; use e.g. tcp://dask-scheduler:8786"
        )
    return text


def app_source(config: Config) -> str:
    """DATABASE_URL: the app's PostgreSQL. Never the embedded one, which is the demo's and the tests'."""
    if config.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set: set it to the app's PostgreSQL (postgresql://user:password@host:5432/db), "
            "or run `flowmetrics demo` for a private PostgreSQL with synthetic data"
        )
    return config.database_url


def progress(
    args: argparse.Namespace,
    title: str,
    parse: Parser,
    *,
    stages: Sequence[str] = (),
    totals: dict[str, int] | None = None,
    stage_lines: bool = True,
) -> Progress:
    """A bar on a terminal; one line per stage in a pipe, with JSON logs or with --quiet."""
    interactive = sys.stderr.isatty() and not args.quiet and not args.json_logs_on
    return Progress(title, parse, stages=stages, totals=totals, interactive=interactive, stage_lines=stage_lines)


def cmd_refresh(config: Config, args: argparse.Namespace) -> int:
    from jobs.refresh import run_refresh

    url = app_source(config)
    cluster = None
    if args.cluster or args.workers:
        from jobs.cluster import ClusterSpec, check_installed

        check_installed()
        cluster = ClusterSpec(scheduler=args.cluster, workers=args.workers)
    # The stages are said once, from the run record; the refresh's own "done"/"failed" line is
    # left out, since the summary below (or main's `error:` line) says it.
    with without_run_outcome():
        with progress(args, "refresh", refresh_event, stages=("extract", "publish"), stage_lines=False) as bar:
            record = run_refresh(
                config,
                url,
                mode=args.mode,
                as_of=args.as_of,
                full=args.full,
                wait_seconds=args.wait,
                progress=bar,
                cluster=cluster,
            )
        report_refresh(bar, record)
    seconds = sum(s or 0.0 for s in (record.extract_seconds, record.transform_seconds, record.publish_seconds))
    notes = [
        *(["a backfill: as_of is before the published store's"] if record.backfill else []),
        *([f"recomputed from the source: {record.fallback}"] if record.fallback else []),
    ]
    print(
        f"refresh {record.mode} ok: as_of {record.as_of.isoformat()}, {record.publish_rows or 0:,} rows "
        f"published in {seconds:.1f} s (extract + transform + publish) -> {config.metrics_db}"
        + "".join(f"; {note}" for note in notes)
    )
    return 0


def cmd_schedule(config: Config, args: argparse.Namespace) -> int:
    from jobs.schedule import run_schedule

    run_schedule(config, app_source(config))
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
    try:
        from synthetic.seed import seed
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"seed needs the demo extra ({exc.name} is missing): pip install 'flowmetrics[demo]'"
        ) from None

    if args.sessions < 0 or args.accounts < 1 or args.days < 1:
        raise ConfigError("seed needs --sessions >= 0, --accounts >= 1 and --days >= 1")
    url = app_source(config)
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
        # The store and nothing else: no file, database or extension outside it, and no
        # setting the query could turn back.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        relation = con.sql(args.query)
        if relation is None:
            return 0
        relation.show(max_rows=args.max_rows, max_width=200)
    except duckdb.Error as exc:
        raise QueryError(_query_failure(exc, path.name)) from exc
    finally:
        con.close()
    return 0


def _query_failure(exc: Exception, store: str) -> str:
    import duckdb

    message = " ".join(str(exc).split("\n")[0].split())
    if isinstance(exc, duckdb.PermissionException):
        return f"query refused: `flowmetrics sql` reads only the store {store}, no files or extensions: {message}"
    if "read-only mode" in message:
        return f"query refused: the store {store} is read-only: {message}"
    if "configuration has been locked" in message:
        return f"query refused: `flowmetrics sql` does not change settings: {message}"
    return f"query failed on {store}: {message}"


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
    parser = ArgumentParser(prog="flowmetrics", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--json-logs", action="store_true", help="one JSON object per log line (or METRICS_JSON_LOGS=1)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="also debug lines (every query and chunk)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("refresh", help="extract, transform and publish a new store")
    p.add_argument(
        "--mode",
        choices=("incremental", "hourly", "nightly"),
        default="hourly",
        help="incremental: only what changed since the last refresh; hourly (default): window rollups "
        "from the last 90 days; nightly: all history too",
    )
    p.add_argument(
        "--full", action="store_true", help="with --mode nightly: rebuild all history instead of the changed days"
    )
    p.add_argument(
        "--as-of",
        type=as_of_time,
        help="reference time (ISO-8601, default now; no offset means UTC; a past time backfills)",
    )
    p.add_argument(
        "--wait",
        type=seconds_to_wait,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a running refresh to finish (default: fail at once)",
    )
    spread = p.add_mutually_exclusive_group()
    spread.add_argument(
        "--cluster",
        type=scheduler_address,
        metavar="ADDRESS",
        help="with --mode nightly --full: read and build the older history on this Dask scheduler's workers "
        "(default: METRICS_DASK_SCHEDULER, or this process)",
    )
    spread.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="with --mode nightly --full: the same on N local Dask worker processes, started for the run",
    )
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser(
        "schedule",
        help="run incremental refreshes on an interval and hourly and nightly refreshes on their cron schedules",
    )
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
    p.add_argument("--limit", type=positive_int, default=10, metavar="N", help="runs to show (default 10)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sql", help="run a read-only query on the store")
    p.add_argument("query")
    p.add_argument("--max-rows", type=positive_int, default=40, metavar="N")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "full", False) and args.mode != "nightly":
        parser.error(f"--full goes with --mode nightly only, not --mode {args.mode}")
    if args.command == "refresh" and (args.cluster or args.workers) and not args.full:
        flag = f"--cluster {args.cluster}" if args.cluster else f"--workers {args.workers}"
        parser.error(f"{flag} builds the history of a full rebuild: use it with --mode nightly --full")
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
