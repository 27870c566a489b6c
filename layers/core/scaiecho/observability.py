"""Logs, traces and metrics with aws-lambda-powertools: one Logger, Tracer and Metrics per
process, created on first use (never at import), and :func:`lambda_entry`, which every
function's ``lambda_handler`` goes through (Lambda context and correlation id in every log line,
an X-Ray segment around the invocation with the AWS SDK calls traced, EMF metrics flushed).

Never pass audio, embeddings or API keys to the logger: the redacting formatter below is a
safety net for keys with those names, not a licence to log them.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "scaiecho"
NAMESPACE = "ScaiEcho"
_SENSITIVE = frozenset(
    {"embedding", "embeddings", "voiceprint", "audio", "api_key", "authorization", "secret"}
)


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return super().serialize(_redact(log) if isinstance(log, dict) else log)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if str(k).lower() in _SENSITIVE else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    """The one process-wide logger (created on first use, not at import)."""
    from scaiecho.settings import get_settings

    return Logger(
        service=SERVICE, level=get_settings().log_level, logger_formatter=RedactingFormatter()
    )


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """Disabled outside Lambda (Powertools checks the runtime); on AWS it patches botocore, so
    every DynamoDB, S3, KMS, SageMaker and Step Functions call is a subsegment."""
    return Tracer(service=SERVICE)


@lru_cache(maxsize=1)
def get_metrics() -> Metrics:
    return Metrics(namespace=NAMESPACE, service=SERVICE)


# Metrics is one object per process; the local stack runs workflow tasks in threads at once
# (on Lambda one invocation has the process), so adding and flushing take turns.
_METRICS_LOCK = threading.Lock()


def record(name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
    """One EMF metric point (flushed at the end of the invocation, or when 100 accumulate)."""
    with _METRICS_LOCK:
        get_metrics().add_metric(name=name, unit=unit, value=value)


def record_outcome(what: str, outcome: str, duration_s: float | None) -> None:
    """``<What><Outcome>`` count (e.g. ``EnrollmentReady``) and ``<What>Duration`` seconds."""
    record(f"{what}{outcome.title().replace('_', '')}", 1)
    if duration_s is not None and duration_s >= 0:
        record(f"{what}Duration", duration_s, MetricUnit.Seconds)


# Where each kind of event carries the id that ties its log lines together.
CORRELATION_API = correlation_paths.API_GATEWAY_REST
CORRELATION_WEBSOCKET = "requestContext.connectionId"

Handler = Callable[[Any, Any], Any]


def lambda_entry(*, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Decorate a function's ``lambda_handler``: logger context + correlation id, tracer, metrics.

    The Powertools decorators are applied on the first call, so importing a function's module
    creates no logger, tracer or client.
    """

    def decorate(handler: Handler) -> Handler:
        wrapped: list[Handler] = []

        @functools.wraps(handler)
        def entry(event: Any, context: Any) -> Any:
            if not wrapped:
                traced = get_tracer().capture_lambda_handler(handler, capture_response=False)
                wrapped.append(get_logger().inject_lambda_context(
                    traced, correlation_id_path=correlation_id_path, clear_state=True))
            try:
                return wrapped[0](event, context)
            finally:
                _flush_metrics()
                # The local stack runs tasks in the API's process: later request logs must not
                # carry this invocation's context (on Lambda the next invocation clears it too).
                get_logger().clear_state()

        return entry

    return decorate


def _flush_metrics() -> None:
    """Never fails the invocation: metrics are a report on the work, not part of it."""
    with _METRICS_LOCK:
        metrics = get_metrics()
        if not metrics.metric_set:  # nothing recorded: no empty EMF document, no warning
            return
        try:
            metrics.flush_metrics()
        except Exception:  # a malformed metric set; the work itself succeeded
            get_logger().exception("metrics could not be flushed")
