"""Builders for end-to-end tests on the local system (fakes + forwarder + steps)."""

from __future__ import annotations

import json
from typing import Any

from podnet.local.runner import LocalSystem
from podnet.local.scenario import CloudSpec, NodeSpec, Scenario, VSwitchSpec
from podnet.ports import PODENIS, PODS

REQUEST = "k8s.aliyun.com/pod-networks-request"


def system(
    vswitches: list[tuple[str, str, str] | tuple[str, str, str, int]] | None = None,
    nodes: list[tuple[str, str, bool]] | None = None,
    platform: str = "ack",
) -> LocalSystem:
    """A LocalSystem (not started) with the given vSwitches (id, zone, cidr[, availableIPs]) and nodes."""
    vswitches = vswitches or [("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24"), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24")]
    nodes = nodes or [("node-g1", "cn-hangzhou-g", True)]
    vs = [VSwitchSpec(id=v[0], zone=v[1], cidr=v[2], availableIPs=v[3] if len(v) > 3 else None) for v in vswitches]
    return LocalSystem(
        Scenario(
            platform=platform,  # type: ignore[arg-type]
            cloud=CloudSpec(region="cn-hangzhou", vSwitches=vs),
            nodes=[NodeSpec(name=n, zone=z, trunk=t) for n, z, t in nodes],
        )
    )


def podnetworking(name: str, vswitches: list[str], *, sgs: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "network.alibabacloud.com/v1beta1",
        "kind": "PodNetworking",
        "metadata": {"name": name},
        "spec": {"securityGroupIDs": sgs or [f"sg-{name}"], "vSwitchOptions": vswitches, **spec},
    }


def fixed(release_strategy: str = "TTL", release_after: str | None = "1h") -> dict[str, Any]:
    at: dict[str, Any] = {"type": "Fixed", "releaseStrategy": release_strategy}
    if release_after:
        at["releaseAfter"] = release_after
    return {"allocationType": at}


def pod(name: str, interfaces: list[dict[str, Any]], namespace: str = "default", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": {REQUEST: json.dumps(interfaces)}, **meta},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


def iface(name: str, network: str, **kw: Any) -> dict[str, Any]:
    return {"interfaceName": name, "network": network, **kw}


def podeni(s: LocalSystem, name: str, namespace: str = "default") -> dict[str, Any] | None:
    return s.kube.get(PODENIS, name, namespace)


def pod_ips(s: LocalSystem, name: str, namespace: str = "default") -> dict[str, str]:
    pe = podeni(s, name, namespace)
    return {a["interface"]: a["ipv4"] for a in (pe or {}).get("spec", {}).get("allocations", [])}


def get_pod(s: LocalSystem, name: str, namespace: str = "default") -> dict[str, Any] | None:
    return s.kube.get(PODS, name, namespace)


def pod_enis(s: LocalSystem) -> dict[str, Any]:
    """The cloud's pod ENIs (trunk ENIs excluded), by id."""
    return {e.id: e for e in s.cloud_backend.enis.values() if e.type != "Trunk"}


def free_ips(s: LocalSystem, vsw: str) -> int:
    return s.cloud_backend.vswitches[vsw].available_ips


def state_digest(s: LocalSystem) -> dict[str, Any]:
    """What must be equal between a clean run and a faulty one: allocations, phases, ENIs and IP accounting."""
    pes = {}
    for pe in s.kube.list(PODENIS)[0]:
        pes[pe["metadata"]["name"]] = {
            "phase": (pe.get("status") or {}).get("phase", ""),
            "ips": sorted((a["interface"], a["ipv4"], a["eni"]["vSwitchID"]) for a in pe["spec"]["allocations"]),
        }
    enis = sorted((e.vswitch_id, e.ip, e.status, e.type) for e in s.cloud_backend.enis.values() if e.type != "Trunk")
    free = {v.id: v.available_ips for v in s.cloud_backend.vswitches.values() if not v.internal}
    return {"podENIs": pes, "enis": enis, "free": free}
