"""Small builders for valid objects, for tests and the local runner to seed the fake API server."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _meta(name: str, namespace: str | None, labels: dict[str, str] | None, annotations: dict[str, str] | None,
          finalizers: list[str] | None) -> Obj:
    md: Obj = {"name": name}
    if namespace is not None:
        md["namespace"] = namespace
    if labels:
        md["labels"] = dict(labels)
    if annotations:
        md["annotations"] = dict(annotations)
    if finalizers:
        md["finalizers"] = list(finalizers)
    return md


def pod(
    name: str,
    namespace: str = "default",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    node: str | None = None,
    image: str = "registry.local/app:1",
) -> Obj:
    """A minimal valid Pod (one container)."""
    spec: Obj = {"containers": [{"name": "app", "image": image}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, namespace, labels, annotations, finalizers),
            "spec": spec}


def node(name: str, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Obj:
    """A Node (cluster-scoped)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(name, None, labels, annotations, None), "spec": {}}


def configmap(name: str, namespace: str = "default", data: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": dict(data or {})}


def podnetworking(name: str, spec: Obj | None = None, *, labels: dict[str, str] | None = None) -> Obj:
    """A PodNetworking custom resource (cluster-scoped)."""
    return {"apiVersion": "network.alibabacloud.com/v1beta1", "kind": "PodNetworking",
            "metadata": _meta(name, None, labels, None, None), "spec": dict(spec or {})}


def podeni(
    name: str, namespace: str = "default", spec: Obj | None = None, *, labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
) -> Obj:
    """A PodENI custom resource (namespaced)."""
    return {"apiVersion": "network.alibabacloud.com/v1beta1", "kind": "PodENI",
            "metadata": _meta(name, namespace, labels, None, finalizers), "spec": dict(spec or {})}
