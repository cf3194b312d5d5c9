"""Ports: the small interfaces behind which all side effects live.

Each port has a real adapter (``podnet.adapters``) and the fakes behind them (``podnet.fakes``).
Steps depend only on these protocols, so a test can hand them anything that fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from podnet.clock import Clock

__all__ = ["Clock", "Resource", "KubeApi", "VSwitchInfo", "EniInfo", "CloudApi", "QueueMessage", "Queue"]


# --- Kubernetes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """A Kubernetes resource type: where it lives on the API server."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of the collection (no name) or of one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


PODS = Resource("", "v1", "pods", "Pod", True)
NODES = Resource("", "v1", "nodes", "Node", False)
EVENTS = Resource("", "v1", "events", "Event", True)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
PODNETWORKINGS = Resource("network.alibabacloud.com", "v1beta1", "podnetworkings", "PodNetworking", False)
PODENIS = Resource("network.alibabacloud.com", "v1beta1", "podenis", "PodENI", True)
RESOURCES = {r.kind: r for r in (PODS, NODES, EVENTS, NAMESPACES, CONFIGMAPS, PODNETWORKINGS, PODENIS)}

PatchKind = Literal["merge", "json"]


class KubeApi(Protocol):
    """The Kubernetes API calls the control plane makes. Objects are plain JSON dicts.

    Errors: ``podnet.errors.NotFound`` (404), ``Conflict`` (409), ``Gone`` (410), ``KubeError`` (others).
    """

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (following ``continue`` pages) and the list's resourceVersion."""
        ...

    def create(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...

    def replace(self, res: Resource, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        """PUT the object; ``metadata.resourceVersion`` in ``obj`` is the precondition (409 when stale)."""
        ...

    def patch(
        self,
        res: Resource,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        namespace: str | None = None,
        kind: PatchKind = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Delete (or mark for deletion while finalizers remain); None when already gone."""
        ...


# --- Alibaba Cloud ECS / VPC -------------------------------------------------------------------------
@dataclass(frozen=True)
class VSwitchInfo:
    """What DescribeVSwitches tells about one vSwitch."""

    id: str
    zone: str
    cidr: str
    available_ips: int


@dataclass(frozen=True)
class EniInfo:
    """What the cloud tells about one ENI (DescribeNetworkInterfaces / CreateNetworkInterface)."""

    id: str
    status: str  # Available | Attaching | InUse | Detaching | Deleting
    type: str  # Secondary | Trunk | Member | Primary
    vswitch_id: str
    zone: str
    ip: str
    mac: str
    instance_id: str = ""
    trunk_eni_id: str = ""
    device_index: int | None = None  # the VLAN id for a trunk member
    security_group_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


class CloudApi(Protocol):
    """The ECS/VPC OpenAPI calls the control plane makes.

    Errors: ``podnet.errors.CloudError`` with the vendor code (after the adapter's own retries on
    throttling/transient codes), ``CloudTransportError`` when no answer came back.
    """

    def describe_vswitches(self, vswitch_ids: list[str]) -> list[VSwitchInfo]: ...

    def create_network_interface(
        self,
        *,
        vswitch_id: str,
        security_group_ids: list[str],
        client_token: str,
        tags: dict[str, str],
        delete_on_release: bool,
        description: str = "",
    ) -> EniInfo: ...

    def attach_network_interface(self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None) -> None: ...

    def detach_network_interface(self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None) -> None:
        """Detach; an ENI that is gone or already detached counts as done."""
        ...

    def delete_network_interface(self, eni_id: str) -> None:
        """Delete; an ENI that is gone counts as done."""
        ...

    def describe_network_interfaces(
        self,
        *,
        eni_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        eni_type: str | None = None,
    ) -> list[EniInfo]:
        """Every matching ENI (following NextToken pages)."""
        ...


# --- Queue (MNS) -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueMessage:
    """A received message: its body and what is needed to delete or delay it."""

    body: str
    receipt_handle: str
    dequeue_count: int = 1
    message_id: str = ""


class Queue(Protocol):
    """An at-least-once message queue (MNS)."""

    name: str

    def send(self, bodies: list[str], delay_s: int = 0) -> None:
        """Send (in batches of at most 16)."""
        ...

    def receive(self, max_messages: int = 16, wait_s: int = 0) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages; empty when none."""
        ...

    def delete(self, receipt_handle: str) -> None: ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> str:
        """Hide the message for ``seconds``; returns the new receipt handle."""
        ...
