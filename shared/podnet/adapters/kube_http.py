"""``KubeApi`` as a thin REST client on urllib3.

Why not the ``kubernetes`` package: ``import kubernetes.client`` costs ~180 ms (its package
``__init__`` pulls in kube_config and google-auth), every FC cold start would pay it, and we only need
six verbs on plain JSON. urllib3 (~60 ms, imported on first construction) gives keep-alive pools,
TLS with a CA bundle or client certificates, and streaming for watch. ``kubernetes.config`` is still
used, lazily, to read a kubeconfig (``from_kubeconfig``), where its auth plugins earn their keep.

Behaviour:
- Paths come from ``Resource.path``; objects are JSON dicts in and out.
- Errors: the API server's ``Status`` → ``NotFound`` (404), ``Conflict`` (409; also a json-patch whose
  ``test`` op failed, which the server answers 422), ``Gone`` (410), ``KubeError`` (others).
- 429 and 5xx, and connection errors, are retried a few times with a short backoff that honours
  ``Retry-After``; then ``RetryableError``. A request that may have reached the server (read timeout,
  reset) is only retried when repeating it is harmless (GET, DELETE, merge-patch, PUT with a
  resourceVersion precondition); otherwise ``RetryableError`` at once so the level-triggered step
  re-reads and decides again.
- ``list`` follows ``continue`` pages (and restarts once if the continue token expired).
- ``watch`` yields watch events and raises ``Gone`` on a 410 (HTTP or ERROR event).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from time import perf_counter
from typing import Any
from urllib.parse import urlencode

from podnet.adapters.retry import RetriesExhausted, RetryPolicy
from podnet.errors import Conflict, Gone, KubeError, NotFound, PermanentError, RetryableError
from podnet.metrics import Metrics, get_metrics
from podnet.ports import PatchKind, Resource

__all__ = ["HttpKube", "status_error"]

PATCH_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json"}
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_REREAD_S = 60.0  # projected service-account tokens rotate; re-read the file this often
DEFAULT_KUBE_RETRY = RetryPolicy(attempts=3, base_s=0.1, factor=2.0, max_delay_s=1.0, budget_s=2.0, requeue_delay_s=2.0)


def status_error(status: int, body: bytes | str | Mapping[str, Any] | None, *, json_patch_test: bool = False) -> KubeError:
    """The port error for an HTTP error answer carrying (usually) a ``Status`` object."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {"message": (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)[:500]}
    if not isinstance(data, Mapping):
        data = {}
    code = int(data.get("code") or status)
    reason = str(data.get("reason") or "")
    message = str(data.get("message") or "")
    causes = (data.get("details") or {}).get("causes") or [] if isinstance(data.get("details"), Mapping) else []
    if causes and message.startswith("the server rejected our request"):
        message += ": " + "; ".join(str(c.get("message", "")) for c in causes if isinstance(c, Mapping))
    if code == 404:
        return NotFound(code, reason or "NotFound", message)
    if code == 409 or (code == 422 and json_patch_test):
        return Conflict(code, reason or "Conflict", message)
    if code == 410:
        return Gone(code, reason or "Expired", message)
    return KubeError(code, reason or "Unknown", message)


