"""Watch semantics of the fake kube-apiserver through ``kubernetes.watch.Watch().stream``."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiClient, ApiException

from podnet.fakes.kube import objects
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer, kube_client_config

G, V = "network.alibabacloud.com", "v1beta1"


@pytest.fixture
def core(kube_api_client: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["raw_object"]["metadata"].get("name", "")) for e in events if e["type"] != "BOOKMARK"]


def caught_up(fn: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Stream until the first BOOKMARK: the server sends one only after everything before it."""
    w = watch.Watch()
    out: list[dict[str, Any]] = []
    for ev in w.stream(fn, *args, allow_watch_bookmarks=True, _request_timeout=10, **kwargs):
        if ev["type"] == "BOOKMARK":
            w.stop()
        else:
            out.append(ev)
    return out


def test_initial_state_then_live_events(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    core.create_namespaced_pod("default", objects.pod("a"))
    core.create_namespaced_pod("elsewhere", objects.pod("x", namespace="elsewhere"))
    w = watch.Watch()
    seen: list[dict[str, Any]] = []
    for ev in w.stream(core.list_namespaced_pod, "default", _request_timeout=10):
        seen.append(ev)
        if len(seen) == 1:  # the synthetic ADDED for what exists; now change things while watching
            kube_backend.create("pods", objects.pod("b"))
            kube_backend.patch("pods", "a", {"metadata": {"labels": {"k": "v"}}}, "default")
            kube_backend.create("pods", objects.pod("y", namespace="elsewhere"))
            kube_backend.delete("pods", "b", "default")
        if len(seen) == 4:
            w.stop()
    assert summary(seen) == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert isinstance(seen[2]["object"], client.V1Pod) and seen[2]["object"].metadata.labels == {"k": "v"}
    assert w.resource_version == seen[-1]["raw_object"]["metadata"]["resourceVersion"]


def test_resume_from_resource_version(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    for name in ("a", "b"):
        kube_backend.create("pods", objects.pod(name))
    mark = kube_backend.resource_version
    kube_backend.create("pods", objects.pod("c"))
    kube_backend.delete("pods", "a", "default")
    w = watch.Watch()
    got = list(w.stream(core.list_pod_for_all_namespaces, resource_version=mark, timeout_seconds=1))
    assert summary(got) == [("ADDED", "c"), ("DELETED", "a")]
    # resuming from where the client stopped gives only what happened since
    kube_backend.patch("pods", "b", {"metadata": {"annotations": {"x": "1"}}}, "default")
    again = caught_up(core.list_pod_for_all_namespaces, resource_version=w.resource_version)
    assert summary(again) == [("MODIFIED", "b")]


def test_server_timeout_ends_stream_with_bookmark(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.create("pods", objects.pod("a"))
    rv = kube_backend.resource_version
    started = time.monotonic()
    got = list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=1,
                                    allow_watch_bookmarks=True, _request_timeout=10))
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0
    assert got and all(e["type"] == "BOOKMARK" for e in got)
    assert got[-1]["raw_object"] == {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


def test_too_old_resource_version_is_410_then_relist() -> None:
    backend = KubeBackend(history=3)
    with FakeKubeServer(backend, bookmark_interval_s=0.1) as server, client.ApiClient(kube_client_config(server.url)) as api:
        core = client.CoreV1Api(api)
        backend.create("pods", objects.pod("p0"))
        old = backend.resource_version
        for i in range(1, 6):
            backend.create("pods", objects.pod(f"p{i}"))
        # with timeout_seconds the client raises on the first ERROR event
        with pytest.raises(ApiException) as ei:
            list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=1))
        assert ei.value.status == 410 and "Expired" in ei.value.reason
        # without it the client retries once from the same version, then raises
        with pytest.raises(ApiException) as ei:
            list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=old, _request_timeout=5))
        assert ei.value.status == 410
        assert backend.calls["watch:pods"] == 3
        # the recovery: relist, then watch from the list's resourceVersion
        listed = core.list_namespaced_pod("default")
        assert len(listed.items) == 6
        backend.delete("pods", "p0", "default")
        got = caught_up(core.list_namespaced_pod, "default", resource_version=listed.metadata.resource_version)
        assert summary(got) == [("DELETED", "p0")]


