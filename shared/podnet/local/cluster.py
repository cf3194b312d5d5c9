"""The bits of a cluster ``podnet local`` simulates besides the API server: a scheduler and the
StatefulSet/Deployment controllers that turn workloads into Pods (pure decisions + small writers)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from typing import Any

from podnet.domain.models import ZONE_LABEL


def _match_expression(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", "In"), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def node_fits(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether ``node`` satisfies the pod's nodeSelector and required node affinity (ORed terms of ANDed expressions)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    spec = pod.get("spec") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(all(_match_expression(e, labels) for e in (t.get("matchExpressions") or [])) for t in terms)


class Scheduler:
    """Round-robin among the nodes that fit, like a tiny kube-scheduler."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, pod: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
        fitting = [n for n in sorted(nodes, key=lambda n: n["metadata"]["name"]) if node_fits(pod, n)]
        if not fitting:
            return None
        node = fitting[self._next % len(fitting)]
        self._next += 1
        return node


def node_object(name: str, zone: str, region: str, instance_id: str, trunk_eni_id: str | None) -> dict[str, Any]:
    """The Node a simulated instance registers as (providerID, zone label, trunk annotation)."""
    annotations = {"k8s.aliyun.com/trunk-on": trunk_eni_id} if trunk_eni_id else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                ZONE_LABEL: zone,
                "topology.kubernetes.io/region": region,
                "kubernetes.io/hostname": name,
            },
            "annotations": annotations,
        },
        "spec": {"providerID": f"{region}.{instance_id}"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pods_for_workload(obj: dict[str, Any], existing: Iterable[str]) -> list[dict[str, Any]]:
    """The Pods a StatefulSet or Deployment should have that do not exist yet (by name)."""
    kind = obj.get("kind")
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    replicas = int(spec.get("replicas", 1))
    ns = md.get("namespace") or "default"
    existing = set(existing)
    out: list[dict[str, Any]] = []
    if kind == "StatefulSet":
        names = [f"{md['name']}-{i}" for i in range(replicas)]
        owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": md["name"], "uid": md.get("uid", ""), "controller": True}
    elif kind == "Deployment":
        h = hashlib.sha256(str(template).encode()).hexdigest()[:10]
        rs = f"{md['name']}-{h}"
        names = [f"{rs}-{hashlib.sha256(f'{rs}/{i}'.encode()).hexdigest()[:5]}" for i in range(replicas)]
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "", "controller": True}
    else:
        return []
    for name in names:
        if name in existing:
            continue
        tmd = copy.deepcopy(template.get("metadata") or {})
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**tmd, "name": name, "namespace": ns, "ownerReferences": [owner]},
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        out.append(pod)
    return out
