"""Which remote ``audio_urls`` the job workflow may fetch (pure: no sockets, no DNS).

A job's ``audio_urls`` entry is either an object of this deployment's bucket (read in place, see
:mod:`scaiecho.domain.jobs`) or a remote recording that the job workflow downloads through the
hardened fetcher (:mod:`scaiecho.adapters.url_fetch`). This module decides, for every hop:

- the URL's form: ``https`` (``http`` only for hosts the operator allowlist names), no user info,
  a host, at most 2048 characters;
- the address the fetcher is about to connect to: never loopback, private (RFC 1918), shared
  address space (CGNAT, 100.64/10), link-local, multicast, unspecified, reserved or documentation
  ranges, IPv6 unique-local / link-local / site-local, IPv4 written as IPv6 (mapped, compatible,
  6to4 and NAT64 forms are judged by the IPv4 address inside, mapped/compatible ones refused
  outright), nor a cloud metadata service (169.254.169.254, fd00:ec2::254, ...) —
  unless the operator allowlist (setting ``audio_url_allowlist``) names them.

A metadata address is permitted only when the allowlist names that very address: allowing
169.254.0.0/16 for a lab device never opens the instance's credentials.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scaiecho.errors import AudioUrlFailed

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance/task metadata and credential endpoints of the clouds this may run on.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
    "169.254.170.2",  # ECS task credentials
    "169.254.170.23",  # EKS pod identity
    "fd00:ec2::254",  # AWS instance metadata over IPv6
    "fd00:ec2::23",  # EKS pod identity over IPv6
    "100.100.100.200",  # Alibaba Cloud metadata
))

_V4_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "shared_address_space"),
    ("169.254.0.0/16", "link_local"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255
)
_V6_RANGES: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "ipv4_mapped"),
    ("::/96", "ipv4_compatible"),
    ("64:ff9b:1::/48", "nat64_local"),
    ("100::/64", "discard"),
    ("2001::/32", "teredo"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique_local"),
    ("fe80::/10", "link_local"),
    ("fec0::/10", "site_local"),
    ("ff00::/8", "multicast"),
)
_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name) for net, name in (*_V4_RANGES, *_V6_RANGES)
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refused_range(ip: IPAddress) -> str | None:
    """The name of the refused range ``ip`` lies in, or None for a public unicast address."""
    if ip in METADATA_ADDRESSES:
        return "cloud_metadata"
    for net, name in _RANGES:
        if ip.version == net.version and ip in net:
            return name
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            named = refused_range(inner)
            return f"{named} (embedded in {'6to4' if ip.sixtofour else 'NAT64'})" if named else None
    if not ip.is_global:  # anything else IANA lists as not globally reachable
        return "reserved"
    return None


@dataclass(frozen=True)
class Allowlist:
    """The operator's exceptions: networks/addresses the fetcher may reach, and host names whose
    addresses it may reach (and which may be fetched over plain ``http``)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """Comma-separated entries: an IP address, a CIDR network, or a host name."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in text.split(","):
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if not _is_host_name(entry):
                raise ValueError(f"allowlist entry {raw.strip()!r} is neither an address, a network "
                                 "nor a host name")
            hosts.add(entry.rstrip("."))
        return cls(networks=tuple(networks), hosts=frozenset(hosts))

    def permits_address(self, ip: IPAddress, host: str) -> bool:
        if ip in METADATA_ADDRESSES:  # only an entry naming exactly this address opens it
            return any(net.num_addresses == 1 and net.network_address == ip for net in self.networks)
        if _normal_host(host) in self.hosts:
            return True
        return any(ip.version == net.version and ip in net for net in self.networks)

    def names_host(self, host: str) -> bool:
        """Whether ``host`` (a name, or an address literal) is named: plain http is allowed then."""
        name = _normal_host(host)
        if name in self.hosts:
            return True
        ip = _literal(name)
        return ip is not None and self.permits_address(ip, name)


def _normal_host(host: str) -> str:
    return host.strip().lower().strip("[]").rstrip(".")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
        and all(c.isalnum() or c in "-_" for c in label) and label.isascii()
        for label in labels
    )


@dataclass(frozen=True)
class RemoteUrl:
    """One hop of a fetch: where to connect and what to ask for."""

    url: str
    scheme: str  # https | http
    host: str  # lower-case name, or an address literal without brackets
    port: int
    target: str  # path + query, as sent in the request line

    @property
    def literal(self) -> IPAddress | None:
        return _literal(self.host)


def _refuse(code: str, message: str, **details: Any) -> AudioUrlFailed:
    return AudioUrlFailed(message, code=code, details=details or None)


def parse_remote_url(url: Any, allowlist: Allowlist) -> RemoteUrl:
    """Validate one remote URL (at submit, and again at every redirect)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise _refuse("invalid_audio_urls", f"each audio URL must be a string of at most "
                      f"{MAX_URL_LENGTH} characters", field="audio_urls")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise _refuse("invalid_audio_urls", "an audio URL may not contain spaces or control characters",
                      field="audio_urls")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse("invalid_audio_urls", f"not a valid URL: {exc}", field="audio_urls") from exc
    scheme = parts.scheme.lower()
    host = _normal_host(parts.hostname or "")
    if scheme not in ("https", "http") or not host:
        raise _refuse("audio_url_not_allowed",
                      "audio URLs must be https:// URLs (or s3:// objects of this deployment's bucket)",
                      field="audio_urls", scheme=scheme or None)
    if parts.username is not None or parts.password is not None:
        raise _refuse("audio_url_not_allowed", "audio URLs may not carry user names or passwords",
                      field="audio_urls")
    if _literal(host) is None and not _is_host_name(host):
        raise _refuse("invalid_audio_urls", "the audio URL's host is not a valid host name",
                      field="audio_urls")
    if scheme == "http" and not allowlist.names_host(host):
        raise _refuse("audio_url_not_allowed",
                      "plain http:// is refused (the recording could be altered in transit); use "
                      "https://, or ask the operator to allowlist this host",
                      field="audio_urls", scheme="http")
    literal = _literal(host)
    if literal is not None:
        check_address(literal, host, allowlist)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return RemoteUrl(url=url, scheme=scheme, host=host,
                     port=port or (443 if scheme == "https" else 80), target=target)


def check_address(ip: IPAddress, host: str, allowlist: Allowlist) -> None:
    """Refuse connecting to ``ip`` (what ``host`` resolved to) unless it is public or allowlisted."""
    named = refused_range(ip)
    if named is not None and not allowlist.permits_address(ip, host):
        raise _refuse("audio_url_forbidden_address",
                      f"the audio URL's host {host!r} is at a {named.replace('_', ' ')} address, "
                      "which is never fetched (an operator allowlist can name it)",
                      host=host, address=str(ip), range=named)
