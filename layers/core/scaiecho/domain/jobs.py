"""Transcription jobs (pure): the request, its validation, where its audio may come from.

Every bad value is a 422 with its own ``error.code``, so a client can tell which field to fix.
An ``audio_urls`` entry is either an object of this deployment's bucket under the caller's tenant
(read in place; another tenant's object or another bucket is ``audio_url_not_allowed``) or a
remote ``https://`` recording (``http://`` only for hosts the operator allowlist names). Remote
ones are checked here for their form only; the job workflow's fetch step downloads them through
the hardened fetcher, which checks every address it connects to (SSRF:
:mod:`scaiecho.domain.audio_urls`). The API function never fetches a URL.

Several URLs in one request make a batch: one job per file, the same options for every file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from scaiecho.domain.audio_urls import Allowlist, parse_remote_url
from scaiecho.errors import ValidationFailed

BACKENDS = ("pyannote", "nemo")
DEFAULT_BACKEND = "pyannote"
MIN_SPEAKERS, MAX_SPEAKERS = 1, 20
MAX_SPEAKER_IDS = 100
MAX_AUDIO_URLS = 20  # files in one batch request
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_CONFIG_KEYS = {"backend", "min_speakers", "max_speakers"}
# ``speakerIds``: the speaker-enrollment guide's (seed 002) spelling of ``speaker_ids``.
_REQUEST_KEYS = {"audio_urls", "language", "diarize", "diarization_config", "speaker_ids", "speakerIds",
                 "match_me"}


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class DiarizationConfig:
    backend: str = DEFAULT_BACKEND
    min_speakers: int | None = None
    max_speakers: int | None = None

    def serialize(self) -> dict[str, Any]:
        return {"backend": self.backend, "min_speakers": self.min_speakers,
                "max_speakers": self.max_speakers}


@dataclass(frozen=True)
class TranscribeOptions:
    """What a job was asked to do (audio aside)."""

    language: str | None = None
    diarize: bool = False
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    speaker_ids: tuple[str, ...] = ()
    # Score each diarized speaker against the caller's own voice profile (``voiceMatchScore``).
    match_me: bool = False

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"language": self.language, "diarize": self.diarize}
        if self.diarize:
            out["diarization_config"] = self.diarization.serialize()
            out["speaker_ids"] = list(self.speaker_ids) or None
            out["match_me"] = self.match_me
        return out

    @classmethod
    def from_stored(cls, doc: dict[str, Any]) -> TranscribeOptions:
        cfg = doc.get("diarization_config") or {}
        return cls(
            language=doc.get("language"),
            diarize=bool(doc.get("diarize")),
            diarization=DiarizationConfig(
                backend=cfg.get("backend") or DEFAULT_BACKEND,
                min_speakers=cfg.get("min_speakers"),
                max_speakers=cfg.get("max_speakers"),
            ),
            speaker_ids=tuple(doc.get("speaker_ids") or ()),
            match_me=bool(doc.get("match_me")),
        )


def _fail(code: str, message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, details=details or None)


def parse_bool(value: Any, name: str) -> bool:
    """JSON booleans, or the strings a multipart form carries (``true``/``false``/``1``/``0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", ""):
        return False
    raise _fail(f"invalid_{name}", f"{name} must be true or false", field=name)


def _speaker_count(cfg: dict[str, Any], name: str) -> int | None:
    value = cfg.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SPEAKERS <= value <= MAX_SPEAKERS:
        raise _fail(
            f"invalid_{name}",
            f"diarization_config.{name} must be an integer from {MIN_SPEAKERS} to {MAX_SPEAKERS}",
            field=f"diarization_config.{name}", value=value,
        )
    return value


def parse_diarization_config(raw: Any) -> DiarizationConfig:
    if raw is None:
        return DiarizationConfig()
    if not isinstance(raw, dict):
        raise _fail("invalid_diarization_config", "diarization_config must be a JSON object",
                    field="diarization_config")
    unknown = sorted(set(raw) - _CONFIG_KEYS)
    if unknown:
        raise _fail("invalid_diarization_config",
                    f"diarization_config has unknown field(s): {', '.join(unknown)}",
                    field="diarization_config", unknown=unknown, accepted=sorted(_CONFIG_KEYS))
    backend = raw.get("backend", DEFAULT_BACKEND)
    if backend not in BACKENDS:
        raise _fail("invalid_diarization_backend",
                    f"diarization_config.backend must be one of: {', '.join(BACKENDS)}",
                    field="diarization_config.backend", value=backend, accepted=list(BACKENDS))
    low = _speaker_count(raw, "min_speakers")
    high = _speaker_count(raw, "max_speakers")
    if low is not None and high is not None and low > high:
        raise _fail("invalid_speaker_range",
                    "diarization_config.min_speakers must not exceed max_speakers",
                    min_speakers=low, max_speakers=high)
    return DiarizationConfig(backend=backend, min_speakers=low, max_speakers=high)


def parse_language(value: Any, supported: tuple[str, ...]) -> str | None:
    """None = detect. ``supported`` empty = the model takes any language."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _LANGUAGE.match(value.strip()):
        raise _fail("invalid_language", "language must be a language code such as 'en'",
                    field="language", value=value)
    language = value.strip()
    if supported and language.split("-")[0].lower() not in supported:
        raise _fail("unsupported_language",
                    f"the configured speech-to-text model cannot transcribe {language!r}",
                    field="language", value=language, supported=list(supported))
    return language.split("-")[0].lower()


def parse_speaker_ids(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise _fail("invalid_speaker_ids", "speaker_ids must be a list of speaker ids",
                    field="speaker_ids")
    if len(raw) > MAX_SPEAKER_IDS:
        raise _fail("invalid_speaker_ids", f"speaker_ids holds at most {MAX_SPEAKER_IDS} ids",
                    field="speaker_ids", count=len(raw))
    return tuple(dict.fromkeys(raw))  # de-duplicated, order kept


def parse_options(doc: dict[str, Any], *, supported_languages: tuple[str, ...]) -> TranscribeOptions:
    """Validate the non-audio fields of a transcription request."""
    diarize = parse_bool(doc.get("diarize", False), "diarize")
    config = parse_diarization_config(doc.get("diarization_config"))
    if "speaker_ids" in doc and "speakerIds" in doc:
        raise _fail("conflicting_fields", "send speaker_ids or speakerIds, not both",
                    fields=["speaker_ids", "speakerIds"])
    speaker_ids = parse_speaker_ids(doc.get("speaker_ids", doc.get("speakerIds")))
    if speaker_ids and not diarize:
        raise _fail("speaker_ids_need_diarize",
                    "speaker_ids restricts speaker identification; set diarize=true to use it",
                    field="speaker_ids")
    match_me = parse_bool(doc.get("match_me", False), "match_me")
    if match_me and not diarize:
        raise _fail("match_me_needs_diarize",
                    "match_me scores the diarized speakers against your voice profile; "
                    "set diarize=true to use it",
                    field="match_me")
    return TranscribeOptions(
        language=parse_language(doc.get("language"), supported_languages),
        diarize=diarize,
        diarization=config,
        speaker_ids=speaker_ids,
        match_me=match_me,
    )


def check_known_fields(doc: dict[str, Any]) -> None:
    unknown = sorted(set(doc) - _REQUEST_KEYS)
    if unknown:
        raise _fail("unknown_field", f"unknown request field(s): {', '.join(unknown)}",
                    unknown=unknown, accepted=sorted(_REQUEST_KEYS))


# ------------------------------------------------------------------ audio_urls
def tenant_prefixes(tenant_id: str) -> tuple[str, ...]:
    """Where a tenant's audio may live: its own data, and its transient uploads."""
    return (f"tenant/{tenant_id}/", f"uploads/{tenant_id}/")


def parse_bucket_url(url: str, *, bucket: str, region: str) -> str | None:
    """The object key when ``url`` names an object in ``bucket``, else None.

    Accepted forms: ``s3://bucket/key``, ``https://bucket.s3[.region].amazonaws.com/key`` and
    ``https://s3[.region].amazonaws.com/bucket/key`` (no query string, no credentials, no port).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.query or parts.fragment or parts.username or parts.password or port is not None:
        return None
    host = (parts.hostname or "").lower()
    path = parts.path
    if parts.scheme == "s3":
        key = path[1:] if host == bucket else None
    elif parts.scheme == "https":
        virtual = {f"{bucket}.s3.amazonaws.com", f"{bucket}.s3.{region}.amazonaws.com"}
        path_style = {"s3.amazonaws.com", f"s3.{region}.amazonaws.com"}
        if host in virtual:
            key = path[1:]
        elif host in path_style and path.startswith(f"/{bucket}/"):
            key = path[len(bucket) + 2:]
        else:
            key = None
        key = unquote(key) if key is not None else None
    else:
        key = None
    if not key or any(seg in ("", ".", "..") for seg in key.split("/")):
        return None
    return key


@dataclass(frozen=True)
class AudioSource:
    """One ``audio_urls`` entry: an object of our bucket (``key``) or a remote URL (``url``)."""

    url: str
    key: str | None = None

    @property
    def remote(self) -> bool:
        return self.key is None


def _is_ours_elsewhere(url: str, bucket: str, region: str) -> bool:
    """An s3:// URL, or an S3 https URL naming our bucket: never fetched over the internet."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme.lower() == "s3" or (host.endswith(".amazonaws.com") and (
        host.startswith(f"{bucket}.") or parts.path.startswith(f"/{bucket}/")))


