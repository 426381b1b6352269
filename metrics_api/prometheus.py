"""`/metrics` in Prometheus' text format: request counts and latency, refresh and store state.

Request metrics are counted by a pure ASGI middleware, labelled by the route's template
(never the raw path: tree ids would make one series per tree). Refresh and store metrics
are read at scrape time from the run history and the served snapshot, so every worker
answers the same. With several workers, prometheus_client's multiprocess mode (its
PROMETHEUS_MULTIPROC_DIR, set by `flowmetrics serve --workers N` before the workers start)
sums the request metrics of all of them. Never writes the store, never reads PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etl.errors import StoreUnavailable
from metrics_api.ops import RunHistory, timestamp
from metrics_api.reader import StoreReader

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the scrape and nobody graphs them

STAGES = ("extract", "transform", "publish")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess() -> bool:
    """True when prometheus_client writes values to files shared by all workers."""
    return values.ValueClass is not values.MutexValue


class RequestMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self) -> None:
        # A private registry per app (tests build many apps in one process); in multiprocess
        # mode the values go to the shared files whatever the registry.
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "method", "status")
        self.requests = Counter("flowmetrics_http_requests", "HTTP requests answered.", labels, registry=self.registry)
        self.latency = Histogram(
            "flowmetrics_http_request_duration_seconds",
            "Seconds from request to the end of the response body.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        # The labelled children, looked up once per (route, method, status): `labels()` costs
        # more than the increment itself.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = self._children[key] = (self.requests.labels(*labels), self.latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)


class RequestMetricsMiddleware:
    """Counts every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router has put the matched route into the scope by now.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"  # labels stay bounded
            self.metrics.observe(route, method, status, time.perf_counter() - started)


