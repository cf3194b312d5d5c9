"""HTTP layer of the fake kube-apiserver: routes REST paths to ``KubeBackend`` and renders answers.

No state here (moto's responses.py + urls.py): parse the request, apply injected faults, call the
backend, send JSON (or a chunked watch stream). Errors become the server's ``Status`` objects.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from podnet.clock import Clock
from podnet.fakes.http import FakeHTTPServer, QuietHandler
from podnet.fakes.kube import errors
from podnet.fakes.kube.backend import KubeBackend, Watch
from podnet.fakes.kube.patching import CONTENT_TYPES
from podnet.fakes.kube.resources import ResourceType

if TYPE_CHECKING:
    from kubernetes.client import Configuration

ANONYMOUS = "system:anonymous"
JSON = "application/json"
VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-podnet-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_TRUE = ("true", "1", "True")


@dataclass
class Route:
    """Where a path points: a discovery document, or a resource collection/object/subresource."""

    doc: dict[str, Any] | None = None
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch_path: bool = False  # the legacy /api/v1/watch/... form


class KubeRequestHandler(QuietHandler):
    """One request; the owning FakeKubeServer is ``self.server.fake``."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def fake(self) -> FakeKubeServer:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    @property
    def backend(self) -> KubeBackend:
        return self.fake.backend

    def _handle(self, method: str) -> None:
        try:
            body = self.read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        try:
            self._dispatch(method, body)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.to_status(), exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # never a traceback or a hang: a 500 Status
            self._send_json(500, errors.internal(f"{type(exc).__name__}: {exc}").to_status())

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(code, json.dumps(payload, separators=(",", ":")).encode(), JSON, headers)

    def _user(self) -> str:
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else ANONYMOUS

    def _json_body(self, body: bytes) -> Any:
        if not body.strip():
            raise errors.bad_request("the request body is empty")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None

    def _faults(self, action: str) -> bool:
        """Apply injected faults for ``action``; True when the response must be lost."""
        lose = False
        for rule in self.backend.faults.decide("kube", action):
            if rule.kind == "latency":
                time.sleep(rule.latency_s)
            elif rule.kind == "throttle":
                raise errors.too_many_requests(rule.message)
            elif rule.kind == "unavailable":
                raise errors.service_unavailable(rule.message)
            elif rule.kind == "error":
                raise errors.error_for(rule.status, rule.code, rule.message)
            elif rule.kind == "lose_response":
                lose = True
        return lose

    # -- routing ----------------------------------------------------------------------------------
    def _route(self, path: str) -> Route:
        segs = [unquote(s) for s in path.split("/") if s]
        reg = self.backend.registry
        gvs = reg.group_versions()
        if not segs:
            return Route(doc={"paths": ["/api", "/api/v1", "/apis", "/healthz", "/version"]})
        if segs[0] == "api":
            if len(segs) == 1:
                return Route(doc=self._api_versions())
            group, version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis":
            if len(segs) == 1:
                return Route(doc=self._group_list(gvs))
            group = segs[1]
            if group == "" or group not in gvs:
                raise errors.path_not_found()
            if len(segs) == 2:
                return Route(doc=self._group(group, gvs[group]))
            version, rest = segs[2], segs[3:]
        else:
            raise errors.path_not_found()
        if version not in gvs.get(group, []):
            raise errors.path_not_found()
        if not rest:
            return Route(doc=self._resource_list(group, version))
        watch_path = rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            inner = reg.by_path(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.path_not_found()
        rt = reg.by_path(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise errors.path_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if name is not None and rt.namespaced and namespace is None:
            raise errors.path_not_found()
        if sub is not None and not ((sub == "status" and rt.status_subresource) or (sub == "binding" and rt.plural == "pods" and not rt.group)):
            raise errors.path_not_found()
        return Route(rt=rt, namespace=namespace, name=name, subresource=sub, watch_path=watch_path)

    def _api_versions(self) -> dict[str, Any]:
        host = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}

    @staticmethod
    def _group(group: str, versions: list[str]) -> dict[str, Any]:
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs, "preferredVersion": vs[0]}

    def _group_list(self, gvs: dict[str, list[str]]) -> dict[str, Any]:
        groups = [self._group(g, vs) for g, vs in gvs.items() if g]
        for g in groups:
            del g["kind"], g["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources: list[dict[str, Any]] = []
        for rt in self.backend.registry:
            if rt.group != group or rt.version != version:
                continue
            resources.append({
                "name": rt.plural, "singularName": rt.kind.lower(), "namespaced": rt.namespaced, "kind": rt.kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            })
            if rt.status_subresource:
                resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    # -- dispatch ---------------------------------------------------------------------------------
    def _dispatch(self, method: str, body: bytes) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)

        def param(key: str) -> str | None:
            values = query.get(key)
            return values[-1] if values else None

        path = url.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            return
        if path == "/version":
            self._send_json(200, VERSION_INFO)
            return
        route = self._route(path)
        if route.doc is not None:
            if method != "GET":
                raise errors.method_not_allowed()
            self._send_json(200, route.doc)
            return
        rt = route.rt
        assert rt is not None
        user = self._user()
        dry_run = param("dryRun") == "All"
        b = self.backend
        ns, name, sub = route.namespace, route.name, route.subresource

        if name is None:  # collection
            if method == "GET":
                if route.watch_path or param("watch") in _TRUE:
                    self._watch(rt, ns, param)
                    return
                lose = self._faults(f"list:{rt.plural}")
                limit = param("limit")
                try:
                    limit_n = int(limit) if limit else None
                except ValueError:
                    raise errors.bad_request(f"invalid limit: {limit}") from None
                out = b.list(rt, ns, param("labelSelector"), param("fieldSelector"), limit=limit_n,
                             continue_token=param("continue") or None)
                self._answer(lose, 200, out)
            elif method == "POST":
                if rt.namespaced and ns is None:
                    raise errors.method_not_allowed()
                obj = self._json_body(body)
                lose = self._faults(f"create:{rt.plural}")
                self._answer(lose, 201, b.create(rt, obj, ns, user=user, dry_run=dry_run))
            elif method == "DELETE":
                lose = self._faults(f"deletecollection:{rt.plural}")
                b.delete_collection(rt, ns, param("labelSelector"), param("fieldSelector"), user=user)
                self._answer(lose, 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            else:
                raise errors.method_not_allowed()
            return

        if route.watch_path:
            if method != "GET":
                raise errors.method_not_allowed()
            self._watch(rt, ns, param, name=name)
            return
        if sub == "binding":
            if method != "POST":
                raise errors.method_not_allowed()
            binding = self._json_body(body)
            target = (binding.get("target") or {}) if isinstance(binding, dict) else {}
            if not target.get("name"):
                raise errors.invalid(rt, name, "target.name", "Required value", "FieldValueRequired")
            lose = self._faults(f"create:{rt.plural}")
            b.bind_pod(name, ns or "default", str(target["name"]), user=user)
            self._answer(lose, 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                     "code": 201})
        elif method == "GET":
            lose = self._faults(f"get:{rt.plural}")
            self._answer(lose, 200, b.get(rt, name, ns))
        elif method == "PUT":
            obj = self._json_body(body)
            lose = self._faults(f"update:{rt.plural}")
            self._answer(lose, 200, b.update(rt, obj, ns, name=name, subresource=sub, user=user, dry_run=dry_run))
        elif method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            patch_type = CONTENT_TYPES.get(ctype)
            if patch_type is None:
                raise errors.unsupported_media_type(ctype)
            patch = self._json_body(body)
            lose = self._faults(f"patch:{rt.plural}")
            out = b.patch(rt, name, patch, ns, patch_type=patch_type, subresource=sub, user=user, dry_run=dry_run)
            self._answer(lose, 200, out)
        elif method == "DELETE" and sub is None:
            options = self._json_body(body) if body.strip() else {}
            pre = options.get("preconditions") if isinstance(options, dict) else None
            lose = self._faults(f"delete:{rt.plural}")
            out = b.delete(rt, name, ns, preconditions=pre if isinstance(pre, dict) else None, user=user,
                           dry_run=dry_run)
            if rt.return_deleted_object or out["metadata"].get("finalizers"):
                self._answer(lose, 200, out)
            else:
                details: dict[str, Any] = {"name": name}
                if rt.group:
                    details["group"] = rt.group
                details.update(kind=rt.plural, uid=out["metadata"].get("uid", ""))
                self._answer(lose, 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                         "details": details})
        else:
            raise errors.method_not_allowed()

    def _answer(self, lose: bool, code: int, payload: Any) -> None:
        if lose:  # the work is done; the client never hears about it
            self.drop_connection()
            return
        self._send_json(code, payload)

    # -- watch ------------------------------------------------------------------------------------
    def _watch(self, rt: ResourceType, ns: str | None, param: Callable[[str], str | None], name: str | None = None) -> None:
        fake, b = self.fake, self.backend
        lose = self._faults(f"watch:{rt.plural}")
        field_selector = param("fieldSelector")
        if name is not None:
            field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name}"]))
        raw_timeout = param("timeoutSeconds")
        try:
            timeout = float(raw_timeout) if raw_timeout else fake.default_watch_timeout_s
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds: {raw_timeout}") from None
        bookmarks = param("allowWatchBookmarks") in _TRUE
        watch: Watch | None = None
        first: list[dict[str, Any]] = []
        try:
            watch = b.watch(rt, ns, param("labelSelector"), field_selector, param("resourceVersion"))
            first = watch.initial
        except errors.ExpiredError as exc:  # the real server answers 200 and an ERROR event
            first = [{"type": "ERROR", "object": exc.to_status()}]
        if lose:
            self.drop_connection()
            return
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._write_events(first)
            if watch is not None:
                self._pump(watch, timeout, bookmarks)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _pump(self, watch: Watch, timeout: float, bookmarks: bool) -> None:
        fake = self.fake
        start = time.monotonic()
        deadline = start + max(0.0, timeout)
        interval = max(0.05, fake.bookmark_interval_s)
        next_bookmark = start + interval
        while not fake.stopping.is_set():
            now = time.monotonic()
            if now >= deadline:
                if bookmarks:  # say how far we got before closing, as the server does
                    self._write_events(watch.poll(0) + [watch.bookmark()])
                return
            wait = min(deadline - now, 0.25)
            if bookmarks:
                wait = max(0.0, min(wait, next_bookmark - now))
            try:
                events = watch.poll(wait)
            except errors.ExpiredError as exc:
                self._write_events([{"type": "ERROR", "object": exc.to_status()}])
                return
            self._write_events(events)
            if bookmarks and time.monotonic() >= next_bookmark:
                self._write_events(watch.poll(0) + [watch.bookmark()])
                next_bookmark = time.monotonic() + interval
            if not events and self._client_gone():
                raise BrokenPipeError("watch client went away")

    def _write_events(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            data = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        if events:
            self.wfile.flush()

    def _client_gone(self) -> bool:
        # poll(), not select(): select() fails for descriptors above 1024, which a long test run reaches
        try:
            poller = select.poll()
            poller.register(self.connection, select.POLLIN | select.POLLHUP)
            if not poller.poll(0):
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class FakeKubeServer(FakeHTTPServer):
    """The fake kube-apiserver on 127.0.0.1; ``.backend`` is its KubeBackend, ``.url`` its address."""

    handler_class = KubeRequestHandler

    def __init__(
        self,
        backend: KubeBackend | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        bookmark_interval_s: float = 1.0,
        default_watch_timeout_s: float = 1800.0,
    ) -> None:
        super().__init__(host, port)
        self.backend = backend if backend is not None else KubeBackend(clock=clock)
        self.bookmark_interval_s = bookmark_interval_s
        self.default_watch_timeout_s = default_watch_timeout_s
        self.stopping = threading.Event()

    def start(self) -> FakeKubeServer:
        self.stopping.clear()
        super().start()
        return self

    def stop(self) -> None:
        # open watches notice within a poll interval and end their streams
        self.stopping.set()
        self.backend.wake_watchers()
        super().stop()

    def __enter__(self) -> FakeKubeServer:
        return self.start() if self._httpd is None else self


def kube_client_config(url: str, token: str | None = None) -> Configuration:
    """A ``kubernetes.client.Configuration`` pointed at ``url`` (no TLS verification)."""
    from kubernetes import client  # only here: the server itself does not need the client

    cfg = client.Configuration()
    cfg.host = url
    cfg.verify_ssl = False
    if token:
        cfg.api_key = {"authorization": f"Bearer {token}"}
    return cfg


def serve(
    port: int, host: str = "127.0.0.1", *, on_ready: Callable[[FakeKubeServer], None] | None = None
) -> None:
    """Run a fake kube-apiserver until interrupted (``podnet fake kube``); ``on_ready`` gets the started server."""
    server = FakeKubeServer(host=host, port=port).start()
    if on_ready is not None:
        on_ready(server)
    server.serve_forever()
