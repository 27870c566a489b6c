"""Idempotent retries (``Idempotency-Key``) with aws-lambda-powertools' idempotency utility.

The first result for (scope, key) is stored in the idempotency table and replayed for 24 h; the
same key with a different request is refused, and a concurrent duplicate gets a 409. A request
that crashed mid-way holds its key only for ``idempotency_in_flight_s``: then a retry may run.
Callers store only what they need to rebuild the answer (ids, outcomes), never personal data, so
an erasure leaves nothing behind in this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from scaiecho.adapters.aws import client
from scaiecho.errors import Conflict, ValidationFailed
from scaiecho.settings import get_settings

TTL_S = 24 * 3600


@dataclass(frozen=True)
class _InFlightBound:
    """Powertools bounds an in-progress record by the Lambda's remaining time; we give it ours
    (longer than any request may run, far shorter than the 24 h replay window)."""

    seconds: float

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def _persistence(table: str) -> DynamoDBPersistenceLayer:
    # The project's cached client: its endpoint follows the settings and reset_clients() forgets
    # it. A layer cached by table name kept the first endpoint it saw (a stopped stack's).
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=client("dynamodb"))


def run_idempotent(
    *, scope: str, key: str, fingerprint: str, work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1-255 characters", code="invalid_idempotency_key")
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="fingerprint",
        expires_after_seconds=TTL_S,
    )
    config.register_lambda_context(_InFlightBound(get_settings().idempotency_in_flight_s))  # type: ignore[arg-type]

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=_persistence(get_settings().idempotency_table),
        config=config,
    )
    def _run(request: dict[str, str]) -> dict[str, Any]:
        return work()

    try:
        result: dict[str, Any] = _run(request={"key": f"{scope}:{key}", "fingerprint": fingerprint})
    except IdempotencyValidationError as exc:
        raise ValidationFailed(
            "this Idempotency-Key was already used for a different request",
            code="idempotency_key_reused",
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress", code="request_in_progress"
        ) from exc
    return result
