"""The hardened fetcher for remote ``audio_urls`` (run by the job workflow, never by the API).

Every hop (the URL, then each redirect, at most ``MAX_REDIRECTS``):

1. the URL's form is checked again (:func:`scaiecho.domain.audio_urls.parse_remote_url`): a
   redirect to ``http://``, ``file://`` or to user info is refused like a submitted URL;
2. the host is resolved once; every answer must be an address the policy permits (an attacker's
   DNS may mix a public and a private answer);
3. the connection goes to that checked address, never to the name again (no second lookup, so a
   DNS answer that changes between check and connect cannot redirect it), with TLS SNI and
   certificate verification for the name and ``Host:`` set to it;
4. the body streams into ``sink`` and stops at ``max_bytes`` (the job size limit) or at the
   deadline (the whole fetch, DNS and redirects included); its first bytes must be audio the
   decoder knows (``sniff``), so an HTML error page is refused after a few bytes, not 200 MB.

No proxy settings apply (``http.client`` reads none). Failures are :class:`AudioUrlFailed` with a
specific code; the caller records it on the job.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

from scaiecho.domain.audio_urls import (
    MAX_REDIRECTS,
    Allowlist,
    IPAddress,
    RemoteUrl,
    check_address,
    parse_remote_url,
)
from scaiecho.errors import AudioUrlFailed, AudioUrlTooLarge, ScaiEchoError


class Sink(Protocol):
    """Where the body goes (a file, a SpooledTemporaryFile, BytesIO)."""

    def write(self, data: bytes, /) -> object: ...


# host, port -> the addresses it resolves to (strings, in the resolver's order).
Resolver = Callable[[str, int], Sequence[str]]
# the first bytes of the body -> its format (e.g. "wav"), or raise: not audio.
Sniff = Callable[[bytes], str]

CHUNK = 64 * 1024
SNIFF_BYTES = 4096  # enough for every container detect_format knows (an ID3 tag is skipped later)
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "ScaiEcho-audio-fetch/1"


def system_resolver(host: str, port: int) -> list[str]:
    """The platform resolver's answers for ``host`` (IPv4 and IPv6), de-duplicated."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float  # the whole fetch
    connect_timeout_s: float = 10.0
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    address: str  # the address the body came from
    size: int
    format: str
    content_type: str | None
    redirects: int


class _Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.clock, self.end, self.seconds = clock, clock() + seconds, seconds

    def left(self) -> float:
        remaining = self.end - self.clock()
        if remaining <= 0:
            raise AudioUrlFailed(f"fetching the audio URL took longer than {self.seconds:g} s",
                                 code="audio_url_timeout", details={"limit_s": self.seconds})
        return remaining


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; ``Host:`` still names the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, verified (and SNI sent) for the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _resolve(hop: RemoteUrl, resolver: Resolver, deadline: _Deadline) -> list[IPAddress]:
    literal = hop.literal
    if literal is not None:
        return [literal]
    # getaddrinfo cannot be interrupted: it runs aside and is abandoned at the deadline.
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        answers = pool.submit(resolver, hop.host, hop.port).result(timeout=deadline.left())
    except FutureTimeout as exc:
        raise AudioUrlFailed(f"resolving {hop.host!r} took too long", code="audio_url_timeout",
                             details={"host": hop.host}) from exc
    except (OSError, UnicodeError) as exc:
        raise AudioUrlFailed(f"the audio URL's host {hop.host!r} does not resolve",
                             code="audio_url_unreachable", details={"host": hop.host}) from exc
    finally:
        pool.shutdown(wait=False)
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(str(answer).split("%")[0]))
        except ValueError:
            continue
    if not addresses:
        raise AudioUrlFailed(f"the audio URL's host {hop.host!r} does not resolve",
                             code="audio_url_unreachable", details={"host": hop.host})
    return addresses


def _connect(hop: RemoteUrl, addresses: list[IPAddress], limits: FetchLimits, deadline: _Deadline,
             context: ssl.SSLContext) -> tuple[http.client.HTTPConnection, str]:
    errors = []
    for ip in addresses:
        timeout = min(limits.connect_timeout_s, deadline.left())
        conn: http.client.HTTPConnection
        if hop.scheme == "https":
            conn = _PinnedHTTPSConnection(hop.host, hop.port, str(ip), timeout, context)
        else:
            conn = _PinnedHTTPConnection(hop.host, hop.port, str(ip), timeout)
        try:
            conn.connect()
            return conn, str(ip)
        except ssl.SSLError as exc:
            conn.close()
            raise AudioUrlFailed(f"TLS with {hop.host!r} failed: {exc.reason or exc}",
                                 code="audio_url_unreachable",
                                 details={"host": hop.host, "reason": "tls"}) from exc
        except TimeoutError:
            conn.close()
            errors.append(f"{ip}: timed out")
        except OSError as exc:
            conn.close()
            errors.append(f"{ip}: {exc.strerror or exc}")
    deadline.left()
    raise AudioUrlFailed(f"could not connect to {hop.host!r}: " + "; ".join(errors)[:300],
                         code="audio_url_unreachable", details={"host": hop.host})


