"""Builders for admission tests: PodNetworkings, Pods, AdmissionReviews as the API server sends them, and a
small in-memory KubeApi (get/list only)."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

import jsonpatch

from podnet.ports import Resource

SYSTEM = "system:serviceaccount:kube-system:podnet"
USER = "kubernetes-admin"
STS_CONTROLLER = "system:serviceaccount:kube-system:statefulset-controller"
REQ = "k8s.aliyun.com/pod-networks-request"
SNAP = "k8s.aliyun.com/pod-networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"
ZONE = "topology.kubernetes.io/zone"


def pn(
    name: str,
    zones: tuple[str, ...] = ("cn-hangzhou-g",),
    *,
    eni_type: str | None = None,
    allocation: dict[str, Any] | None = None,
    status: str | None = "Ready",
    selector: dict[str, Any] | None = None,
    sgs: tuple[str, ...] = ("sg-bp1aaaa",),
) -> dict[str, Any]:
    """A PodNetworking as the API server returns it; one vSwitch per zone; ``status=None`` = not synced yet."""
    vsws = [f"vsw-{name}-{i}" for i in range(len(zones))]
    spec: dict[str, Any] = {
        "allocationType": allocation or {"type": "Elastic"},
        "securityGroupIDs": list(sgs),
        "vSwitchOptions": vsws,
        "vSwitchSelectOptions": {"vSwitchSelectionPolicy": "ordered"},
    }
    if eni_type:
        spec["eniOptions"] = {"eniType": eni_type}
    if selector is not None:
        spec["selector"] = selector
    obj: dict[str, Any] = {
        "apiVersion": "network.alibabacloud.com/v1beta1",
        "kind": "PodNetworking",
        "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": "100", "generation": 1,
                     "creationTimestamp": "2025-03-24T06:00:00Z"},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = {"status": status, "updateAt": "2025-03-24T06:10:00Z",
                         "vSwitches": [{"id": v, "zone": z} for v, z in zip(vsws, zones, strict=True)]}
    return obj


def pod(
    name: str = "web-0",
    namespace: str = "default",
    *,
    request: list[dict[str, Any]] | str | None = None,
    owner: str | None = None,
    annotations: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    generate_name: str | None = None,
) -> dict[str, Any]:
    """A Pod as it reaches admission on CREATE (no uid/resourceVersion yet)."""
    ann = dict(annotations or {})
    if request is not None:
        ann[REQ] = request if isinstance(request, str) else json.dumps(request)
    meta: dict[str, Any] = {"namespace": namespace, "labels": {"app": "web"}}
    if generate_name:
        meta["generateName"] = generate_name
    else:
        meta["name"] = name
    if ann:
        meta["annotations"] = ann
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": "web", "uid": str(uuid.uuid4()),
                                    "controller": True, "blockOwnerDeletion": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec if spec is not None else {
            "containers": [{"name": "app", "image": "nginx:1.27", "resources": {}}],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
        },
    }


_RESOURCES = {
    "pods": ("", "v1", "Pod", True),
    "podnetworkings": ("network.alibabacloud.com", "v1beta1", "PodNetworking", False),
    "podenis": ("network.alibabacloud.com", "v1beta1", "PodENI", True),
}


def review(
    obj: dict[str, Any] | None,
    *,
    resource: str = "pods",
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    user: str = USER,
    subresource: str = "",
    api_version: str = "admission.k8s.io/v1",
) -> dict[str, Any]:
    """An AdmissionReview shaped like the one kube-apiserver POSTs (v1)."""
    group, version, kind, namespaced = _RESOURCES[resource]
    meta = (obj or old or {}).get("metadata") or {}
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": meta.get("name", ""),
        "operation": operation,
        "userInfo": {"username": user, "uid": "u-1", "groups": ["system:masters", "system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1",
                    "kind": {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions"}.get(operation, "DeleteOptions")},
    }
    if namespaced:
        request["namespace"] = meta.get("namespace", "default")
    if subresource:
        request["subResource"] = subresource
        request["requestSubResource"] = subresource
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def response_of(answer: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``response`` of an AdmissionReview answer, after checking the envelope."""
    assert answer["kind"] == "AdmissionReview"
    if request is not None:
        assert answer["apiVersion"] == request["apiVersion"]
        assert answer["response"]["uid"] == request["request"]["uid"]
    return answer["response"]


def patch_of(resp: dict[str, Any]) -> list[dict[str, Any]]:
    assert resp["allowed"] is True
    assert resp["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(resp["patch"]))


def apply(obj: dict[str, Any], resp: dict[str, Any]) -> dict[str, Any]:
    """The object after the webhook's patch, applied with a JSON-patch library."""
    return jsonpatch.apply_patch(obj, patch_of(resp), in_place=False)


def reasons(resp: dict[str, Any]) -> list[str]:
    assert resp["allowed"] is False
    return resp["status"]["reason"].split(",")


def zone_exprs(pod_obj: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Per required nodeSelectorTerm, its matchExpressions."""
    terms = pod_obj["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    return [t.get("matchExpressions", []) for t in terms]


class MemKube:
    """An in-memory KubeApi with get/list (all admission reads) that counts its calls."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []
        for o in objs:
            self.put(o)

    def put(self, obj: dict[str, Any]) -> None:
        plural = {"PodNetworking": "podnetworkings", "PodENI": "podenis", "Pod": "pods"}[obj["kind"]]
        md = obj["metadata"]
        self.objects[(plural, md.get("namespace", ""), md["name"])] = copy.deepcopy(obj)

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        ns = (namespace or "") if res.namespaced else ""
        self.calls.append((res.plural, ns, name))
        obj = self.objects.get((res.plural, ns, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None
             ) -> tuple[list[dict[str, Any]], str]:
        self.calls.append((res.plural, namespace or "", "*"))
        return [copy.deepcopy(o) for (p, ns, _), o in self.objects.items()
                if p == res.plural and (namespace is None or ns == namespace)], "1"


def podeni(name: str, namespace: str = "default", *, zone: str = "cn-hangzhou-g", phase: str = "Unbind",
           deleting: bool = False, allocations: bool = True) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace, "finalizers": ["network.alibabacloud.com/pod-eni"]}
    if deleting:
        md["deletionTimestamp"] = "2025-03-24T07:00:00Z"
    allocs = [{"eni": {"id": "eni-1", "zone": zone, "vSwitchID": "vsw-x"}, "ipv4": "10.0.1.5", "interface": "eth0",
               "allocationType": {"type": "Fixed", "releaseStrategy": "Never"}}] if allocations else []
    return {"apiVersion": "network.alibabacloud.com/v1beta1", "kind": "PodENI", "metadata": md,
            "spec": {"allocations": allocs, "zone": zone}, "status": {"phase": phase}}
