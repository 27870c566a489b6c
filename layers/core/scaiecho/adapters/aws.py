"""Lazily created, cached boto3 clients (never at import time: tests and moto need that)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from scaiecho.settings import get_settings


@cache
def client(service: str, *, read_timeout: float = 60.0) -> Any:
    settings = get_settings()
    return boto3.client(
        service,
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            read_timeout=read_timeout,
            connect_timeout=5,
        ),
    )


def reset_clients() -> None:
    """Forget cached clients (after settings change: tests, the local stack)."""
    client.cache_clear()