def audio_source(url: Any, *, tenant_id: str, bucket: str, region: str,
                 allowlist: Allowlist) -> AudioSource:
    """Validate one ``audio_urls`` entry (its form only: nothing is fetched here)."""
    key = parse_bucket_url(url, bucket=bucket, region=region) if isinstance(url, str) else None
    if key is not None and key.startswith(tenant_prefixes(tenant_id)):
        return AudioSource(url=url, key=key)
    if key is not None or (isinstance(url, str) and _is_ours_elsewhere(url, bucket, region)):
        raise _fail(
            "audio_url_not_allowed",
            "an s3:// audio URL must name an object of this deployment's bucket under your "
            f"tenant's prefixes (s3://{bucket}/{tenant_prefixes(tenant_id)[1]}...)",
            field="audio_urls", url=url,
        )
    return AudioSource(url=parse_remote_url(url, allowlist).url)


def parse_audio_urls(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise _fail("invalid_audio_urls", "audio_urls must be a non-empty list of URLs",
                    field="audio_urls")
    if len(raw) > MAX_AUDIO_URLS:
        raise _fail("too_many_audio_urls",
                    f"one request transcribes at most {MAX_AUDIO_URLS} recordings (a batch); "
                    "send the others in another request",
                    field="audio_urls", count=len(raw), limit=MAX_AUDIO_URLS)
    return list(raw)
