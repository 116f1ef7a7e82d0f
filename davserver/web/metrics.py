"""``GET /metrics``: Prometheus text format (prometheus-client), one registry per server.

Counted from every request (``RequestMetrics`` is a ``RequestWatch`` observer):

- ``davsync_http_requests_total{method,status}`` (methods outside the known set as ``OTHER``);
- ``davsync_http_request_bytes_total`` / ``davsync_http_response_bytes_total``;
- ``davsync_http_request_duration_seconds{method}`` (histogram).

Read when scraped (``StateCollector``):

- ``davsync_upload_sessions_open{user}``: upload sessions not committed yet;
- ``davsync_collection_available``: 1 when the arrival journal is there;
- ``davsync_trigger_queue_depth``; ``davsync_trigger_failures{state="retrying"|"dead"}``
  (of the newest ``FAILURES_SCANNED`` failures);
- ``davsync_site_last_arrival_timestamp_seconds{user}``, ``davsync_site_late{user}``.

Who may read it is decided by the caller (``davserver.web.front``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from davserver.collection.model import CollectionView
from davserver.context import ServerContext
from davserver.web.access_log import RequestRecord
from davserver.web.wsgi import StartResponse, respond

PATH = "/metrics"
FAILURES_SCANNED = 1000
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH", "MKCOL"}
    | {"COPY", "MOVE", "LOCK", "UNLOCK", "PATCH"}
)


class RequestMetrics:
    """Request counters in ``registry``; call with each ``RequestRecord``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "davsync_http_requests",
            "HTTP requests by method and status",
            ["method", "status"],
            registry=registry,
        )
        self.bytes_in = Counter(
            "davsync_http_request_bytes", "Request body bytes received", registry=registry
        )
        self.bytes_out = Counter(
            "davsync_http_response_bytes", "Response body bytes sent", registry=registry
        )
        self.duration = Histogram(
            "davsync_http_request_duration_seconds",
            "Time from request to the end of the response",
            ["method"],
            registry=registry,
        )

    def __call__(self, record: RequestRecord) -> None:
        method = record.method.upper()
        if method not in KNOWN_METHODS:
            method = "OTHER"
        self.requests.labels(method, str(record.status)).inc()
        self.bytes_in.inc(record.bytes_in)
        self.bytes_out.inc(record.bytes_out)
        self.duration.labels(method).observe(record.duration_s)


class StateCollector:
    """Gauges read from the upload service and the collection view at scrape time."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        uploads = GaugeMetricFamily(
            "davsync_upload_sessions_open", "Upload sessions not committed yet", labels=["user"]
        )
        if self.context.uploads is not None:
            for user, n in sorted(self.context.uploads.open_session_counts().items()):
                uploads.add_metric([user], n)
        yield uploads
        view = self.context.collection
        yield GaugeMetricFamily(
            "davsync_collection_available",
            "1 when the arrival journal and trigger queue are available",
            value=0 if view is None else 1,
        )
        if view is None:
            return
        yield GaugeMetricFamily(
            "davsync_trigger_queue_depth",
            "Trigger runs queued or retrying",
            value=view.trigger_queue_depth(),
        )
        failures = view.trigger_failures(limit=FAILURES_SCANNED)
        by_state = GaugeMetricFamily(
            "davsync_trigger_failures", "Failed trigger runs by state", labels=["state"]
        )
        by_state.add_metric(["retrying"], sum(1 for f in failures if not f.dead))
        by_state.add_metric(["dead"], sum(1 for f in failures if f.dead))
        yield by_state
        yield from self._sites(view)

    def _sites(self, view: CollectionView) -> Iterable[Metric]:
        last = GaugeMetricFamily(
            "davsync_site_last_arrival_timestamp_seconds",
            "Time of the newest arrival per site",
            labels=["user"],
        )
        for user in sorted(self.context.homes()):
            arrival = view.last_arrival(user)
            if arrival is not None:
                last.add_metric([user], arrival.time)
        yield last
        late = GaugeMetricFamily(
            "davsync_site_late", "1 while a site misses its expectation", labels=["user"]
        )
        for user, state in sorted(view.site_states(time.time()).items()):
            late.add_metric([user], 1 if state.health == "late" else 0)
        yield late


def new_registry(context: ServerContext) -> tuple[CollectorRegistry, RequestMetrics]:
    """A registry with the request counters and the state gauges of ``context``."""
    registry = CollectorRegistry(auto_describe=False)
    metrics = RequestMetrics(registry)
    registry.register(StateCollector(context))
    return registry, metrics


def serve_metrics(
    registry: CollectorRegistry, environ: dict[str, Any], start_response: StartResponse
) -> list[bytes]:
    """Answer ``GET``/``HEAD /metrics`` with the current values."""
    return respond(
        environ, start_response, "200 OK", generate_latest(registry), CONTENT_TYPE_LATEST
    )