def test_label_selector_moves_objects_in_and_out(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.create("pods", objects.pod("a", labels={"podnet": "yes"}))
    kube_backend.create("pods", objects.pod("b"))
    rv = kube_backend.resource_version
    kube_backend.patch("pods", "b", {"metadata": {"labels": {"podnet": "yes"}}}, "default")  # moves in
    kube_backend.patch("pods", "a", {"metadata": {"labels": {"podnet": "no"}}}, "default")  # moves out
    kube_backend.patch("pods", "a", {"metadata": {"annotations": {"z": "1"}}}, "default")  # not selected
    kube_backend.patch("pods", "b", {"metadata": {"annotations": {"z": "1"}}}, "default")
    got = caught_up(core.list_namespaced_pod, "default", label_selector="podnet=yes", resource_version=rv)
    assert summary(got) == [("ADDED", "b"), ("DELETED", "a"), ("MODIFIED", "b")]


def test_field_selector_on_watch(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    kube_backend.create("pods", objects.pod("a", node="n1"))
    kube_backend.create("pods", objects.pod("b", node="n2"))
    got = caught_up(core.list_pod_for_all_namespaces, field_selector="spec.nodeName=n2")
    assert summary(got) == [("ADDED", "b")]


def test_custom_objects_watch_and_finalizer_delete(kube_api_client: ApiClient, kube_backend: KubeBackend) -> None:
    custom = client.CustomObjectsApi(kube_api_client)
    custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("net"))
    kube_backend.patch("podnetworkings", "net", {"metadata": {"finalizers": ["podnet/x"]}})
    rv = kube_backend.resource_version
    kube_backend.patch("podnetworkings", "net", {"status": {"status": "Ready"}}, subresource="status")
    kube_backend.delete("podnetworkings", "net")  # sets deletionTimestamp only
    kube_backend.patch("podnetworkings", "net", {"metadata": {"finalizers": None}})  # now gone
    got = caught_up(custom.list_cluster_custom_object, G, V, "podnetworkings", resource_version=rv)
    assert summary(got) == [("MODIFIED", "net"), ("MODIFIED", "net"), ("DELETED", "net")]
    assert got[0]["object"]["status"] == {"status": "Ready"}
    assert "deletionTimestamp" in got[1]["object"]["metadata"]
    assert all(isinstance(e["object"], dict) for e in got)


def test_periodic_bookmarks_advance_resume_point(kube_server: FakeKubeServer, core: client.CoreV1Api,
                                                 kube_backend: KubeBackend) -> None:
    kube_backend.create("pods", objects.pod("a"))
    rv = kube_backend.resource_version
    kube_backend.create("nodes", objects.node("n1"))  # other resource: only a bookmark tells us about it
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, "default", resource_version=rv, allow_watch_bookmarks=True,
                       _request_timeout=10):
        assert ev["type"] == "BOOKMARK"
        w.stop()
    assert w.resource_version == kube_backend.resource_version != rv


def test_watch_survives_stop_and_server_stop(kube_backend: KubeBackend) -> None:
    server = FakeKubeServer(kube_backend).start()
    api = client.ApiClient(kube_client_config(server.url))
    core = client.CoreV1Api(api)
    done = threading.Event()

    def consume() -> None:
        try:
            list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=30,
                                      _request_timeout=10))
        except Exception:  # the connection may end abruptly when the server stops
            pass
        done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    assert done.wait(3) and time.monotonic() - started < 3
    api.close()


def test_watch_bad_selector_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as ei:
        list(watch.Watch().stream(core.list_namespaced_pod, "default", label_selector="a in (", timeout_seconds=1))
    assert ei.value.status == 400
