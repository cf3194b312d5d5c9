"""Small, pure readers and builders for the Kubernetes objects the steps share (Pod, PodENI).

Steps keep objects as the API server's JSON so nothing they do not know about is ever dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from podnet.domain.models import (
    NODE_LABEL,
    POD_NETWORKS,
    POD_NETWORKS_REQUEST,
    POD_UID,
    PODENI_FINALIZER,
    format_k8s_time,
    parse_k8s_time,
)

ATTEMPT_ANNOTATION = "podnet.alibabacloud.com/allocation-attempt"
ROLLBACK_ANNOTATION = "podnet.alibabacloud.com/rollback-enis"
NETWORK_KEY = "podnet.alibabacloud.com/network"  # in allocation.extraConfig
EXHAUSTED_KEY = "podnet.alibabacloud.com/exhausted-vswitches"  # in allocation.extraConfig
API_VERSION = "network.alibabacloud.com/v1beta1"


fmt_time = format_k8s_time  # one metav1.Time format for the whole project


def parse_time(s: str | None) -> datetime | None:
    """Parse a metav1.Time; None for empty or unparsable values (a bad timestamp never breaks a step)."""
    if not s:
        return None
    try:
        return parse_k8s_time(s)
    except ValueError:
        return None


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


def key_of(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]


def wants_networks(pod: dict[str, Any]) -> bool:
    """A pod this system serves: it asks for networks (or already carries the resolved snapshot)."""
    ann = annotations(pod)
    return POD_NETWORKS_REQUEST in ann or POD_NETWORKS in ann


def pod_finished(pod: dict[str, Any] | None) -> bool:
    """Gone, or its containers will never run again (phase Succeeded/Failed)."""
    return pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_uid(pod: dict[str, Any] | None) -> str:
    return ((pod or {}).get("metadata") or {}).get("uid", "")


def podeni_owner_uid(podeni: dict[str, Any]) -> str:
    return annotations(podeni).get(POD_UID, "")


def phase_of(podeni: dict[str, Any]) -> str:
    return (podeni.get("status") or {}).get("phase") or ""


def allocations(podeni: dict[str, Any]) -> list[dict[str, Any]]:
    return (podeni.get("spec") or {}).get("allocations") or []


def allocation_types(podeni: dict[str, Any]) -> list[dict[str, Any]]:
    return [a.get("allocationType") or {} for a in allocations(podeni)]


def eni_ids(podeni: dict[str, Any]) -> list[str]:
    return [a["eni"]["id"] for a in allocations(podeni) if (a.get("eni") or {}).get("id")]


def attempt_of(podeni: dict[str, Any]) -> int:
    try:
        return int(annotations(podeni).get(ATTEMPT_ANNOTATION, "0"))
    except ValueError:
        return 0


def rollback_pending(podeni: dict[str, Any]) -> list[str]:
    raw = annotations(podeni).get(ROLLBACK_ANNOTATION)
    if not raw:
        return []
    try:
        ids = json.loads(raw)
    except ValueError:
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def is_deleting(obj: dict[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def new_podeni(pod: dict[str, Any], node_name: str, zone: str, allocs: list[dict[str, Any]]) -> dict[str, Any]:
    """The PodENI that records the allocation intent for ``pod`` (phase Initial)."""
    md = pod["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "PodENI",
        "metadata": {
            "name": md["name"],
            "namespace": md.get("namespace") or "default",
            "finalizers": [PODENI_FINALIZER],
            "annotations": {POD_UID: md.get("uid", ""), ATTEMPT_ANNOTATION: "0"},
            "labels": {NODE_LABEL: node_name},
        },
        "spec": {"allocations": allocs, "zone": zone},
    }
