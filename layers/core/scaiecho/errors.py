"""The domain error tree.

Every failure the platform reports to a caller is one of these. Each class carries a stable
``code`` (the API's ``error.code``) and the HTTP ``status`` it maps to; the one place that turns
them into HTTP responses is :mod:`scaiecho.api.errors`.
"""

from __future__ import annotations

from typing import Any


class ScaiEchoError(Exception):
    """Base of every error the platform reports to a caller."""

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ValidationFailed(ScaiEchoError):
    code = "validation_error"
    status = 422


class BadRequest(ScaiEchoError):
    code = "bad_request"
    status = 400


class Unauthenticated(ScaiEchoError):
    code = "unauthenticated"
    status = 401


class Forbidden(ScaiEchoError):
    code = "forbidden"
    status = 403


class NotFound(ScaiEchoError):
    code = "not_found"
    status = 404


class Conflict(ScaiEchoError):
    code = "conflict"
    status = 409


class TooManyRequests(ScaiEchoError):
    """A per-tenant fair-use bound; ``details.retry_after_s`` becomes the Retry-After header."""

    code = "too_many_requests"
    status = 429


class PayloadTooLarge(ScaiEchoError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(ScaiEchoError):
    code = "unsupported_media_type"
    status = 415


class AudioError(ScaiEchoError):
    """Audio that cannot be used: undecodable, empty, too short, ..."""

    code = "audio_invalid"
    status = 422


class AudioUndecodable(AudioError):
    code = "audio_undecodable"


class AudioEmpty(AudioError):
    code = "audio_empty"


class AudioHeaderInvalid(AudioUndecodable):
    """The container's header declares something impossible (0 bits, 0 channels, short fmt).

    Same code as any undecodable file (clients already handle it); ``details.reason`` says more.
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"reason": "invalid_header", **(details or {})})


class AudioSampleRateUnsupported(AudioError):
    """A declared sample rate no recording has: decoding it would amplify a tiny file."""

    code = "audio_sample_rate_unsupported"


class AudioTooLong(AudioError):
    """Longer than the route allows, said by the header or found while decoding (then cut off)."""

    code = "audio_too_long"


class UnsupportedAudioCodec(ScaiEchoError):
    code = "unsupported_audio_codec"
    status = 415


class AudioUrlFailed(ScaiEchoError):
    """A remote ``audio_urls`` entry that is refused or cannot be fetched.

    At submit (the URL's form) it is a 422; in the job workflow (the fetch itself) it fails that
    job with its code (``audio_url_forbidden_address``, ``audio_url_timeout``, ...).
    """

    code = "audio_url_unreachable"
    status = 422


class AudioUrlTooLarge(AudioUrlFailed):
    """The remote recording is larger than a job may be (the 413 of a fetch)."""

    code = "audio_url_too_large"
    status = 413


class FeatureNotAvailable(ScaiEchoError):
    code = "feature_not_available"
    status = 404


class UpstreamError(ScaiEchoError):
    """A dependency (node, AWS service) failed in a way the caller cannot fix."""

    code = "upstream_error"
    status = 502


class StorageError(UpstreamError):
    """Wraps every DynamoDB/S3 failure once, in the adapters."""

    code = "storage_error"


class NodeError(UpstreamError):
    """A pyannote node failed or is unreachable."""

    code = "node_error"


class VoiceProviderError(UpstreamError):
    """The node that computes a voice profile's embedding failed or none is online."""

    code = "voice_provider_error"


class ServiceUnavailable(ScaiEchoError):
    code = "service_unavailable"
    status = 503
