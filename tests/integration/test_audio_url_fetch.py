"""The hardened fetcher of remote audio_urls, over real sockets: a local HTTP(S) server on
127.0.0.1 that the operator allowlist permits, and resolvers passed in as parameters (so a test
decides what a host name resolves to, and can change the answer between lookups).

Every refusal has its code: forbidden address (each range), too many redirects, a redirect to a
refused address or scheme, too large, too slow, not audio, unreachable.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scaiecho.adapters.url_fetch import Fetched, FetchLimits, fetch_audio
from scaiecho.domain.audio_urls import Allowlist, refused_range
from scaiecho.errors import AudioUrlFailed
from scaiecho.services.transcription_tasks import sniff_audio
from tests.audio_server import AudioServer, redirect, send, serving, speechless_wav, trickle

WAV = speechless_wav()


class Resolver:
    """Answers from a table; a list of answers per host is used one lookup after the other."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if callable(answer):
            result: list[str] = answer(len([c for c in self.calls if c == host]))
            return result
        return list(answer)


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AudioServer, Any]]:
    with serving(tmp_path_factory.mktemp("tls")) as pair:
        yield pair


@pytest.fixture(scope="module")
def http() -> Iterator[AudioServer]:
    with serving() as (server, _):
        yield server


def fetch(url: str, *, allow: str = "127.0.0.1", resolver: Any = None, tls: Any = None,
          max_bytes: int = 10_000_000, timeout_s: float = 5.0) -> tuple[Fetched, bytes]:
    sink = io.BytesIO()
    got = fetch_audio(url, sink, allowlist=Allowlist.parse(allow),
                      limits=FetchLimits(max_bytes=max_bytes, timeout_s=timeout_s, connect_timeout_s=2),
                      sniff=sniff_audio, resolver=resolver or Resolver({}), tls_context=tls)
    return got, sink.getvalue()


def refused(url: str, **kwargs: Any) -> AudioUrlFailed:
    with pytest.raises(AudioUrlFailed) as err:
        fetch(url, **kwargs)
    return err.value


# ------------------------------------------------------------------ success
def test_https_connects_to_the_checked_address_with_sni_and_host(https: tuple[AudioServer, Any]) -> None:
    server, tls = https
    server.routes["/talk.wav"] = send(WAV)
    resolver = Resolver({"audio.test": ["127.0.0.1"]})
    got, body = fetch(f"https://audio.test:{server.port}/talk.wav?sig=abc", resolver=resolver, tls=tls)
    assert body == WAV and got.size == len(WAV) and got.format == "wav"
    assert got.address == "127.0.0.1" and got.redirects == 0
    assert resolver.calls == ["audio.test"]  # resolved once
    assert server.hosts[-1] == f"audio.test:{server.port}" and server.sni[-1] == "audio.test"


def test_tls_is_verified_for_the_url_host(https: tuple[AudioServer, Any]) -> None:
    server, tls = https
    server.routes["/talk.wav"] = send(WAV)
    err = refused(f"https://wrong.test:{server.port}/talk.wav", tls=tls,
                  resolver=Resolver({"wrong.test": ["127.0.0.1"]}))
    assert err.code == "audio_url_unreachable" and err.details["reason"] == "tls"


def test_plain_http_only_for_allowlisted_hosts(http: AudioServer) -> None:
    http.routes["/talk.wav"] = send(WAV)
    got, body = fetch(f"http://127.0.0.1:{http.port}/talk.wav")
    assert body == WAV and got.format == "wav"
    assert refused(f"http://127.0.0.1:{http.port}/talk.wav", allow="").code == "audio_url_not_allowed"
    # without the allowlist, loopback is refused before any connection, over https as well
    err = refused(f"https://127.0.0.1:{http.port}/talk.wav", allow="")
    assert (err.code, err.details["range"]) == ("audio_url_forbidden_address", "loopback")


