"""Property tests (hypothesis): whatever bytes or values a client sends, the parsers answer with
a domain error (a 4xx with a code) or a bounded result, never an unexpected exception."""

from __future__ import annotations

import contextlib
import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaiecho.adapters.cursors import decode_cursor
from scaiecho.api.errors import error_body
from scaiecho.audio.decode import decode_audio
from scaiecho.audio.stream import PcmState, feed
from scaiecho.domain.json_documents import InvalidJson, loads_strict
from scaiecho.domain.streaming import StreamError, parse_frame
from scaiecho.errors import ScaiEchoError

LIMIT_S = 5.0
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decodes_within_bounds(data: bytes) -> None:
    try:
        audio = decode_audio(data, max_duration_s=LIMIT_S)
    except ScaiEchoError as exc:
        assert 400 <= exc.status < 500 and exc.code
        json.dumps(error_body(exc.code, exc.message, exc.details), allow_nan=False).encode()
        return
    assert audio.duration_s <= LIMIT_S + 1.0


@FAST
@given(tag=st.sampled_from([0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0x1234]) | st.integers(0, 0xFFFF),
       channels=st.integers(0, 0xFFFF), rate=st.integers(0, 0xFFFFFFFF), bits=st.integers(0, 0xFFFF),
       align=st.integers(0, 0xFFFF), extra=st.binary(max_size=40), data_size=st.integers(0, 0xFFFFFFFF),
       payload=st.binary(max_size=2048))
def test_any_wav_header(tag: int, channels: int, rate: int, bits: int, align: int, extra: bytes,
                        data_size: int, payload: bytes) -> None:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits) + extra
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_size) + payload
    _decodes_within_bounds(b"RIFF" + struct.pack("<I", len(body)) + body)


@FAST
@given(magic=st.sampled_from([b"RIFF\0\0\0\0WAVE", b"fLaC", b"OggS", b"\0\0\0\x20ftypM4A ", b"ID3",
                              b"\xff\xfb", b""]),
       rest=st.binary(max_size=4096))
def test_any_bytes_behind_a_known_magic(magic: bytes, rest: bytes) -> None:
    _decodes_within_bounds(magic + rest)


@FAST
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_strict_json_refuses_or_parses(raw: str) -> None:
    with contextlib.suppress(InvalidJson):  # the only refusal: never RecursionError or ValueError
        loads_strict(raw)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=30,
)


@FAST
@given(message=st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                              exclude_categories=())),
       details=_json_values)
def test_every_error_body_encodes(message: str, details: object) -> None:
    body = error_body("some_code", message, details)
    json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf-8")


@FAST
@given(st.text(max_size=400))
def test_any_cursor_is_accepted_only_in_the_issued_shape(cursor: str) -> None:
    try:
        key = decode_cursor(cursor, tenant_id="acme", range_key="speaker_id", prefix="spk_")
    except ScaiEchoError as exc:
        assert exc.code == "invalid_cursor"
        return
    assert key is None or set(key) == {"tenant_id", "speaker_id"}


@FAST
@given(body=st.text(max_size=600) | st.binary(max_size=600), binary=st.booleans())
def test_any_websocket_frame(body: str | bytes, binary: bool) -> None:
    try:
        parse_frame(body, binary=binary)
    except StreamError as exc:
        assert exc.code


@FAST
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_any_streamed_wav_header(chunks: list[bytes]) -> None:
    state = PcmState.start("audio/wav", 0)
    try:
        for chunk in [b"RIFF\0\0\0\0WAVE", *chunks]:
            state, out = feed(state, chunk)
            assert len(out) <= 2 * 16000 * 10  # bounded by the input, never amplified wildly
    except StreamError as exc:
        assert exc.code in ("invalid_wav_header", "unsupported_wav_format")
