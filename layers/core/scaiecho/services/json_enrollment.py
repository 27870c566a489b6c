"""Enrollment from a JSON body with base64 audio (the JSON enroll API's field names).

``{"content", "encoding", "sampleRate", "languageCode", "speakerId"}`` as that API names them,
plus this platform's consent fields (named as in the multipart form) and ``consent_content``, the
consent recording in base64. The first call with a ``speakerId`` enrolls a new speaker holding it
as ``external_id``; a later call with the same ``speakerId`` adds its audio as another sample of
that speaker (the voice is checked against the enrolled one; no new consent is asked for) and
answers whether the enrollment is now complete. Audio goes through exactly the checks and limits of
the multipart form.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import wave
from dataclasses import dataclass, replace
from typing import Any

from scaiecho.audio.decode import check_sample_rate, detect_format
from scaiecho.domain.auth import Principal
from scaiecho.domain.speakers import validate_external_id
from scaiecho.errors import (
    AudioUndecodable,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from scaiecho.services import enrollment
from scaiecho.services.uploads import Upload
from scaiecho.settings import get_settings

DEFAULT_LANGUAGE = "en-US"
# Seeds' encodings → a media type the decoder knows; LINEAR16 (headerless 16-bit PCM) is wrapped
# in a WAV header at ``sampleRate``. Containers carry their own rate: ``sampleRate`` is not needed.
_ENCODINGS: dict[str, str | None] = {
    "LINEAR16": None,
    "WAV": "audio/wav",
    "FLAC": "audio/flac",
    "MP3": "audio/mpeg",
    "OGG": "audio/ogg",
    "OGG_OPUS": "audio/ogg",
    "M4A": "audio/mp4",
}
_TEXT_FIELDS = ("display_name", "description", "consent_user_full_name", "consent_stated_purpose",
                "consent_text", "language_primary", "languageCode", "speakerId", "external_id",
                "encoding", "consent_encoding", "content", "consent_content")
_KNOWN = {*_TEXT_FIELDS, "sampleRate", "consent_sample_rate", "allow_duplicate_voice"}
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True)
class JsonEnrollment:
    fields: dict[str, str | None]  # the multipart form's fields, for enroll_speaker
    external_id: str | None
    reference: Upload
    consent: Upload | None


@dataclass(frozen=True)
class JsonEnrollmentResult:
    result: enrollment.EnrollmentResult
    created: bool  # a new speaker (201), or a sample added to the one holding speakerId (200)


def enroll_from_json(
    principal: Principal, doc: Any, *, idempotency_key: str | None = None
) -> JsonEnrollmentResult:
    request = parse(doc)
    if request.external_id is not None:
        existing = enrollment.find_by_external_id(principal, request.external_id)
        if existing is not None:
            if any(s.sha256 == request.reference.sha256 for s in existing.samples):
                # The same audio again (a retry): nothing to add, answer the current state.
                result = enrollment.EnrollmentResult(
                    speaker=enrollment.get_live_speaker(principal, existing.speaker_id),
                    duplicate_sample=True)
            else:
                result = enrollment.add_sample(principal, existing.speaker_id, request.reference)
            return JsonEnrollmentResult(_with_message(result), created=False)
    if request.consent is None:
        raise ValidationFailed(
            "required field(s) missing or empty: consent_content (a new speaker needs the consent "
            "recording)", code="missing_field", details={"fields": ["consent_content"]})
    result = enrollment.enroll_speaker(principal, request.fields, request.reference,
                                       request.consent, idempotency_key=idempotency_key)
    return JsonEnrollmentResult(_with_message(result), created=True)


def _with_message(result: enrollment.EnrollmentResult) -> enrollment.EnrollmentResult:
    # The JSON enroll API's answer: "Success" for each accepted sample, "Complete" once the
    # enrollment holds enough speech; enrollment_complete says the same as a boolean.
    complete = result.speaker.enrollment_complete(get_settings().enrollment_complete_speech_s)
    return replace(result, message="Complete" if complete else "Success")


def parse(doc: Any) -> JsonEnrollment:
    """Validate the document (422 with a specific code for each kind of mistake) and decode its
    audio parts; nothing is stored here."""
    if not isinstance(doc, dict):
        raise ValidationFailed("the request body must be a JSON object", code="invalid_json")
    unknown = sorted(set(doc) - _KNOWN)
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(unknown)}", code="unknown_field",
                               details={"fields": unknown, "accepted": sorted(_KNOWN)})
    wrong = [k for k in _TEXT_FIELDS if doc.get(k) is not None and not isinstance(doc[k], str)]
    if wrong:
        raise ValidationFailed(f"field(s) must be strings: {', '.join(wrong)}", code="invalid_field",
                               details={"fields": wrong})
    speaker_id, external = doc.get("speakerId") or None, doc.get("external_id") or None
    if speaker_id and external and speaker_id != external:
        raise ValidationFailed("speakerId and external_id name the same thing; send one",
                               code="invalid_field", details={"fields": ["speakerId", "external_id"]})
    external_id = speaker_id or external
    field = "speakerId" if speaker_id else "external_id"
    if external_id is not None:
        validate_external_id(external_id, field)
    if not doc.get("content"):
        raise ValidationFailed("required field(s) missing or empty: content", code="missing_field",
                               details={"fields": ["content"]})
    reference = _audio(doc, "content", "encoding", "sampleRate", upload_field="reference")
    consent = None
    if doc.get("consent_content"):
        consent = _audio(doc, "consent_content", "consent_encoding", "consent_sample_rate",
                         upload_field="consent", fallback=("encoding", "sampleRate"))
    flag = doc.get("allow_duplicate_voice")
    if flag is not None and not isinstance(flag, bool | str):
        raise ValidationFailed("allow_duplicate_voice must be true or false", code="invalid_field",
                               details={"field": "allow_duplicate_voice"})
    full_name = doc.get("consent_user_full_name")
    fields: dict[str, str | None] = {
        # The JSON API has no display name: the client's id (else the consenting person's name).
        "display_name": doc.get("display_name") or external_id or full_name,
        "language_primary": doc.get("language_primary") or doc.get("languageCode") or DEFAULT_LANGUAGE,
        "description": doc.get("description"),
        "consent_user_full_name": full_name,
        "consent_stated_purpose": doc.get("consent_stated_purpose"),
        "consent_text": doc.get("consent_text"),
        "external_id": external_id,
        "allow_duplicate_voice": str(flag).lower() if isinstance(flag, bool) else flag,
    }
    return JsonEnrollment(fields=fields, external_id=external_id, reference=reference, consent=consent)


def _audio(doc: dict[str, Any], content_key: str, encoding_key: str, rate_key: str, *,
           upload_field: str, fallback: tuple[str, str] | None = None) -> Upload:
    """One base64 recording as an Upload. ``fallback``: the fields whose encoding and rate apply
    when this recording declares none and its bytes carry no container header of their own."""
    data = _b64(doc[content_key], content_key)
    encoding_raw, rate_raw = doc.get(encoding_key), doc.get(rate_key)
    if fallback and not encoding_raw and detect_format(data) is None:
        encoding_raw = doc.get(fallback[0])
        rate_raw = rate_raw if rate_key in doc else doc.get(fallback[1])
    encoding = str(encoding_raw).strip().upper() if encoding_raw else None
    if encoding is not None and encoding not in _ENCODINGS:
        raise UnsupportedMediaType(
            f"{encoding_key} {encoding_raw!r} is not accepted; send one of: {', '.join(_ENCODINGS)}",
            details={"field": encoding_key, "accepted": list(_ENCODINGS)},
        )
    if rate_raw is not None and (isinstance(rate_raw, bool) or not isinstance(rate_raw, int)):
        raise ValidationFailed(f"{rate_key} must be a whole number of Hz", code="invalid_field",
                               details={"field": rate_key})
    if encoding == "LINEAR16":
        if rate_raw is None:
            raise ValidationFailed(f"{rate_key} is required for LINEAR16 (headerless) audio",
                                   code="missing_field", details={"fields": [rate_key]})
        check_sample_rate(rate_raw)
        return Upload(field=upload_field, data=_wav(data, rate_raw, content_key), filename=None,
                      media_type="audio/wav")
    media_type = _ENCODINGS[encoding] if encoding else None
    return Upload(field=upload_field, data=data, filename=None, media_type=media_type)


def _b64(value: str, field: str) -> bytes:
    """Standard base64 (line breaks and spaces allowed): 413 past the upload limit, measured
    before decoding; 422 ``invalid_base64`` for anything that is not base64."""
    limit = get_settings().max_upload_bytes
    raw = value.encode("ascii", "replace")
    encoded_limit = (limit + 2) // 3 * 4
    if len(raw) > encoded_limit + encoded_limit // 64 + 4:  # room for line breaks
        raise PayloadTooLarge(f"'{field}' is larger than the limit of {limit} bytes",
                              code="audio_too_large", details={"field": field, "limit_bytes": limit})
    try:
        data = base64.b64decode(_WHITESPACE.sub(b"", raw), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"'{field}' is not valid base64", code="invalid_base64",
                               details={"field": field}) from None
    if len(data) > limit:
        raise PayloadTooLarge(f"'{field}' is larger than the limit of {limit} bytes",
                              code="audio_too_large", details={"field": field, "limit_bytes": limit})
    return data


def _wav(pcm: bytes, rate: int, field: str) -> bytes:
    """Headerless 16-bit little-endian mono PCM → a WAV file (what the decoder reads)."""
    if len(pcm) % 2:
        raise AudioUndecodable(f"'{field}' is not 16-bit PCM (an odd number of bytes)",
                               details={"field": field, "encoding": "LINEAR16"})
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()