def _set_timeout(conn: http.client.HTTPConnection, deadline: _Deadline, per_read_s: float) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(min(per_read_s, deadline.left()))


def _stream(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, sink: Sink,
            limits: FetchLimits, deadline: _Deadline, sniff: Sniff) -> tuple[int, str]:
    too_large = AudioUrlTooLarge(
        f"the recording is larger than the limit of {limits.max_bytes} bytes",
        details={"limit_bytes": limits.max_bytes})
    declared = resp.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        too_large.details = {"limit_bytes": limits.max_bytes, "bytes": int(declared)}
        raise too_large
    size, head, fmt = 0, b"", None
    while True:
        _set_timeout(conn, deadline, limits.connect_timeout_s * 3)
        chunk = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
        deadline.left()  # a server trickling bytes never outlasts the deadline
        if not chunk:
            break
        size += len(chunk)
        if size > limits.max_bytes:
            raise too_large
        if fmt is None:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                fmt = sniff(head)
                head = b""
        sink.write(chunk)
    if size == 0:
        raise AudioUrlFailed("the audio URL answered with an empty body", code="audio_url_not_audio",
                             details={"bytes": 0})
    if fmt is None:
        fmt = sniff(head)
    return size, fmt


def fetch_audio(url: str, sink: Sink, *, allowlist: Allowlist, limits: FetchLimits,
                sniff: Sniff, resolver: Resolver = system_resolver,
                tls_context: ssl.SSLContext | None = None,
                clock: Callable[[], float] = time.monotonic) -> Fetched:
    """Download ``url`` into ``sink`` under every rule of the module doc; raises AudioUrlFailed."""
    deadline = _Deadline(limits.timeout_s, clock)
    context = tls_context or ssl.create_default_context()
    current = url
    for redirects in range(limits.max_redirects + 1):
        hop = parse_remote_url(current, allowlist)
        addresses = _resolve(hop, resolver, deadline)
        for ip in addresses:  # every answer, not just the one used
            check_address(ip, hop.host, allowlist)
        conn, address = _connect(hop, addresses, limits, deadline, context)
        try:
            try:
                _set_timeout(conn, deadline, limits.connect_timeout_s * 3)
                conn.request("GET", hop.target, headers={
                    "User-Agent": USER_AGENT, "Accept": "audio/*, application/octet-stream, */*;q=0.1",
                    "Accept-Encoding": "identity"})
                _set_timeout(conn, deadline, limits.connect_timeout_s * 3)
                resp = conn.getresponse()
                if resp.status in REDIRECTS:
                    location = resp.getheader("Location")
                    if not location:
                        raise AudioUrlFailed(f"the audio URL redirected ({resp.status}) without a "
                                             "Location", code="audio_url_unreachable",
                                             details={"http_status": resp.status})
                    current = urljoin(hop.url, location.strip())
                    continue
                if resp.status != 200:
                    raise AudioUrlFailed(f"the audio URL answered HTTP {resp.status}",
                                         code="audio_url_unreachable",
                                         details={"http_status": resp.status, "host": hop.host})
                size, fmt = _stream(resp, conn, sink, limits, deadline, sniff)
                return Fetched(url=hop.url, address=address, size=size, format=fmt,
                               content_type=resp.getheader("Content-Type"), redirects=redirects)
            except ScaiEchoError:
                raise
            except TimeoutError as exc:
                deadline.left()
                raise AudioUrlFailed("the audio URL's server stopped answering",
                                     code="audio_url_timeout", details={"host": hop.host}) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise AudioUrlFailed(f"fetching the audio URL failed: {type(exc).__name__}",
                                     code="audio_url_unreachable", details={"host": hop.host}) from exc
        finally:
            conn.close()
    raise AudioUrlFailed(f"the audio URL redirected more than {limits.max_redirects} times",
                         code="audio_url_too_many_redirects",
                         details={"limit": limits.max_redirects})
