"""CRUD semantics of the fake kube-apiserver, driven through the real kubernetes client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient, ApiException

from podnet.clock import SimClock
from podnet.fakes.kube import objects
from podnet.fakes.kube.backend import KubeBackend

G, V = "network.alibabacloud.com", "v1beta1"


@pytest.fixture
def core(kube_api_client: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


@pytest.fixture
def custom(kube_api_client: ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api_client)


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == exc.status and body["metadata"] == {}
    return body


def test_create_get_list_assigns_server_fields(core: client.CoreV1Api, kube_backend: KubeBackend,
                                               kube_clock: SimClock) -> None:
    kube_clock.advance(3600)
    created = core.create_namespaced_pod("default", objects.pod("web", labels={"app": "web"}))
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.metadata.creation_timestamp.isoformat() == "2025-01-01T01:00:00+00:00"
    assert created.status.phase == "Pending"  # the server resets a pod's status on create
    assert created.metadata.resource_version == kube_backend.resource_version

    got = core.read_namespaced_pod("web", "default")
    assert got.metadata.uid == created.metadata.uid
    core.create_namespaced_pod("other", objects.pod("db", namespace="other"))
    everything = core.list_pod_for_all_namespaces()
    assert sorted(p.metadata.name for p in everything.items) == ["db", "web"]
    assert everything.metadata.resource_version == kube_backend.resource_version
    assert [p.metadata.name for p in core.list_namespaced_pod("other").items] == ["db"]


def test_resource_version_is_global_and_monotonic(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    rvs = [int(core.create_namespaced_pod("default", objects.pod(f"p{i}")).metadata.resource_version)
           for i in range(3)]
    pn = custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("net"))
    rvs.append(int(pn["metadata"]["resourceVersion"]))
    rvs.append(int(core.patch_namespaced_pod("p0", "default", {"metadata": {"labels": {"a": "b"}}})
                   .metadata.resource_version))
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)


def test_create_existing_is_409_already_exists(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    core.create_namespaced_pod("default", objects.pod("p"))
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", objects.pod("p"))
    body = status_of(ei.value)
    assert ei.value.status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'pods "p" already exists'
    assert body["details"] == {"name": "p", "kind": "pods"}

    custom.create_namespaced_custom_object(G, V, "default", "podenis", objects.podeni("e"))
    with pytest.raises(ApiException) as ei:
        custom.create_namespaced_custom_object(G, V, "default", "podenis", objects.podeni("e"))
    body = status_of(ei.value)
    assert body["details"] == {"name": "e", "group": G, "kind": "podenis"}
    assert body["message"] == f'podenis.{G} "e" already exists'


def test_get_missing_is_404_not_found(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as ei:
        core.read_namespaced_pod("nope", "default")
    body = status_of(ei.value)
    assert (ei.value.status, body["reason"], body["message"]) == (404, "NotFound", 'pods "nope" not found')
    with pytest.raises(ApiException) as ei:
        custom.get_cluster_custom_object(G, V, "podnetworkings", "nope")
    assert status_of(ei.value)["details"] == {"name": "nope", "group": G, "kind": "podnetworkings"}


def test_generate_name(core: client.CoreV1Api) -> None:
    body = objects.pod("")
    body["metadata"] = {"generateName": "worker-"}
    a = core.create_namespaced_pod("default", body)
    b = core.create_namespaced_pod("default", body)
    assert a.metadata.name.startswith("worker-") and len(a.metadata.name) == len("worker-") + 5
    assert a.metadata.name != b.metadata.name


def test_invalid_create_is_422(core: client.CoreV1Api) -> None:
    bad = objects.pod("Bad_Name")
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", bad)
    body = status_of(ei.value)
    assert (ei.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["kind"] == "Pod" and body["details"]["causes"][0]["field"] == "metadata.name"


def test_put_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_pod("default", objects.pod("p"))
    stale = first.metadata.resource_version
    core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"v": "2"}}})

    body = objects.pod("p", labels={"v": "3"})
    body["metadata"]["resourceVersion"] = stale
    with pytest.raises(ApiException) as ei:
        core.replace_namespaced_pod("p", "default", body)
    status = status_of(ei.value)
    assert (ei.value.status, status["reason"]) == (409, "Conflict")
    assert status["message"].startswith('Operation cannot be fulfilled on pods "p": the object has been modified')

    fresh = core.read_namespaced_pod("p", "default")
    body["metadata"]["resourceVersion"] = fresh.metadata.resource_version
    assert core.replace_namespaced_pod("p", "default", body).metadata.labels == {"v": "3"}
    del body["metadata"]["resourceVersion"]  # no resourceVersion: unconditional
    body["metadata"]["labels"] = {"v": "4"}
    assert core.replace_namespaced_pod("p", "default", body).metadata.labels == {"v": "4"}


def test_json_patch_test_op_fails_like_the_server(custom: client.CustomObjectsApi) -> None:
    created = custom.create_namespaced_custom_object(G, V, "default", "podenis", objects.podeni("e"))
    rv = created["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/spec/owner", "value": "a"}]
    out = custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e", ops,
                                                _content_type="application/json-patch+json")
    assert out["spec"]["owner"] == "a"
    # the same precondition again is now stale: the real API server answers 422 Invalid
    with pytest.raises(ApiException) as ei:
        custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e", ops,
                                              _content_type="application/json-patch+json")
    assert ei.value.status == 422 and status_of(ei.value)["reason"] == "Invalid"
    # a resourceVersion inside a merge patch is a precondition too: 409 Conflict when stale
    with pytest.raises(ApiException) as ei:
        custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e",
                                              {"metadata": {"resourceVersion": rv}, "spec": {"owner": "b"}})
    assert ei.value.status == 409 and status_of(ei.value)["reason"] == "Conflict"


def test_patch_flavours(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    core.create_namespaced_pod("default", objects.pod("p", labels={"a": "1", "b": "2"}, finalizers=["x/one"]))
    # a dict on a core type goes out as strategic merge: finalizers merge as a set
    out = core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"b": None, "c": "3"},
                                                                  "finalizers": ["x/two"]}})
    assert out.metadata.labels == {"a": "1", "c": "3"}
    assert out.metadata.finalizers == ["x/one", "x/two"]
    out = core.patch_namespaced_pod("p", "default", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/one"]}})
    assert out.metadata.finalizers == ["x/two"]
    # merge patch replaces lists
    out = core.patch_namespaced_pod("p", "default", {"metadata": {"finalizers": None}},
                                    _content_type="application/merge-patch+json")
    assert out.metadata.finalizers is None
    out = core.patch_namespaced_pod("p", "default", [{"op": "replace", "path": "/metadata/labels/a", "value": "9"}])
    assert out.metadata.labels["a"] == "9"
    # custom resources take merge patches by default, and refuse strategic merge (415)
    custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("n", {"x": {"y": 1, "z": 2}}))
    pn = custom.patch_cluster_custom_object(G, V, "podnetworkings", "n", {"spec": {"x": {"z": None}}})
    assert pn["spec"] == {"x": {"y": 1}}
    with pytest.raises(ApiException) as ei:
        custom.patch_cluster_custom_object(G, V, "podnetworkings", "n", {"spec": {}},
                                           _content_type="application/strategic-merge-patch+json")
    assert ei.value.status == 415


def test_noop_write_keeps_resource_version(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    p = core.create_namespaced_pod("default", objects.pod("p", labels={"a": "1"}))
    before = kube_backend.resource_version
    again = core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"a": "1"}}})
    assert again.metadata.resource_version == p.metadata.resource_version == before
    assert kube_backend.resource_version == before


def test_status_subresource_split(custom: client.CustomObjectsApi) -> None:
    body = objects.podeni("e", spec={"n": 1})
    body["status"] = {"phase": "Ignored"}
    created = custom.create_namespaced_custom_object(G, V, "default", "podenis", body)
    assert "status" not in created  # a CR with a status subresource drops status on create
    assert created["metadata"]["generation"] == 1

    st = custom.patch_namespaced_custom_object_status(G, V, "default", "podenis", "e",
                                                      {"status": {"phase": "Bind"}, "spec": {"n": 99}})
    assert st["status"] == {"phase": "Bind"} and st["spec"] == {"n": 1}  # /status changes only status
    assert st["metadata"]["generation"] == 1

    main = custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e",
                                                 {"status": {"phase": "Hacked"}, "spec": {"n": 2}})
    assert main["status"] == {"phase": "Bind"} and main["spec"] == {"n": 2}  # the object never changes status
    assert main["metadata"]["generation"] == 2

    labels_only = custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e",
                                                        {"metadata": {"labels": {"l": "1"}}})
    assert labels_only["metadata"]["generation"] == 2  # metadata changes do not bump generation

    with pytest.raises(ApiException) as ei:  # `main` is stale now
        custom.replace_namespaced_custom_object_status(G, V, "default", "podenis", "e", main)
    assert ei.value.status == 409
    labels_only["status"] = {"phase": "Unbind"}
    replaced = custom.replace_namespaced_custom_object_status(G, V, "default", "podenis", "e", labels_only)
    assert replaced["status"] == {"phase": "Unbind"} and replaced["metadata"]["labels"] == {"l": "1"}


def test_pod_status_subresource(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", objects.pod("p"))
    out = core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running", "podIP": "10.0.0.5"}})
    assert out.status.phase == "Running" and out.status.pod_ip == "10.0.0.5"
    out = core.patch_namespaced_pod("p", "default", {"status": {"phase": "Failed"}})
    assert out.status.phase == "Running"


def test_pod_spec_is_mostly_immutable_and_binding_sets_node(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", objects.pod("p"))
    out = core.patch_namespaced_pod("p", "default", {"spec": {"containers": [{"name": "app", "image": "v2"}]}})
    assert out.spec.containers[0].image == "v2" and out.metadata.generation == 2
    with pytest.raises(ApiException) as ei:
        core.patch_namespaced_pod("p", "default", {"spec": {"nodeName": "n1"}})
    assert ei.value.status == 422 and "Forbidden: pod updates may not change" in status_of(ei.value)["message"]

    binding = client.V1Binding(metadata=client.V1ObjectMeta(name="p"),
                               target=client.V1ObjectReference(kind="Node", name="n1"))
    # the server answers a Status (as the real one does), which this client cannot read as a V1Binding
    resp = core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
    assert resp.status == 201 and json.loads(resp.data)["status"] == "Success"
    assert core.read_namespaced_pod("p", "default").spec.node_name == "n1"
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items] == ["p"]


def test_finalizers_hold_deletion(custom: client.CustomObjectsApi, kube_backend: KubeBackend,
                                  kube_clock: SimClock) -> None:
    custom.create_namespaced_custom_object(G, V, "default", "podenis", objects.podeni("e", finalizers=["podnet/eni"]))
    kube_clock.advance(60)
    out = custom.delete_namespaced_custom_object(G, V, "default", "podenis", "e")
    assert out["metadata"]["deletionTimestamp"] == "2025-01-01T00:01:00Z"
    assert out["metadata"]["deletionGracePeriodSeconds"] == 0
    assert custom.get_namespaced_custom_object(G, V, "default", "podenis", "e")["metadata"]["finalizers"]
    # no new finalizers while deleting
    with pytest.raises(ApiException) as ei:
        custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e",
                                              {"metadata": {"finalizers": ["podnet/eni", "other"]}})
    assert ei.value.status == 422
    rv = kube_backend.resource_version
    custom.patch_namespaced_custom_object(G, V, "default", "podenis", "e", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as ei:
        custom.get_namespaced_custom_object(G, V, "default", "podenis", "e")
    assert ei.value.status == 404
    assert [e.type for e in kube_backend.events_since(rv, "podenis")] == ["DELETED"]


def test_delete_without_finalizers_is_immediate(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    core.create_namespaced_pod("default", objects.pod("p"))
    deleted = core.delete_namespaced_pod("p", "default")
    assert deleted.metadata.name == "p"  # pods answer with the object
    assert kube_backend.items("pods") == []
    core.create_namespaced_config_map("default", objects.configmap("c", data={"k": "v"}))
    status = core.delete_namespaced_config_map("c", "default")  # configmaps answer with a Status
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "c" and status["details"]["kind"] == "configmaps"
    with pytest.raises(ApiException) as ei:
        core.delete_namespaced_pod("p", "default")
    assert ei.value.status == 404


def test_delete_preconditions(core: client.CoreV1Api) -> None:
    p = core.create_namespaced_pod("default", objects.pod("p"))
    with pytest.raises(ApiException) as ei:
        core.delete_namespaced_pod("p", "default", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="not-the-uid")))
    assert ei.value.status == 409 and "Precondition failed: UID" in status_of(ei.value)["message"]
    core.delete_namespaced_pod("p", "default", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=p.metadata.uid)))


def test_label_and_field_selectors(core: client.CoreV1Api) -> None:
    specs = {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db", "env": "prod"}, "c": {"tier": "web"},
             "d": {}}
    for name, labels in specs.items():
        core.create_namespaced_pod("default", objects.pod(name, labels=labels, node="n1" if name in "ab" else None))

    def names(**kw: Any) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default", **kw).items]

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier==web,env=prod") == ["a"]
    assert names(label_selector="tier!=web") == ["b", "d"]
    assert names(label_selector="tier in (web, db),env") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "d"]
    assert names(label_selector="!env") == ["c", "d"]
    assert names(field_selector="spec.nodeName=n1") == ["a", "b"]
    assert names(field_selector="spec.nodeName=") == ["c", "d"]
    assert names(field_selector="metadata.name!=a,spec.nodeName==n1") == ["b"]
    with pytest.raises(ApiException) as ei:
        names(label_selector="tier in (web")
    assert ei.value.status == 400 and status_of(ei.value)["reason"] == "BadRequest"
    with pytest.raises(ApiException) as ei:
        names(field_selector="spec.bogus=1")
    assert ei.value.status == 400


def test_list_paging(core: client.CoreV1Api, kube_backend: KubeBackend) -> None:
    for i in range(5):
        core.create_namespaced_pod("default", objects.pod(f"p{i}"))
    rv = kube_backend.resource_version
    page = core.list_namespaced_pod("default", limit=2)
    seen = [p.metadata.name for p in page.items]
    assert page.metadata.remaining_item_count == 3 and page.metadata.resource_version == rv
    core.create_namespaced_pod("default", objects.pod("p9"))
    while page.metadata._continue:
        page = core.list_namespaced_pod("default", limit=2, _continue=page.metadata._continue)
        assert page.metadata.resource_version == rv  # later pages keep the first page's resourceVersion
        seen += [p.metadata.name for p in page.items]
    assert seen == ["p0", "p1", "p2", "p3", "p4", "p9"]


def test_cluster_scoped_and_namespaces(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> None:
    core.create_node(objects.node("n1", labels={"topology.kubernetes.io/zone": "z1"}))
    assert [n.metadata.name for n in core.list_node(label_selector="topology.kubernetes.io/zone=z1").items] == ["n1"]
    assert core.read_node("n1").metadata.namespace is None
    ns = core.create_namespace({"metadata": {"name": "team-a"}})
    assert ns.status.phase == "Active"
    custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("net", {"a": 1}))
    listed = custom.list_cluster_custom_object(G, V, "podnetworkings")
    assert listed["kind"] == "PodNetworkingList" and [o["metadata"]["name"] for o in listed["items"]] == ["net"]
    assert listed["items"][0]["kind"] == "PodNetworking"
    assert "namespace" not in listed["items"][0]["metadata"]
    custom.create_namespaced_custom_object(G, V, "ns1", "podenis", objects.podeni("e", "ns1"))
    everywhere = custom.list_custom_object_for_all_namespaces(G, V, "podenis")
    assert [o["metadata"]["namespace"] for o in everywhere["items"]] == ["ns1"]


def test_events_and_configmaps(core: client.CoreV1Api) -> None:
    core.create_namespaced_event("default", client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="p.1"), reason="CreateENISucceed", type="Normal", message="ok",
        involved_object=client.V1ObjectReference(kind="Pod", name="p", namespace="default")))
    evs = core.list_namespaced_event("default", field_selector="involvedObject.name=p,reason=CreateENISucceed")
    assert [e.reason for e in evs.items] == ["CreateENISucceed"]
    core.create_namespaced_config_map("default", objects.configmap("c", data={"k": "v"}))
    cm = core.patch_namespaced_config_map("c", "default", {"data": {"k": "w"}})
    assert cm.data == {"k": "w"}


def test_in_process_backend_matches_http(kube_backend: KubeBackend, core: client.CoreV1Api) -> None:
    kube_backend.create("pods", objects.pod("p"), user="test")
    assert core.read_namespaced_pod("p", "default").metadata.name == "p"
    kube_backend.patch("pods", "p", {"status": {"phase": "Running"}}, "default", subresource="status")
    assert core.read_namespaced_pod("p", "default").status.phase == "Running"
    got = kube_backend.get("pods", "p", "default")
    assert got["status"]["phase"] == "Running" and got["kind"] == "Pod"
    assert kube_backend.calls["get:pods"] == 3 and kube_backend.calls["create:pods"] == 1
    listed = kube_backend.list("pods", label_selector=None)
    assert listed["metadata"]["resourceVersion"] == kube_backend.resource_version
