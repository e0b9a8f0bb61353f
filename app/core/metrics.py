"""Prometheus metrics, exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "ccapi_http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "ccapi_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_WRITTEN = Counter("ccapi_events_total", "Events written, by type.", ["type"])
WEBHOOK_DELIVERIES = Counter(
    "ccapi_webhook_deliveries_total", "Webhook deliveries finished, by outcome.", ["outcome"]
)
WEBHOOK_ATTEMPTS = Counter(
    "ccapi_webhook_attempts_total", "Webhook delivery attempts, by result.", ["result"]
)
WEBHOOK_QUEUE_DEPTH = Gauge("ccapi_webhook_queue_depth", "Deliveries waiting to be sent.")
WEBHOOK_DUE = Gauge("ccapi_webhook_due", "Pending deliveries whose next attempt is due now.")
WEBHOOK_OLDEST_PENDING = Gauge(
    "ccapi_webhook_oldest_pending_age_seconds", "Age of the oldest pending delivery."
)
WEBHOOK_LATENCY = Histogram(
    "ccapi_webhook_delivery_latency_seconds",
    "From event to successful delivery.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
RETENTION_PURGED = Counter(
    "ccapi_retention_purged_total",
    "Rows the retention job deleted, by kind (private_note, webhook_delivery, event, export).",
    ["kind"],
)