class _Retry(Exception):
    """Internal: a retryable failure of one attempt, with the server's Retry-After (seconds)."""

    def __init__(self, message: str, code: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


def _retry_after(headers: Mapping[str, str], body: Mapping[str, Any] | None) -> float:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        if raw:
            return max(0.0, float(raw))
    except ValueError:
        pass
    details = (body or {}).get("details") if isinstance(body, Mapping) else None
    if isinstance(details, Mapping) and details.get("retryAfterSeconds"):
        try:
            return float(details["retryAfterSeconds"])
        except (TypeError, ValueError):
            return 0.0
    return 0.0


class HttpKube:
    """``KubeApi`` over HTTP(S) to one API server."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
        verify: bool = True,
        timeout_s: float = 10.0,
        user_agent: str = "podnet",
        token_file: str | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 500,
        metrics: Metrics | None = None,
    ) -> None:
        import urllib3  # ~60 ms: paid by whoever builds a client, not by importing this module

        self._urllib3 = urllib3
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.retry = retry or DEFAULT_KUBE_RETRY
        self.page_size = page_size
        self.metrics = metrics or get_metrics()
        self._token = token
        self._token_file = token_file
        self._token_read_at = 0.0
        self._lock = threading.Lock()
        pool_kw: dict[str, Any] = {"num_pools": 4, "maxsize": 16, "retries": False}
        if self.base_url.startswith("https"):
            pool_kw["cert_reqs"] = "CERT_REQUIRED" if verify else "CERT_NONE"
            if ca_file:
                pool_kw["ca_certs"] = ca_file
            if client_cert:
                pool_kw["cert_file"], pool_kw["key_file"] = client_cert
            if not verify:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._http = urllib3.PoolManager(**pool_kw)

    # --- construction from the environment -----------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kw: Any) -> HttpKube:
        """``PODNET_KUBE_URL`` + ``PODNET_KUBE_TOKEN`` (or ``PODNET_KUBE_TOKEN_FILE``) + ``PODNET_KUBE_CA_FILE``."""
        e = os.environ if env is None else env
        url = e.get("PODNET_KUBE_URL", "")
        if not url:
            raise PermanentError("PODNET_KUBE_URL is not set", code="ConfigError")
        return cls(
            url,
            token=e.get("PODNET_KUBE_TOKEN") or None,
            token_file=e.get("PODNET_KUBE_TOKEN_FILE") or None,
            ca_file=e.get("PODNET_KUBE_CA_FILE") or None,
            **kw,
        )

    @classmethod
    def in_cluster(cls, sa_dir: str = SA_DIR, env: Mapping[str, str] | None = None, **kw: Any) -> HttpKube:
        """The pod's service account (token re-read as it rotates) and the cluster CA."""
        e = os.environ if env is None else env
        host, port = e.get("KUBERNETES_SERVICE_HOST"), e.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise PermanentError("not running in a cluster (KUBERNETES_SERVICE_HOST unset)", code="ConfigError")
        if ":" in host:  # IPv6
            host = f"[{host}]"
        return cls(
            f"https://{host}:{port}",
            token_file=os.path.join(sa_dir, "token"),
            ca_file=os.path.join(sa_dir, "ca.crt"),
            **kw,
        )

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None, **kw: Any) -> HttpKube:
        """Load a kubeconfig with ``kubernetes.config`` (imported here, lazily), or the in-cluster config
        when no path is given and none exists, and build an ``HttpKube`` from the result."""
        path = path or os.environ.get("PODNET_KUBECONFIG") or os.environ.get("KUBECONFIG") or None
        default = os.path.expanduser("~/.kube/config")
        if path is None and not os.path.exists(default) and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster(**kw)
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        cfg = kclient.Configuration()
        kconfig.load_kube_config(config_file=path or default, context=context, client_configuration=cfg)
        return cls.from_configuration(cfg, **kw)

    @classmethod
    def from_configuration(cls, cfg: Any, **kw: Any) -> HttpKube:
        """From a ``kubernetes.client.Configuration`` (host, bearer token, CA, client certificate)."""
        auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken") or ""
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else (auth or None)
        cert = (cfg.cert_file, cfg.key_file) if getattr(cfg, "cert_file", None) and getattr(cfg, "key_file", None) else None
        return cls(
            cfg.host,
            token=token,
            ca_file=getattr(cfg, "ssl_ca_cert", None) or None,
            client_cert=cert,
            verify=bool(getattr(cfg, "verify_ssl", True)),
            **kw,
        )

    # --- plumbing ------------------------------------------------------------------------------
    def _bearer(self) -> str | None:
        if self._token_file:
            now = time.monotonic()
            with self._lock:
                if self._token is None or now - self._token_read_at > TOKEN_REREAD_S:
                    try:
                        with open(self._token_file, encoding="utf-8") as f:
                            self._token = f.read().strip()
                        self._token_read_at = now
                    except OSError as e:
                        if self._token is None:
                            raise PermanentError(f"cannot read kube token file: {e}", code="ConfigError") from e
        return self._token

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = self._bearer()
        if token:
            h["Authorization"] = f"Bearer {token}"
        if content_type:
            h["Content-Type"] = content_type
        return h

    def _url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        return f"{self.base_url}{path}" + (f"?{urlencode(q)}" if q else "")

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        replay_safe: bool = False,
        json_patch_test: bool = False,
    ) -> dict[str, Any]:
        """One API request with retries; returns the decoded JSON body; raises the port's errors."""
        u3 = self._urllib3
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None and content_type is None:
            content_type = "application/json"
        url = self._url(path, query)
        timeout = u3.Timeout(connect=min(self.timeout_s, 5.0), read=self.timeout_s)
        api = f"kube:{method}"

        def attempt() -> dict[str, Any]:
            t0 = perf_counter()
            try:
                out = send()
            except (_Retry, KubeError, RetryableError) as e:
                code = getattr(e, "code", "") or f"HTTP{getattr(e, 'status', '')}"
                self.metrics.record_call(api, perf_counter() - t0, code, throttled=code == "HTTP429")
                raise
            self.metrics.record_call(api, perf_counter() - t0)
            return out

        def send() -> dict[str, Any]:
            try:
                resp = self._http.request(
                    method, url, body=payload, headers=self._headers(content_type), timeout=timeout, retries=False
                )
            except (u3.exceptions.NewConnectionError, u3.exceptions.ConnectTimeoutError) as e:
                raise _Retry(f"{method} {path}: cannot connect: {e}", "ConnectionError") from e
            except u3.exceptions.HTTPError as e:  # read timeout, reset, protocol error: maybe applied
                if replay_safe:
                    raise _Retry(f"{method} {path}: {e}", "ConnectionError") from e
                raise RetryableError(f"{method} {path}: no answer: {e}", delay_s=1.0, code="KubeTransport") from e
            data: Any = None
            if resp.data:
                try:
                    data = json.loads(resp.data)
                except ValueError:
                    data = None
            if resp.status < 400:
                if data is None and resp.data:
                    raise KubeError(resp.status, "InvalidResponse", f"{method} {path}: answer is not JSON")
                return data if isinstance(data, dict) else {}
            if resp.status == 429 or (resp.status >= 500 and (replay_safe or resp.status == 503)):
                raise _Retry(
                    f"{method} {path}: HTTP {resp.status}",
                    f"HTTP{resp.status}",
                    _retry_after(resp.headers, data if isinstance(data, Mapping) else None),
                )
            raise status_error(resp.status, data if isinstance(data, Mapping) else resp.data, json_patch_test=json_patch_test)

        def classify(exc: BaseException) -> float | None:
            return exc.retry_after_s if isinstance(exc, _Retry) else None

        try:
            return self.retry.run(attempt, classify)
        except RetriesExhausted as ex:
            raise RetryableError(str(ex.last), delay_s=ex.delay_s, code=getattr(ex.last, "code", "")) from ex.last

    @staticmethod
    def _ns(res: Resource, namespace: str | None) -> str | None:
        return namespace if res.namespaced else None

    @staticmethod
    def _typed(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        # list items come without kind/apiVersion; callers find it easier when every object has them
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return obj

    # --- KubeApi -------------------------------------------------------------------------------
    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._request("GET", res.path(self._ns(res, namespace), name), replay_safe=True)
        except NotFound:
            return None

    def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (following ``continue`` pages) and the list's resourceVersion."""
        for restart in (False, True):
            items: list[dict[str, Any]] = []
            cont = ""
            try:
                while True:
                    page = self._request(
                        "GET",
                        res.path(self._ns(res, namespace)),
                        query={"labelSelector": label_selector, "limit": self.page_size, "continue": cont},
                        replay_safe=True,
                    )
                    items.extend(self._typed(res, i) for i in page.get("items") or [])
                    meta = page.get("metadata") or {}
                    cont = meta.get("continue") or ""
                    if not cont:
                        return items, str(meta.get("resourceVersion") or "")
            except Gone:
                if restart or not cont:
                    raise
                # the continue token expired mid-list: start over once from a fresh snapshot
        raise AssertionError("unreachable")

    def create(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """POST the object (``Conflict`` when it already exists)."""
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if res.namespaced else None)
        body = {"apiVersion": res.api_version, "kind": res.kind, **obj}
        return self._request("POST", res.path(self._ns(res, ns)), body=body)

    def replace(self, res: Resource, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        """PUT the object; ``metadata.resourceVersion`` in ``obj`` is the precondition (409 when stale)."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or ("default" if res.namespaced else None)
        body = {"apiVersion": res.api_version, "kind": res.kind, **obj}
        return self._request(
            "PUT",
            res.path(self._ns(res, ns), meta.get("name"), subresource),
            body=body,
            replay_safe=bool(meta.get("resourceVersion")),
        )

    def patch(
        self,
        res: Resource,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        namespace: str | None = None,
        kind: PatchKind = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PATCH with a merge patch (dict) or a JSON patch (list; a failed ``test`` op → ``Conflict``)."""
        if kind not in PATCH_TYPES:
            raise ValueError(f"unknown patch kind {kind!r}")
        has_test = kind == "json" and any(isinstance(op, Mapping) and op.get("op") == "test" for op in patch)
        return self._request(
            "PATCH",
            res.path(self._ns(res, namespace), name, subresource),
            body=patch,
            content_type=PATCH_TYPES[kind],
            replay_safe=kind == "merge",
            json_patch_test=has_test,
        )

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Delete (or mark for deletion while finalizers remain); None when already gone."""
        try:
            return self._request("DELETE", res.path(self._ns(res, namespace), name), replay_safe=True)
        except NotFound:
            return None

    # --- watch ---------------------------------------------------------------------------------
    def watch(
        self,
        res: Resource,
        *,
        resource_version: str,
        timeout_s: int,
        label_selector: str | None = None,
        namespace: str | None = None,
        allow_bookmarks: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Yield watch events ``{"type", "object"}`` from ``resource_version`` until the server ends the
        watch (after ``timeout_s``). Raises ``Gone`` when that version is too old: relist, then re-watch."""
        u3 = self._urllib3
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": int(timeout_s),
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
            "labelSelector": label_selector,
        }
        url = self._url(res.path(self._ns(res, namespace)), query)
        try:
            resp = self._http.request(
                "GET",
                url,
                headers=self._headers(),
                preload_content=False,
                timeout=u3.Timeout(connect=min(self.timeout_s, 5.0), read=timeout_s + self.timeout_s),
                retries=False,
            )
        except u3.exceptions.HTTPError as e:
            raise RetryableError(f"watch {res.plural}: {e}", delay_s=1.0, code="KubeTransport") from e
        try:
            if resp.status >= 400:
                raise status_error(resp.status, resp.read())
            for line in _lines(resp, u3):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as e:
                    raise KubeError(resp.status, "InvalidResponse", f"watch line is not JSON: {line[:200]!r}") from e
                if event.get("type") == "ERROR":
                    obj = event.get("object") or {}
                    raise status_error(int(obj.get("code") or 500), obj)
                if isinstance(event.get("object"), dict):
                    self._typed(res, event["object"])
                yield event
        finally:
            # a watch body is endless: close the connection rather than drain it back into the pool
            resp.close()


def _lines(resp: Any, u3: Any) -> Iterator[bytes]:
    """Split a streamed watch body into lines, chunked or not; a read timeout just ends the stream."""
    buf = b""
    reader: Callable[[], Iterator[bytes]]
    if getattr(resp, "chunked", False) and resp.supports_chunked_reads():
        reader = lambda: resp.read_chunked(decode_content=True)  # noqa: E731
    else:

        def reader() -> Iterator[bytes]:
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    return
                yield chunk

    try:
        for chunk in reader():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line
    except u3.exceptions.ReadTimeoutError:
        return
    except u3.exceptions.ProtocolError as e:
        if buf.strip():
            raise RetryableError(f"watch stream broken: {e}", delay_s=1.0, code="KubeTransport") from e
        return
    if buf.strip():
        yield buf