class StoreCollector(Collector):
    """Refresh and store gauges, computed at scrape time from files every worker sees."""

    def __init__(self, reader: StoreReader, history: RunHistory) -> None:
        self.reader, self.history = reader, history

    def collect(self) -> Iterable[Metric]:
        yield from self._runs(self.history.runs())
        yield from self._store()

    def _runs(self, runs: list[dict[str, Any]]) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "flowmetrics_last_success_timestamp_seconds",
            "When the last successful refresh of each mode finished (Unix time).",
            labels=["mode"],
        )
        as_of = GaugeMetricFamily(
            "flowmetrics_last_success_as_of_timestamp_seconds",
            "as_of of the last successful refresh of each mode (Unix time).",
            labels=["mode"],
        )
        newest: dict[str, dict[str, Any]] = {}
        for run in runs:
            if run.get("status") == "success":
                newest[str(run.get("mode"))] = run
        for mode, run in sorted(newest.items()):
            if (finished := timestamp(run.get("finished_at"))) is not None:
                success.add_metric([mode], finished)
            if (stamp := timestamp(run.get("as_of"))) is not None:
                as_of.add_metric([mode], stamp)
        yield success
        yield as_of

        # Its own name (also in the family above, as mode="incremental"): the one alert rule
        # on incremental freshness needs no label matching, and no sample means none ran.
        incremental = GaugeMetricFamily(
            "flowmetrics_last_incremental_timestamp_seconds",
            "When the last successful incremental refresh finished (Unix time); absent when none did.",
        )
        if (finished := timestamp(newest.get("incremental", {}).get("finished_at"))) is not None:
            incremental.add_metric([], finished)
        yield incremental

        finished_runs = [r for r in runs if r.get("status") in ("success", "failed")]
        last = finished_runs[-1] if finished_runs else None
        seconds = GaugeMetricFamily(
            "flowmetrics_last_run_stage_seconds", "Seconds per stage of the last finished run.", labels=["stage"]
        )
        rows = GaugeMetricFamily(
            "flowmetrics_last_run_stage_rows", "Rows per stage of the last finished run.", labels=["stage"]
        )
        ok = GaugeMetricFamily("flowmetrics_last_run_success", "1 if the last finished run succeeded, else 0.")
        if last is not None:
            for stage in STAGES:
                seconds.add_metric([stage], float(last.get(f"{stage}_seconds") or 0.0))
                rows.add_metric([stage], float(last.get(f"{stage}_rows") or 0))
            ok.add_metric([], 1.0 if last.get("status") == "success" else 0.0)
        yield seconds
        yield rows
        yield ok

        failures = CounterMetricFamily(
            "flowmetrics_refresh_failures", "Failed refresh runs in the run history, by step.", labels=["step"]
        )
        outcomes = CounterMetricFamily(
            "flowmetrics_refresh_runs", "Refresh runs in the run history, by status.", labels=["status"]
        )
        by_step: dict[str, int] = {}
        by_status: dict[str, int] = {}
        for run in runs:
            status = str(run.get("status"))
            by_status[status] = by_status.get(status, 0) + 1
            if status == "failed":
                step = str(run.get("failed_step") or "unknown")
                by_step[step] = by_step.get(step, 0) + 1
        for step, count in sorted(by_step.items()):
            failures.add_metric([step], count)
        for status, count in sorted(by_status.items()):
            outcomes.add_metric([status], count)
        yield failures
        yield outcomes
        yield from self._fallbacks_and_drift(runs)

    def _fallbacks_and_drift(self, runs: list[dict[str, Any]]) -> Iterator[Metric]:
        fallbacks = CounterMetricFamily(
            "flowmetrics_refresh_fallbacks",
            "Runs that recomputed from the source instead of reading what changed, by mode; "
            "the last one's reason is in the info metric and refresh_runs.fallback.",
            labels=["mode"],
        )
        by_mode: dict[str, int] = {}
        last_reason = None
        for run in runs:
            if run.get("fallback") and run.get("status") == "success":
                mode = str(run.get("mode"))
                by_mode[mode] = by_mode.get(mode, 0) + 1
                last_reason = str(run["fallback"])
        for mode, count in sorted(by_mode.items()):
            fallbacks.add_metric([mode], count)
        yield fallbacks
        reason = GaugeMetricFamily(
            "flowmetrics_last_fallback_info", "1, labelled with why the last fallback recomputed.", labels=["reason"]
        )
        if last_reason is not None:
            reason.add_metric([last_reason[:200]], 1.0)
        yield reason
        drift = GaugeMetricFamily(
            "flowmetrics_drift_rows",
            "Rows per table in which the last hourly's source reads differed from the incremental state (0: exact).",
            labels=["table"],
        )
        checked = [r for r in runs if r.get("drift_rows") and r.get("status") == "success"]
        if checked:
            try:
                per_table = json.loads(str(checked[-1]["drift_rows"]))
            except ValueError:
                per_table = {}
            for table, count in sorted(per_table.items()):
                drift.add_metric([str(table)], float(count))
        yield drift

    def _store(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("flowmetrics_store_up", "1 while a store is being served, else 0.")
        age = GaugeMetricFamily("flowmetrics_store_age_seconds", "Seconds since the served store was built.")
        as_of = GaugeMetricFamily("flowmetrics_store_as_of_timestamp_seconds", "as_of of the served store (Unix time).")
        lag = GaugeMetricFamily(
            "flowmetrics_store_lag_seconds",
            "Seconds from the served store's as_of to now (how far it trails the source).",
        )
        try:
            snap = self.reader.snapshot()
        except StoreUnavailable:
            up.add_metric([], 0.0)
        else:
            now = datetime.now(UTC)
            up.add_metric([], 1.0)
            as_of.add_metric([], snap.as_of.timestamp())
            lag.add_metric([], (now - snap.as_of).total_seconds())
            if snap.built_at is not None:
                age.add_metric([], (now - snap.built_at).total_seconds())
        yield up
        yield age
        yield as_of
        yield lag


def exposition(requests: RequestMetrics, store: StoreCollector) -> bytes:
    """The text a scrape gets: this process's (or all workers') requests, then the store's state."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(requests.registry))
    registry.register(store)
    return generate_latest(registry)


class _Forward(Collector):
    """Exposes another registry's metrics inside the scrape's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def build_metrics_router(requests: RequestMetrics, store: StoreCollector) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus scrape: no auth, no tenant data (counts and times only)."""
        return Response(exposition(requests, store), media_type=CONTENT_TYPE_LATEST)

    return router
