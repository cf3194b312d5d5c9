"""Wire-level behaviour of the fake kube-apiserver: discovery, malformed requests, raw Status JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from podnet.fakes.kube import objects
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False, timeout=5)


def call(http: urllib3.PoolManager, server: FakeKubeServer, method: str, path: str, body: Any = None,
         content_type: str = "application/json", raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    resp = http.request(method, server.url + path, body=data, headers={"Content-Type": content_type})
    try:
        return resp.status, json.loads(resp.data)
    except ValueError:
        return resp.status, resp.data.decode()


def test_discovery_and_health(http: urllib3.PoolManager, kube_server: FakeKubeServer) -> None:
    assert call(http, kube_server, "GET", "/healthz") == (200, "ok")
    code, version = call(http, kube_server, "GET", "/version")
    assert code == 200 and version["major"] == "1"
    code, api = call(http, kube_server, "GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    code, apis = call(http, kube_server, "GET", "/apis")
    assert [g["name"] for g in apis["groups"]] == ["network.alibabacloud.com"]
    code, res = call(http, kube_server, "GET", "/apis/network.alibabacloud.com/v1beta1")
    names = {r["name"]: r for r in res["resources"]}
    assert names["podenis"]["namespaced"] and not names["podnetworkings"]["namespaced"]
    assert "podenis/status" in names
    code, core = call(http, kube_server, "GET", "/api/v1")
    assert {"pods", "pods/status", "nodes", "events", "namespaces", "configmaps"} <= {r["name"] for r in core["resources"]}


@pytest.mark.parametrize(
    ("method", "path", "code", "reason"),
    [
        ("GET", "/api/v1/widgets", 404, "NotFound"),
        ("GET", "/api/v2/pods", 404, "NotFound"),
        ("GET", "/apis/unknown.io/v1/things", 404, "NotFound"),
        ("GET", "/api/v1/pods/p", 404, "NotFound"),  # a namespaced object needs its namespace
        ("GET", "/api/v1/namespaces/default/nodes", 404, "NotFound"),  # nodes are cluster-scoped
        ("GET", "/api/v1/namespaces/default/pods/p/logs", 404, "NotFound"),
        ("PUT", "/api/v1/namespaces/default/pods", 405, "MethodNotAllowed"),
        ("POST", "/api/v1/namespaces/default/pods/p", 405, "MethodNotAllowed"),
        ("POST", "/api/v1/pods", 405, "MethodNotAllowed"),
        ("DELETE", "/api", 405, "MethodNotAllowed"),
    ],
)
def test_bad_paths_and_methods(http: urllib3.PoolManager, kube_server: FakeKubeServer, method: str, path: str,
                               code: int, reason: str) -> None:
    got, body = call(http, kube_server, method, path, objects.pod("p") if method in ("POST", "PUT") else None)
    assert got == code
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == reason
    assert body["code"] == code


def test_malformed_bodies(http: urllib3.PoolManager, kube_server: FakeKubeServer) -> None:
    base = "/api/v1/namespaces/default/pods"
    code, body = call(http, kube_server, "POST", base, raw=b"{not json")
    assert code == 400 and body["reason"] == "BadRequest"
    code, body = call(http, kube_server, "POST", base, raw=b"[1, 2]")
    assert code == 400
    code, body = call(http, kube_server, "POST", base, {"kind": "Node", "metadata": {"name": "x"}})
    assert code == 400
    code, body = call(http, kube_server, "POST", base, objects.pod("p", namespace="other"))
    assert code == 400 and "does not match the namespace" in body["message"]
    assert call(http, kube_server, "POST", base, objects.pod("p"))[0] == 201
    code, body = call(http, kube_server, "PATCH", base + "/p", {"a": 1}, content_type="text/plain")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    code, body = call(http, kube_server, "PATCH", base + "/p", [{"op": "explode", "path": "/x"}],
                      content_type="application/json-patch+json")
    assert code == 400
    code, body = call(http, kube_server, "PATCH", base + "/p", [{"op": "remove", "path": "/spec/nope"}],
                      content_type="application/json-patch+json")
    assert code == 422 and body["reason"] == "Invalid"
    code, body = call(http, kube_server, "PUT", base + "/p", objects.pod("q"))
    assert code == 400 and "does not match the name on the URL" in body["message"]
    created = call(http, kube_server, "GET", base + "/p")[1]
    code, body = call(http, kube_server, "POST", base, created)  # copied with its resourceVersion
    assert code == 500 and "resourceVersion should not be set" in body["message"]
    code, body = call(http, kube_server, "GET", base + "?limit=x")
    assert code == 400
    code, body = call(http, kube_server, "GET", base + "?continue=garbage")
    assert code == 400


def test_raw_wire_shapes(http: urllib3.PoolManager, kube_server: FakeKubeServer, kube_backend: KubeBackend) -> None:
    base = "/api/v1/namespaces/default/pods"
    code, pod = call(http, kube_server, "POST", base + "?dryRun=All", objects.pod("dry"))
    assert code == 201 and kube_backend.items("pods") == []
    call(http, kube_server, "POST", base, objects.pod("p"))
    code, listed = call(http, kube_server, "GET", base)
    assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
    assert "kind" not in listed["items"][0]  # built-in list items carry no kind, as on the real server
    resp = http.request("GET", kube_server.url + base + "?watch=1&timeoutSeconds=0")
    lines = [json.loads(x) for x in resp.data.decode().splitlines()]
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert [(e["type"], e["object"]["kind"]) for e in lines] == [("ADDED", "Pod")]
    resp = http.request("GET", kube_server.url + "/api/v1/watch/namespaces/default/pods?timeoutSeconds=0")
    assert [json.loads(x)["type"] for x in resp.data.decode().splitlines()] == ["ADDED"]


def test_expired_watch_is_error_event_and_continue_410(http: urllib3.PoolManager) -> None:
    backend = KubeBackend(history=2)
    with FakeKubeServer(backend) as server:
        for i in range(4):
            backend.create("pods", objects.pod(f"p{i}"))
        code, page = call(http, server, "GET", "/api/v1/pods?limit=1")
        for i in range(4, 8):
            backend.create("pods", objects.pod(f"p{i}"))
        resp = http.request("GET", server.url + "/api/v1/pods?watch=true&resourceVersion=1")
        assert resp.status == 200
        (event,) = [json.loads(x) for x in resp.data.decode().splitlines()]
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
        assert event["object"]["message"].startswith("too old resource version: 1")
        code, body = call(http, server, "GET", "/api/v1/pods?limit=1&continue=" + page["metadata"]["continue"])
        assert code == 410 and body["reason"] == "Expired"
