"""The in-cluster admission webhook server behind ``podnet webhook``: stdlib HTTP(S), one thread per request.

Routes: ``POST /mutate`` and ``POST /validate`` (AdmissionReview in/out, see ``podnet.admission``),
``GET /healthz`` (liveness/readiness). With a certificate it serves TLS 1.2+ and re-reads the certificate
and key when either file changes (cert-manager and kubelet secret refreshes rotate them in place); without
one it serves plain HTTP, which is only for tests and for a TLS-terminating proxy in front.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from podnet.admission import MAX_BODY_BYTES, AdmissionConfig, handle_http
from podnet.fakes.http import QuietHandler
from podnet.ports import KubeApi

log = logging.getLogger(__name__)

__all__ = ["CertReloader", "WebhookServer"]


class CertReloader:
    """An SSL server context that is rebuilt when the certificate or key file changes (checked at most
    every ``check_every_s`` seconds, on new connections)."""

    def __init__(self, cert_file: str, key_file: str, check_every_s: float = 10.0) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._stamp = self._mtimes()
        self._context = self._load()
        self._checked = time.monotonic()

    def _mtimes(self) -> tuple[float, float]:
        return os.stat(self.cert_file).st_mtime, os.stat(self.key_file).st_mtime

    def _load(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    @property
    def context(self) -> ssl.SSLContext:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= self.check_every_s:
                self._checked = now
                try:
                    stamp = self._mtimes()
                    if stamp != self._stamp:
                        self._context = self._load()
                        self._stamp = stamp
                        log.info("reloaded TLS certificate %s", self.cert_file)
                except (OSError, ssl.SSLError) as e:
                    # a half-written pair during rotation: keep serving the old one, try again later
                    log.warning("TLS certificate reload failed, keeping the previous one: %s", e)
            return self._context


class _Handler(QuietHandler):
    server: _Server
    timeout = 30  # seconds per socket read/write: a stalled client frees its thread

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?", 1)[0] in ("/healthz", "/readyz", "/livez"):
            self.send_bytes(200, b"ok\n", "text/plain")
        else:
            self._json(404, {"error": f"no such path {self.path!r}; POST an AdmissionReview to /mutate or /validate"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._json(400, {"error": "malformed AdmissionReview", "problem": "Content-Length is not a number"})
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(413, {"error": f"request body is larger than {MAX_BODY_BYTES} bytes"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        status, doc = handle_http(body, path=self.path, kube=self.server.kube, config=self.server.config)
        self._json(status, doc)

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        self.send_bytes(status, json.dumps(doc).encode(), "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    kube: KubeApi
    config: AdmissionConfig
    certs: CertReloader | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.certs is not None:
            # the handshake runs on the first read, in the request's own thread, so a slow client
            # cannot stall the accept loop
            sock = self.certs.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # TLS handshake failures and dropped clients are routine; log one line, not a traceback
        log.debug("connection from %s failed", client_address, exc_info=True)


class WebhookServer:
    """The admission webhook on ``host:port``; HTTPS when ``cert_file``/``key_file`` are given."""

    def __init__(
        self,
        kube: KubeApi,
        *,
        config: AdmissionConfig | None = None,
        host: str = "0.0.0.0",
        port: int = 8443,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        if bool(cert_file) != bool(key_file):
            raise ValueError("give both a TLS certificate and its key, or neither")
        self._httpd = _Server((host, port), _Handler)
        self._httpd.kube = kube
        self._httpd.config = config or AdmissionConfig()
        self._httpd.certs = CertReloader(cert_file, key_file) if cert_file and key_file else None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self._httpd.certs else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> WebhookServer:
        """Serve on a background thread."""
        # a short poll interval makes stop() quick (tests start and stop many servers)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="podnet-webhook", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until interrupted."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookServer:
        return self.start() if self._thread is None else self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
