"""A real HTTP(S) server on 127.0.0.1 for the remote-audio tests (the fetcher is never mocked).

Routes map a path to a function of the request handler; the server records each request's
``Host`` header and, over TLS, the SNI name the client sent. HTTPS uses a self-signed certificate
generated here with ``cryptography`` (names: ``audio.test``, ``localhost``, 127.0.0.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from scaiecho.audio.stream import wav_bytes

Route = Callable[[BaseHTTPRequestHandler], None]


def speechless_wav(seconds: float = 0.5) -> bytes:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(int(16000 * seconds)) * 300).astype("<i2").tobytes()
    return wav_bytes(pcm)


def send(body: bytes, content_type: str = "audio/wav", status: int = 200,
         length: bool = True) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        if length:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


def trickle(head: bytes, every_s: float, total_s: float) -> Route:
    """Audio headers at once, then one byte every ``every_s`` (a slow-loris server)."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "audio/wav")
        h.end_headers()
        h.wfile.write(head)
        h.wfile.flush()
        end = time.monotonic() + total_s
        try:
            while time.monotonic() < end:
                time.sleep(every_s)
                h.wfile.write(b"\0")
                h.wfile.flush()
        except OSError:
            pass  # the client gave up: that is the point
    return route


class AudioServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.hosts: list[str] = []
        self.sni: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hosts.append(self.headers.get("Host", ""))
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    send(b"not here", "text/plain", 404)(self)
                else:
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> AudioServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(cert, key) PEM files for audio.test, localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audio.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("audio.test"), x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def serving(directory: Path | None = None) -> Iterator[tuple[AudioServer, ssl.SSLContext | None]]:
    """A started server: HTTPS when ``directory`` is given (with the client context trusting it)."""
    client = None
    tls = None
    if directory is not None:
        cert, key = self_signed(directory)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        client = ssl.create_default_context(cafile=str(cert))
    server = AudioServer(tls).start()
    try:
        yield server, client
    finally:
        server.stop()
