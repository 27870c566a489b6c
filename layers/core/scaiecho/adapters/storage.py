"""The data layer's one translation of SDK failures into :class:`~scaiecho.errors.StorageError`.

Every store method that touches DynamoDB is decorated with :func:`storage_call`; a method may
still catch the specific pynamodb errors it expects (``DoesNotExist``, a failed condition) and
turn them into results, and re-raise anything else for the decorator to translate.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from scaiecho.errors import StorageError

F = TypeVar("F", bound=Callable[..., Any])

# pynamodb wraps most botocore failures, but transactions and batch reads can let them through.
SDK_ERRORS = (PynamoDBException, BotoCoreError, ClientError)


@contextmanager
def storage_errors(message: str) -> Iterator[None]:
    """Translate SDK failures inside the block into ``StorageError(message)``."""
    try:
        yield
    except SDK_ERRORS as exc:
        raise StorageError(message) from exc


def storage_call(message: str) -> Callable[[F], F]:
    """Decorate a store method: SDK failures become ``StorageError(message)``.

    Generator methods are wrapped around their iteration, where the reads actually happen.
    """

    def decorate(fn: F) -> F:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def iterate(*args: Any, **kwargs: Any) -> Any:
                with storage_errors(message):
                    yield from fn(*args, **kwargs)

            return cast(F, iterate)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            with storage_errors(message):
                return fn(*args, **kwargs)

        return cast(F, call)

    return decorate
