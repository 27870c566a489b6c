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


@cache
def dynamodb_connection() -> Any:
    """pynamodb's low-level connection, for transactions. One per process: each new one builds
    a botocore client, which parses botocore's endpoint data (~1 MB of JSON) under the GIL;
    a connection per transaction was most of the API process's CPU with 20 intakes at once."""
    from pynamodb.connection import Connection

    settings = get_settings()
    return Connection(region=settings.region, host=settings.aws_endpoint_url)


def reset_clients() -> None:
    """Forget cached clients (after settings change: tests, the local stack)."""
    client.cache_clear()
    dynamodb_connection.cache_clear()
