"""Structured logging with aws-lambda-powertools.

Never pass audio, embeddings or API keys to the logger: the redacting formatter below is a
safety net for keys with those names, not a licence to log them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "scaiecho"
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
