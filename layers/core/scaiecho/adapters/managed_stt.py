"""Backend B: a managed speech-to-text relay. Amazon Transcribe streaming, one stream per utterance.

Transcribe streaming speaks HTTP/2 event streams, which boto3 does not; the ``amazon-transcribe``
package does, and is imported only when a tenant pinned to backend B streams. Anything that keeps
us from reaching the service (package missing, no credentials, no network, service error) is a
:class:`ManagedSttUnavailable`, reported to the client as ``backend_unavailable``: there is no
fallback that would pretend to be Transcribe.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from scaiecho.settings import get_settings

# Transcribe wants a locale; the protocol's language_hint is usually a bare language code.
_LOCALES = {
    "en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-US", "it": "it-IT", "pt": "pt-BR",
    "ja": "ja-JP", "ko": "ko-KR", "zh": "zh-CN", "hi": "hi-IN", "ar": "ar-SA", "nl": "nl-NL",
}
_CHUNK_BYTES = 8 * 1024


class ManagedSttUnavailable(Exception):
    pass


@dataclass(frozen=True)
class SttSegment:
    start: float  # seconds from the start of the audio sent
    end: float
    text: str
    final: bool


def transcribe_locale(language: str | None) -> str:
    if not language:
        return "en-US"
    if "-" in language:
        return language
    if language not in _LOCALES:
        raise ValueError(language)
    return _LOCALES[language]


class AmazonTranscribeStreaming:
    def __init__(self, region: str | None = None) -> None:
        self.region = region or get_settings().region

    def check_available(self) -> None:
        try:
            import amazon_transcribe.client  # noqa: F401
        except ImportError as exc:
            raise ManagedSttUnavailable(
                "the managed STT relay needs the 'amazon-transcribe' package, which is not installed"
            ) from exc

    def transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None) -> list[SttSegment]:
        """Send one utterance (16-bit mono PCM) and collect Transcribe's final results."""
        self.check_available()
        try:
            locale = transcribe_locale(language)
        except ValueError:
            raise ManagedSttUnavailable(f"no Transcribe locale is configured for {language!r}") from None
        try:
            return asyncio.run(self._run(pcm16, sample_rate, locale))
        except ManagedSttUnavailable:
            raise
        except Exception as exc:  # network, credentials, throttling: all mean "unreachable"
            raise ManagedSttUnavailable(f"Amazon Transcribe is unreachable: {type(exc).__name__}: {exc}") \
                from exc

    async def _run(self, pcm16: bytes, sample_rate: int, locale: str) -> list[SttSegment]:
        from amazon_transcribe.client import TranscribeStreamingClient

        client: Any = TranscribeStreamingClient(region=self.region)
        stream = await client.start_stream_transcription(
            language_code=locale, media_sample_rate_hz=sample_rate, media_encoding="pcm"
        )

        async def send() -> None:
            for i in range(0, len(pcm16), _CHUNK_BYTES):
                await stream.input_stream.send_audio_event(audio_chunk=pcm16[i:i + _CHUNK_BYTES])
            await stream.input_stream.end_stream()

        segments: list[SttSegment] = []

        async def receive() -> None:
            async for event in stream.output_stream:
                transcript = getattr(event, "transcript", None)
                for result in getattr(transcript, "results", None) or []:
                    if result.is_partial or not result.alternatives:
                        continue
                    segments.append(SttSegment(float(result.start_time), float(result.end_time),
                                               result.alternatives[0].transcript, final=True))

        await asyncio.gather(send(), receive())
        return segments
