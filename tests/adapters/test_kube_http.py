"""HttpKube against the fake kube-apiserver over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from podnet.adapters.kube_http import HttpKube, status_error
from podnet.adapters.retry import RetryPolicy
from podnet.clock import SimClock
from podnet.errors import Conflict, Gone, KubeError, NotFound, PermanentError, RetryableError
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer
from podnet.ports import NODES, PODENIS, PODNETWORKINGS, PODS

NS = "default"


def pod(name: str, ns: str = NS, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def kube(kube_server: FakeKubeServer, sleeps: Sleeps) -> HttpKube:
    return HttpKube(kube_server.url, token="test-token", retry=RetryPolicy(attempts=3, jitter=0.0, sleep=sleeps))


def test_crud_round_trip(kube: HttpKube) -> None:
    created = kube.create(PODS, pod("web-0"))
    assert created["kind"] == "Pod" and created["metadata"]["uid"]
    got = kube.get(PODS, "web-0", NS)
    assert got is not None and got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    got["metadata"]["labels"] = {"app": "web"}
    replaced = kube.replace(PODS, got)
    assert replaced["metadata"]["labels"] == {"app": "web"}
    patched = kube.patch(PODS, "web-0", {"metadata": {"annotations": {"a": "1"}}}, NS)
    assert patched["metadata"]["annotations"] == {"a": "1"} and patched["metadata"]["labels"] == {"app": "web"}
    deleted = kube.delete(PODS, "web-0", NS)
    assert deleted is not None
    assert kube.get(PODS, "web-0", NS) is None
    assert kube.delete(PODS, "web-0", NS) is None  # already gone


def test_cluster_scoped_and_custom_resources(kube: HttpKube) -> None:
    pn = {"metadata": {"name": "net-a"}, "spec": {"vSwitchOptions": ["vsw-1"], "securityGroupIDs": ["sg-1"]}}
    created = kube.create(PODNETWORKINGS, pn)
    assert created["apiVersion"] == "network.alibabacloud.com/v1beta1" and created["kind"] == "PodNetworking"
    # the status subresource: a merge patch there changes only status
    out = kube.patch(PODNETWORKINGS, "net-a", {"status": {"status": "Ready"}}, subresource="status")
    assert out["status"] == {"status": "Ready"}
    eni = kube.create(PODENIS, {"metadata": {"name": "web-0", "namespace": NS}, "spec": {"allocations": []}})
    eni["status"] = {"phase": "Initial"}
    replaced = kube.replace(PODENIS, eni, subresource="status")
    assert replaced["status"] == {"phase": "Initial"}
    items, rv = kube.list(PODENIS, NS)
    assert [i["metadata"]["name"] for i in items] == ["web-0"] and rv
    assert kube.get(NODES, "nope") is None


def test_create_existing_is_conflict(kube: HttpKube) -> None:
    kube.create(PODS, pod("a"))
    with pytest.raises(Conflict) as ei:
        kube.create(PODS, pod("a"))
    assert ei.value.status == 409 and ei.value.reason == "AlreadyExists"


def test_stale_resource_version_is_conflict(kube: HttpKube) -> None:
    first = kube.create(PODS, pod("a"))
    kube.patch(PODS, "a", {"metadata": {"labels": {"x": "1"}}}, NS)
    first["metadata"]["labels"] = {"y": "2"}
    with pytest.raises(Conflict) as ei:
        kube.replace(PODS, first)
    assert ei.value.reason == "Conflict"


def test_json_patch_test_failure_is_conflict(kube: HttpKube) -> None:
    created = kube.create(PODS, pod("a"))
    rv = created["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
    ]
    out = kube.patch(PODS, "a", ops, NS, kind="json")
    assert out["metadata"]["annotations"] == {"k": "v"}
    with pytest.raises(Conflict) as ei:  # the same precondition again: the RV moved on
        kube.patch(PODS, "a", ops, NS, kind="json")
    assert ei.value.status == 422
    with pytest.raises(KubeError) as bad:  # a json patch without a test op that fails is not a conflict
        kube.patch(PODS, "a", [{"op": "remove", "path": "/metadata/nothing-here"}], NS, kind="json")
    assert not isinstance(bad.value, Conflict) and bad.value.status == 422


def test_not_found_mapping(kube: HttpKube) -> None:
    with pytest.raises(NotFound):
        kube.patch(PODS, "ghost", {"metadata": {"labels": {"a": "b"}}}, NS)
    with pytest.raises(NotFound):
        kube.replace(PODS, {"metadata": {"name": "ghost", "namespace": NS, "resourceVersion": "1"}, "spec": {}})


def test_list_pages_with_limit_and_continue(kube: HttpKube, kube_backend: KubeBackend) -> None:
    for i in range(7):
        kube.create(PODS, pod(f"p{i}", labels={"app": "web" if i % 2 else "db"}))
    kube.create(PODS, pod("other", ns="kube-system"))
    kube.page_size = 3
    kube_backend.calls.clear()
    items, rv = kube.list(PODS, NS)
    assert sorted(i["metadata"]["name"] for i in items) == [f"p{i}" for i in range(7)]
    assert all(i["kind"] == "Pod" and i["apiVersion"] == "v1" for i in items)
    assert kube_backend.calls["list:pods"] == 3 and int(rv) > 0
    web, _ = kube.list(PODS, NS, label_selector="app=web")
    assert sorted(i["metadata"]["name"] for i in web) == ["p1", "p3", "p5"]
    everywhere, _ = kube.list(PODS)
    assert len(everywhere) == 8


def test_list_restarts_once_when_the_continue_token_expires(kube_server: FakeKubeServer, kube: HttpKube) -> None:
    backend = kube_server.backend
    for i in range(4):
        kube.create(PODS, pod(f"p{i}"))
    kube.page_size = 2
    original = backend.list
    calls = {"n": 0}

    def list_then_compact(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # between the first and the second page, history is compacted
            with backend._lock:
                backend._compacted_rv = backend._rv + 1
        try:
            return original(*args, **kw)
        finally:
            if calls["n"] == 2:
                with backend._lock:
                    backend._compacted_rv = 0

    backend.list = list_then_compact  # type: ignore[method-assign]
    items, _ = kube.list(PODS, NS)
    assert len(items) == 4 and calls["n"] == 4  # page 1, expired page 2, then pages 1-2 again


def test_throttling_is_retried_honouring_retry_after(kube: HttpKube, kube_backend: KubeBackend, sleeps: Sleeps) -> None:
    kube.create(PODS, pod("a"))
    kube_backend.faults.add(service="kube", kind="throttle", action="get:pods", count=2)
    assert kube.get(PODS, "a", NS) is not None
    assert sleeps == [1.0, 1.0]  # the fake sends Retry-After: 1 (longer than the backoff)


def test_persistent_unavailability_becomes_retryable(kube: HttpKube, kube_backend: KubeBackend) -> None:
    kube_backend.faults.add(service="kube", kind="unavailable", action="list:pods")
    with pytest.raises(RetryableError) as ei:
        kube.list(PODS, NS)
    assert ei.value.code == "HTTP503"
    assert kube_backend.calls["list:pods"] == 0  # faults answer before the backend is asked


def test_lost_response_on_create_is_not_blindly_repeated(kube: HttpKube, kube_backend: KubeBackend) -> None:
    kube_backend.faults.add(service="kube", kind="lose_response", action="create:pods", count=1)
    with pytest.raises(RetryableError) as ei:
        kube.create(PODS, pod("a"))
    assert ei.value.code == "KubeTransport"
    assert kube.get(PODS, "a", NS) is not None  # it happened; the step re-reads and sees it


def test_lost_response_on_get_is_retried(kube: HttpKube, kube_backend: KubeBackend) -> None:
    kube.create(PODS, pod("a"))
    kube_backend.faults.add(service="kube", kind="lose_response", action="get:pods", count=1)
    assert kube.get(PODS, "a", NS) is not None


def test_bearer_token_is_sent(kube: HttpKube, kube_backend: KubeBackend) -> None:
    users: list[str] = []
    kube_backend.add_admission_hook(lambda req: users.append(req.user))  # type: ignore[func-returns-value]
    kube.create(PODS, pod("a"))
    assert users == ["test-token"]  # the fake names the caller by its bearer token


def test_token_file_is_reread(tmp_path: Any, kube_server: FakeKubeServer) -> None:
    token = tmp_path / "token"
    token.write_text("t1\n")
    kube = HttpKube(kube_server.url, token_file=str(token))
    assert kube._headers()["Authorization"] == "Bearer t1"
    token.write_text("t2")
    kube._token_read_at -= 3600
    assert kube._headers()["Authorization"] == "Bearer t2"
    with pytest.raises(PermanentError):
        HttpKube(kube_server.url, token_file=str(tmp_path / "missing"))._headers()


# --- watch -----------------------------------------------------------------------------------------
def collect(it: Iterator[dict[str, Any]], until: int, kinds: tuple[str, ...] = ("ADDED", "MODIFIED", "DELETED")) -> list[dict[str, Any]]:
    out = []
    for ev in it:
        if ev["type"] in kinds:
            out.append(ev)
            if len(out) >= until:
                break
    return out


def test_watch_streams_events_from_a_resource_version(kube: HttpKube) -> None:
    kube.create(PODS, pod("before"))
    _, rv = kube.list(PODS, NS)

    def writer() -> None:
        time.sleep(0.05)
        kube.create(PODS, pod("a"))
        kube.patch(PODS, "a", {"metadata": {"labels": {"x": "1"}}}, NS)
        kube.delete(PODS, "a", NS)

    t = threading.Thread(target=writer)
    t.start()
    events = collect(kube.watch(PODS, resource_version=rv, timeout_s=5, namespace=NS), 3)
    t.join()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    assert events[0]["object"]["kind"] == "Pod"


def test_watch_bookmarks_and_server_timeout(kube: HttpKube) -> None:
    _, rv = kube.list(PODS, NS)
    start = time.monotonic()
    events = list(kube.watch(PODS, resource_version=rv, timeout_s=1))
    assert time.monotonic() - start < 5
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[-1]["object"]["metadata"]["resourceVersion"] == rv


def test_watch_label_selector(kube: HttpKube) -> None:
    _, rv = kube.list(PODS, NS)
    kube.create(PODS, pod("db", labels={"app": "db"}))
    kube.create(PODS, pod("web", labels={"app": "web"}))
    events = collect(kube.watch(PODS, resource_version=rv, timeout_s=1, label_selector="app=web"), 5)
    assert [e["object"]["metadata"]["name"] for e in events] == ["web"]


def test_watch_too_old_resource_version_raises_gone() -> None:
    backend = KubeBackend(clock=SimClock(), history=3)
    with FakeKubeServer(backend, bookmark_interval_s=0.2) as server:
        kube = HttpKube(server.url)
        kube.create(PODS, pod("first"))
        _, rv = kube.list(PODS, NS)
        assert rv != "0"  # "0" would mean "from now" and could never be too old
        for i in range(6):
            kube.create(PODS, pod(f"p{i}"))
        with pytest.raises(Gone):
            list(kube.watch(PODS, resource_version=rv, timeout_s=2))
        _, fresh = kube.list(PODS, NS)  # relist, then re-watch from the new version works
        assert list(kube.watch(PODS, resource_version=fresh, timeout_s=1))[-1]["type"] == "BOOKMARK"


def test_status_error_mapping() -> None:
    assert isinstance(status_error(404, b'{"code":404,"reason":"NotFound","message":"x"}'), NotFound)
    assert isinstance(status_error(409, b"{}"), Conflict)
    assert isinstance(status_error(410, {"code": 410, "reason": "Expired"}), Gone)
    assert isinstance(status_error(422, b"{}", json_patch_test=True), Conflict)
    other = status_error(403, b"<html>forbidden</html>")
    assert type(other) is KubeError and other.status == 403 and "forbidden" in other.message


def test_from_env(kube_server: FakeKubeServer, tmp_path: Any) -> None:
    kube = HttpKube.from_env({"PODNET_KUBE_URL": kube_server.url, "PODNET_KUBE_TOKEN": "tok"})
    assert kube._headers()["Authorization"] == "Bearer tok"
    kube.create(PODS, pod("a"))
    with pytest.raises(PermanentError):
        HttpKube.from_env({})


def test_from_kubeconfig(kube_server: FakeKubeServer, tmp_path: Any) -> None:
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{kube_server.url}"}}
users:
- name: me
  user: {{token: kc-token}}
contexts:
- name: ctx
  context: {{cluster: fake, user: me}}
current-context: ctx
"""
    )
    kube = HttpKube.from_kubeconfig(str(cfg))
    assert kube.base_url == kube_server.url
    assert kube._headers()["Authorization"] == "Bearer kc-token"
    assert kube.create(PODS, pod("from-kubeconfig"))["metadata"]["name"] == "from-kubeconfig"


def test_in_cluster(tmp_path: Any) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    kube = HttpKube.in_cluster(str(tmp_path), env)
    assert kube.base_url == "https://10.0.0.1:6443"
    assert kube._headers()["Authorization"] == "Bearer sa-token"
    with pytest.raises(PermanentError):
        HttpKube.in_cluster(str(tmp_path), {})


def test_calls_are_counted_in_metrics(kube_server: FakeKubeServer, kube_backend: KubeBackend) -> None:
    from podnet.metrics import Metrics

    m = Metrics()
    kube = HttpKube(kube_server.url, metrics=m, retry=RetryPolicy(attempts=2, sleep=lambda s: None))
    kube.create(PODS, pod("a"))
    kube.get(PODS, "missing", NS)
    kube_backend.faults.add(service="kube", kind="throttle", action="get:pods", count=1)
    kube.get(PODS, "a", NS)
    apis = m.snapshot()["apis"]
    assert apis["kube:POST"]["calls"] == 1
    assert apis["kube:GET"]["calls"] == 3
    assert apis["kube:GET"]["errors"] == {"HTTP404": 1, "HTTP429": 1} and apis["kube:GET"]["throttles"] == 1
