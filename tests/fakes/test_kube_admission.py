"""In-process admission hooks of the fake kube-apiserver."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiClient, ApiException

from podnet.fakes.kube import objects
from podnet.fakes.kube.backend import AdmissionRequest, AdmissionResponse, KubeBackend
from podnet.fakes.kube.server import FakeKubeServer, kube_client_config

G, V = "network.alibabacloud.com", "v1beta1"


def test_denial_becomes_status(kube_api_client: ApiClient, kube_backend: KubeBackend) -> None:
    def deny_big(req: AdmissionRequest) -> AdmissionResponse | None:
        if req.resource != "pods" or req.operation != "CREATE":
            return None
        if (req.object or {}).get("metadata", {}).get("labels", {}).get("size") == "big":
            return AdmissionResponse(allowed=False, message="too big")
        return AdmissionResponse(allowed=True)

    kube_backend.add_admission_hook(deny_big, name="validate.podnet.io")
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_pod("default", objects.pod("small"))
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", objects.pod("huge", labels={"size": "big"}))
    body = json.loads(ei.value.body)
    assert ei.value.status == 403
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'admission webhook "validate.podnet.io" denied the request: too big',
                    "reason": "Forbidden", "code": 403}
    assert [p["metadata"]["name"] for p in kube_backend.items("pods")] == ["small"]

    kube_backend.add_admission_hook(lambda req: AdmissionResponse(False, "no", code=422, reason="Invalid"), "v2")
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", objects.pod("other"))
    assert ei.value.status == 422 and json.loads(ei.value.body)["reason"] == "Invalid"


def test_patch_is_applied_and_request_is_complete(kube_server: FakeKubeServer, kube_backend: KubeBackend) -> None:
    seen: list[AdmissionRequest] = []

    def mutate(req: AdmissionRequest) -> AdmissionResponse | None:
        seen.append(req)
        if req.resource == "pods" and req.operation in ("CREATE", "UPDATE") and req.subresource is None:
            return AdmissionResponse(True, patch=[
                {"op": "add", "path": "/metadata/annotations", "value": {"podnet/seen": req.operation}}])
        return None

    kube_backend.add_admission_hook(mutate)
    with client.ApiClient(kube_client_config(kube_server.url, token="alice")) as api:
        core = client.CoreV1Api(api)
        created = core.create_namespaced_pod("team", objects.pod("p", namespace="team"))
        assert created.metadata.annotations == {"podnet/seen": "CREATE"}
        patched = core.patch_namespaced_pod("p", "team", {"metadata": {"labels": {"a": "b"}}})
        assert patched.metadata.annotations == {"podnet/seen": "UPDATE"} and patched.metadata.labels == {"a": "b"}
        core.patch_namespaced_pod_status("p", "team", {"status": {"phase": "Running"}})
        core.delete_namespaced_pod("p", "team")

    create, update, status, delete = seen
    assert (create.operation, create.user, create.namespace, create.name, create.kind, create.group,
            create.version) == ("CREATE", "alice", "team", "p", "Pod", "", "v1")
    assert create.old_object is None and create.object is not None
    assert update.old_object is not None and update.old_object["metadata"]["annotations"] == {"podnet/seen": "CREATE"}
    assert update.object is not None and update.object["metadata"]["labels"] == {"a": "b"}
    assert status.subresource == "status" and status.operation == "UPDATE"
    assert delete.operation == "DELETE" and delete.object is None and delete.old_object is not None


def test_anonymous_user_and_custom_resources(kube_api_client: ApiClient, kube_backend: KubeBackend) -> None:
    users: list[tuple[str, str, str | None]] = []
    kube_backend.add_admission_hook(lambda req: users.append((req.user, req.resource, req.namespace)) or None)
    custom = client.CustomObjectsApi(kube_api_client)
    custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("n"))
    kube_backend.create("configmaps", objects.configmap("c"))
    assert users == [("system:anonymous", "podnetworkings", None), ("system:admin", "configmaps", "default")]


def test_failing_hook_is_500_and_hooks_can_be_removed(kube_api_client: ApiClient, kube_backend: KubeBackend) -> None:
    def boom(req: AdmissionRequest) -> AdmissionResponse:
        raise RuntimeError("webhook down")

    kube_backend.add_admission_hook(boom, "boom.podnet.io")
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as ei:
        core.create_namespaced_pod("default", objects.pod("p"))
    body = json.loads(ei.value.body)
    assert ei.value.status == 500 and body["reason"] == "InternalError"
    assert 'failed calling webhook "boom.podnet.io": webhook down' in body["message"]
    kube_backend.remove_admission_hook(boom)
    core.create_namespaced_pod("default", objects.pod("p"))


def test_hook_may_read_the_api_while_admitting(kube_api_client: ApiClient, kube_backend: KubeBackend) -> None:
    # the product's webhook looks up PodNetworkings over HTTP: hooks run outside the backend lock
    custom = client.CustomObjectsApi(kube_api_client)
    custom.create_cluster_custom_object(G, V, "podnetworkings", objects.podnetworking("net"))

    def needs_network(req: AdmissionRequest) -> AdmissionResponse | None:
        if req.resource != "pods":
            return None
        nets = custom.list_cluster_custom_object(G, V, "podnetworkings", _request_timeout=5)["items"]
        return AdmissionResponse(bool(nets), "no PodNetworking")

    kube_backend.add_admission_hook(needs_network)
    core = client.CoreV1Api(kube_api_client)
    assert core.create_namespaced_pod("default", objects.pod("p"), _request_timeout=5).metadata.name == "p"