# ------------------------------------------------------------------ addresses
@pytest.mark.parametrize(("address", "named"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("10.1.2.3", "private"),
    ("172.16.5.4", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
    ("100.64.0.1", "shared_address_space"), ("100.127.255.254", "shared_address_space"),
    ("169.254.1.1", "link_local"), ("169.254.169.254", "cloud_metadata"),
    ("169.254.170.2", "cloud_metadata"), ("100.100.100.200", "cloud_metadata"),
    ("224.0.0.1", "multicast"), ("239.1.2.3", "multicast"), ("0.0.0.0", "unspecified"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"), ("::", "unspecified"), ("fc00::1", "unique_local"), ("fd12:3456::1", "unique_local"),
    ("fd00:ec2::254", "cloud_metadata"), ("fe80::1", "link_local"), ("fec0::1", "site_local"),
    ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "ipv4_mapped"), ("::ffff:8.8.8.8", "ipv4_mapped"),
    ("::127.0.0.1", "ipv4_compatible"), ("2002:7f00:1::1", "loopback (embedded in 6to4)"),
    ("2002:a9fe:a9fe::1", "cloud_metadata (embedded in 6to4)"),
    ("64:ff9b::a00:1", "private (embedded in NAT64)"), ("2001:db8::1", "documentation"),
    ("2001::1", "teredo"),
])
def test_every_refused_range(http: AudioServer, address: str, named: str) -> None:
    resolver = Resolver({"files.example": [address]})
    err = refused(f"https://files.example:{http.port}/talk.wav", allow="", resolver=resolver)
    assert err.code == "audio_url_forbidden_address"
    assert err.details == {"host": "files.example", "address": str(ipaddress.ip_address(address)),
                           "range": named}
    assert resolver.calls == ["files.example"]  # and no connection was tried: nothing served
    assert not [h for h in http.hosts if h.startswith("files.example")]


def test_public_addresses_pass_the_policy() -> None:
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"):
        assert refused_range(ipaddress.ip_address(public)) is None, public


def test_metadata_opens_only_when_named_exactly(http: AudioServer) -> None:
    metadata = ipaddress.ip_address("169.254.169.254")
    assert not Allowlist.parse("169.254.0.0/16").permits_address(metadata, "x")
    assert not Allowlist.parse("metadata.internal").permits_address(metadata, "metadata.internal")
    assert Allowlist.parse("169.254.169.254").permits_address(metadata, "x")
    assert Allowlist.parse("169.254.0.0/16").permits_address(ipaddress.ip_address("169.254.9.9"), "x")
    err = refused(f"https://meta.example:{http.port}/", allow="169.254.0.0/16",
                  resolver=Resolver({"meta.example": ["169.254.169.254"]}))
    assert err.details["range"] == "cloud_metadata"
    with pytest.raises(ValueError):
        Allowlist.parse("10.0.0.0/8, not a host!")


def test_one_refused_answer_among_several_refuses_the_url(http: AudioServer) -> None:
    err = refused(f"https://mixed.example:{http.port}/talk.wav", allow="127.0.0.1",
                  resolver=Resolver({"mixed.example": ["127.0.0.1", "10.0.0.1"]}))
    assert (err.code, err.details["address"]) == ("audio_url_forbidden_address", "10.0.0.1")


def test_a_dns_answer_that_changes_is_never_asked_again(http: AudioServer) -> None:
    """Rebinding: the address checked is the address connected to; a second lookup never happens."""
    http.routes["/talk.wav"] = send(WAV)
    rebinding = Resolver({"rebind.example": lambda n: ["127.0.0.1"] if n == 1 else ["10.0.0.9"]})
    got, body = fetch(f"http://rebind.example:{http.port}/talk.wav", allow="127.0.0.1,rebind.example",
                      resolver=rebinding)
    assert body == WAV and got.address == "127.0.0.1" and rebinding.calls == ["rebind.example"]
    # The other way round: the first (checked) answer is the metadata service; a later answer
    # would be the permitted server, but it is never asked for.
    sneaky = Resolver({"sneaky.example": lambda n: ["169.254.169.254"] if n == 1 else ["127.0.0.1"]})
    err = refused(f"https://sneaky.example:{http.port}/talk.wav", resolver=sneaky)
    assert err.code == "audio_url_forbidden_address" and sneaky.calls == ["sneaky.example"]


def test_an_allowlisted_name_permits_what_it_resolves_to(http: AudioServer) -> None:
    http.routes["/talk.wav"] = send(WAV)
    got, _ = fetch(f"http://media.internal:{http.port}/talk.wav", allow="media.internal",
                   resolver=Resolver({"media.internal": ["127.0.0.1"]}))
    assert got.address == "127.0.0.1"
    assert http.hosts[-1] == f"media.internal:{http.port}"


# ------------------------------------------------------------------ redirects
def test_redirects_are_followed_up_to_three(http: AudioServer) -> None:
    base = f"http://127.0.0.1:{http.port}"
    http.routes.update({"/r1": redirect("/r2", 301), "/r2": redirect(f"{base}/r3", 307),
                        "/r3": redirect("talk.wav", 308), "/talk.wav": send(WAV),
                        "/r0": redirect("/r1")})
    got, body = fetch(f"{base}/r1")
    assert body == WAV and got.redirects == 3 and got.url == f"{base}/talk.wav"
    err = refused(f"{base}/r0")
    assert (err.code, err.details) == ("audio_url_too_many_redirects", {"limit": 3})


def test_every_redirect_is_checked_again(http: AudioServer) -> None:
    base = f"http://127.0.0.1:{http.port}"
    http.routes.update({
        "/to-private": redirect(f"https://internal.example:{http.port}/x"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/iam/"),
        "/to-metadata-https": redirect("https://169.254.169.254/latest/meta-data/"),
        "/to-http": redirect("http://public.example/talk.wav"),
        "/to-file": redirect("file:///etc/passwd"),
        "/nowhere": redirect(""),
    })
    resolver = Resolver({"internal.example": ["10.1.1.1"], "public.example": ["93.184.215.14"]})
    err = refused(f"{base}/to-private", resolver=resolver)
    assert (err.code, err.details["address"]) == ("audio_url_forbidden_address", "10.1.1.1")
    assert refused(f"{base}/to-metadata", resolver=resolver).code == "audio_url_not_allowed"
    err = refused(f"{base}/to-metadata-https", resolver=resolver)
    assert (err.code, err.details["range"]) == ("audio_url_forbidden_address", "cloud_metadata")
    assert refused(f"{base}/to-http", resolver=resolver).code == "audio_url_not_allowed"
    assert refused(f"{base}/to-file", resolver=resolver).code == "audio_url_not_allowed"
    assert refused(f"{base}/nowhere", resolver=resolver).code == "audio_url_unreachable"
    assert resolver.calls == ["internal.example"]  # the refused schemes were never resolved


# ------------------------------------------------------------------ size, time, content
def test_size_is_bounded_while_streaming(http: AudioServer) -> None:
    big = WAV + b"\0" * 200_000
    http.routes.update({"/declared": send(big), "/undeclared": send(big, length=False)})
    base = f"http://127.0.0.1:{http.port}"
    sink = io.BytesIO()
    with pytest.raises(AudioUrlFailed) as err:
        fetch_audio(f"{base}/declared", sink, allowlist=Allowlist.parse("127.0.0.1"),
                    limits=FetchLimits(max_bytes=100_000, timeout_s=5), sniff=sniff_audio)
    assert (err.value.code, err.value.status) == ("audio_url_too_large", 413)
    assert err.value.details == {"limit_bytes": 100_000, "bytes": len(big)} and sink.getvalue() == b""
    with pytest.raises(AudioUrlFailed) as err:
        fetch_audio(f"{base}/undeclared", sink, allowlist=Allowlist.parse("127.0.0.1"),
                    limits=FetchLimits(max_bytes=100_000, timeout_s=5), sniff=sniff_audio)
    assert err.value.code == "audio_url_too_large" and len(sink.getvalue()) <= 100_000


def test_a_slow_server_is_cut_off_at_the_deadline(http: AudioServer) -> None:
    http.routes["/slow"] = trickle(WAV[:44], every_s=0.05, total_s=10)
    started = time.monotonic()
    err = refused(f"http://127.0.0.1:{http.port}/slow", timeout_s=1.0)
    assert err.code == "audio_url_timeout" and time.monotonic() - started < 3


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        err = refused(f"http://127.0.0.1:{port}/talk.wav", timeout_s=1.0)
    assert err.code == "audio_url_timeout" and time.monotonic() - started < 3


def test_content_must_be_audio_the_decoder_knows(http: AudioServer) -> None:
    html = b"<!doctype html><html><body>" + b"Sign in to continue " * 500 + b"</body></html>"
    http.routes.update({"/page": send(html, "text/html"), "/empty": send(b""),
                        "/disguised": send(html, "audio/wav"), "/missing": send(b"no", "text/plain", 404),
                        "/error": send(b"oops", "text/plain", 500)})
    base = f"http://127.0.0.1:{http.port}"
    for path in ("/page", "/disguised", "/empty"):
        assert refused(f"{base}{path}").code == "audio_url_not_audio", path
    for path, status in (("/missing", 404), ("/error", 500)):
        err = refused(f"{base}{path}")
        assert (err.code, err.details["http_status"]) == ("audio_url_unreachable", status)


def test_unreachable_hosts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: connection refused
        err = refused(f"http://127.0.0.1:{closed}/talk.wav")
    assert err.code == "audio_url_unreachable"
    err = refused("https://nowhere.example/talk.wav", resolver=Resolver({}))
    assert (err.code, err.details) == ("audio_url_unreachable", {"host": "nowhere.example"})

