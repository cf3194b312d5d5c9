"""Injected faults on the fake kube-apiserver, as the real kubernetes client sees them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiClient, ApiException

from podnet.fakes.kube import objects
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer


@pytest.fixture
def core(kube_server: FakeKubeServer) -> Iterator[client.CoreV1Api]:
    # urllib3 would otherwise honour Retry-After on a 429 GET by itself and hide the fault
    cfg = client.Configuration()
    cfg.host = kube_server.url
    cfg.retries = False
    with ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


def test_throttle_is_429_with_retry_after(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.faults.add(service="kube", kind="throttle", action="list:pods", count=1)
    with pytest.raises(ApiException) as ei:
        core.list_namespaced_pod("default")
    assert ei.value.status == 429 and ei.value.headers["Retry-After"] == "1"
    body = json.loads(ei.value.body)
    assert body["reason"] == "TooManyRequests" and body["details"] == {"retryAfterSeconds": 1}
    assert core.list_namespaced_pod("default").items == []  # count=1: the next call goes through


def test_unavailable_and_error(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.create("nodes", objects.node("n1"))
    kube_backend.faults.add(service="kube", kind="unavailable", action="get:nodes", count=1)
    with pytest.raises(ApiException) as ei:
        core.read_node("n1")
    assert ei.value.status == 503 and json.loads(ei.value.body)["reason"] == "ServiceUnavailable"
    kube_backend.faults.add(service="kube", kind="error", action="create:pods", status=409, code="Conflict",
                            message="injected", count=1)
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", objects.pod("p"))
    body = json.loads(ei.value.body)
    assert (ei.value.status, body["reason"], body["message"]) == (409, "Conflict", "injected")
    assert kube_backend.items("pods") == []  # an "error" fault does nothing


def test_lose_response_performs_the_write(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.faults.add(service="kube", kind="lose_response", action="create:pods", count=1)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.create_namespaced_pod("default", objects.pod("p"), _request_timeout=5)
    assert [p["metadata"]["name"] for p in kube_backend.items("pods")] == ["p"]
    with pytest.raises(ApiException) as ei:  # the caller's retry now finds it exists
        core.create_namespaced_pod("default", objects.pod("p"), _request_timeout=5)
    assert ei.value.status == 409


def test_latency_and_watch_faults(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.faults.add(service="kube", kind="latency", action="get:pods", latency_s=0.3, count=1)
    kube_backend.create("pods", objects.pod("p"))
    started = time.monotonic()
    core.read_namespaced_pod("p", "default")
    assert time.monotonic() - started >= 0.3
    kube_backend.faults.add(service="kube", kind="throttle", action="watch:pods", count=1)
    with pytest.raises(ApiException) as ei:
        list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    assert ei.value.status == 429
