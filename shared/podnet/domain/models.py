"""Wire models for PodNetworking, PodENI, the pod-networks annotations and node facts.

Kubernetes camelCase JSON in, the same JSON out: every model reads its camelCase keys (or the snake_case
field names), dumps by alias with ``None`` left out, and keeps unknown keys (``extra="allow"``) so that a
read-modify-write never loses a field written by someone else. Defaults are the CRD defaults, so
``to_k8s()`` returns the object as the API server would store it. Shapes follow Terway's
``pkg/apis/network.alibabacloud.com/v1beta1/types.go`` and ``types/controlplane/annotations_default.go``
so a node running Terway's CNI can read what we write; fields Terway lacks are marked "beyond Terway".

These models describe well-formed objects. Checking user input and explaining what is wrong with it is
``podnet.domain.validation``'s job; validate first, then model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from podnet.errors import PermanentError

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "POD_NETWORKS_REQUEST",
    "POD_NETWORKS",
    "POD_NETWORKING",
    "POD_ENI",
    "POD_UID",
    "NODE_LABEL",
    "TRUNK_ON",
    "NETWORK_STATUS",
    "PODENI_FINALIZER",
    "ZONE_LABEL",
    "LEGACY_ZONE_LABEL",
    "ENIType",
    "AllocationTypeName",
    "ReleaseStrategy",
    "SelectionPolicy",
    "NetworkingStatus",
    "Phase",
    "ENIInfoType",
    "ENIBindStatus",
    "K8sModel",
    "LabelSelectorRequirement",
    "LabelSelector",
    "Selector",
    "ENIOptions",
    "AllocationType",
    "VSwitchSelectOptions",
    "PodNetworkingSpec",
    "VSwitchStatus",
    "Condition",
    "PodNetworkingStatus",
    "PodNetworking",
    "Route",
    "PodNetworkRequest",
    "PodNetworkConfig",
    "PodNetworks",
    "AttachmentOptions",
    "AllocationENI",
    "Allocation",
    "PodENISpec",
    "ENIInfo",
    "PodENIStatus",
    "PodENI",
    "NodeFacts",
    "NodeFactsError",
    "format_k8s_time",
    "parse_k8s_time",
]

# --- names ----------------------------------------------------------------------------------------
API_GROUP = "network.alibabacloud.com"
API_VERSION = f"{API_GROUP}/v1beta1"

POD_NETWORKS_REQUEST = "k8s.aliyun.com/pod-networks-request"  # user: the JSON list of interfaces wanted
POD_NETWORKS = "k8s.aliyun.com/pod-networks"  # webhook: the resolved snapshot (PodNetworks JSON)
POD_NETWORKING = "k8s.aliyun.com/pod-networking"  # legacy single-network mode: the matched PodNetworking
POD_ENI = "k8s.aliyun.com/pod-eni"  # webhook sets "true" on pods that use a PodENI
POD_UID = "k8s.aliyun.com/pod-uid"  # on the PodENI: the UID of the pod it was made for
NODE_LABEL = "k8s.aliyun.com/node"  # label on the PodENI: the node's name
TRUNK_ON = "k8s.aliyun.com/trunk-on"  # node annotation: the node's trunk ENI id
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"  # beyond Terway: Multus-style status on the pod
PODENI_FINALIZER = "network.alibabacloud.com/pod-eni"
ZONE_LABEL = "topology.kubernetes.io/zone"
LEGACY_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"


def format_k8s_time(dt: datetime) -> str:
    """A ``metav1.Time`` string: RFC 3339 in UTC with whole seconds (``2025-03-24T06:10:00Z``)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_k8s_time(text: str) -> datetime:
    """Parse a ``metav1.Time`` string (``...Z`` or with an offset) into an aware datetime."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --- enums ------------------------------------------------------------------------------------------
class _StrEnum(str, Enum):
    """A str-valued enum that prints as its value (``str(ENIType.TRUNK) == "Trunk"``) on every Python."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class ENIType(_StrEnum):
    """``spec.eniOptions.eniType``: Default follows the cluster setting; ENI = exclusive; Trunk = member ENI."""

    DEFAULT = "Default"
    ENI = "ENI"
    TRUNK = "Trunk"


class AllocationTypeName(_StrEnum):
    """``allocationType.type``: Elastic IPs go with the pod; Fixed IPs stay with a fixed-name pod."""

    ELASTIC = "Elastic"
    FIXED = "Fixed"


class ReleaseStrategy(_StrEnum):
    """``allocationType.releaseStrategy`` for Fixed: release after a TTL, or never."""

    TTL = "TTL"
    NEVER = "Never"


class SelectionPolicy(_StrEnum):
    """``vSwitchSelectOptions.vSwitchSelectionPolicy``."""

    ORDERED = "ordered"
    MOST = "most"
    RANDOM = "random"


class NetworkingStatus(_StrEnum):
    """``status.status`` of a PodNetworking (absent = not yet synced)."""

    READY = "Ready"
    FAIL = "Fail"


class Phase(_StrEnum):
    """PodENI ``status.phase``; ``""`` is Initial (Terway's state machine)."""

    INITIAL = ""
    BIND = "Bind"
    BINDING = "Binding"
    UNBIND = "Unbind"
    DETACHING = "Detaching"
    DELETING = "Deleting"


class ENIInfoType(_StrEnum):
    """``status.eniInfos[].type``: we write Secondary (exclusive ENI) or Member (trunk member ENI);
    Primary and Trunk are accepted for compatibility with Terway's schema."""

    SECONDARY = "Secondary"
    MEMBER = "Member"
    PRIMARY = "Primary"
    TRUNK = "Trunk"


class ENIBindStatus(_StrEnum):
    """``status.eniInfos[].status`` (Terway's ENIBindStatus)."""

    BIND = "Bind"
    UNBIND = "Unbind"
    DELETED = "Deleted"


# --- base -------------------------------------------------------------------------------------------
class K8sModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown keys kept, ``None`` left out on dump."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="allow")

    @classmethod
    def from_k8s(cls, obj: dict[str, Any]) -> Any:
        """Build from Kubernetes JSON (a dict as the API server returns it)."""
        return cls.model_validate(obj)

    def to_k8s(self) -> dict[str, Any]:
        """Kubernetes JSON: camelCase keys, no ``None`` values, enums as strings, unknown keys kept."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- PodNetworking ------------------------------------------------------------------------------------
class LabelSelectorRequirement(K8sModel):
    """One ``matchExpressions`` entry of a ``metav1.LabelSelector``."""

    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(K8sModel):
    """A ``metav1.LabelSelector``."""

    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] | None = Field(default=None, alias="matchExpressions")


class Selector(K8sModel):
    """``spec.selector``: single-network auto-matching only; must be empty for multi-network use."""

    pod_selector: LabelSelector | None = Field(default=None, alias="podSelector")
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")

    def is_set(self) -> bool:
        """True when either selector is present (even an empty one, which matches everything)."""
        return self.pod_selector is not None or self.namespace_selector is not None


class ENIOptions(K8sModel):
    """``spec.eniOptions``."""

    eni_type: ENIType = Field(default=ENIType.DEFAULT, alias="eniType")


class AllocationType(K8sModel):
    """``spec.allocationType`` (also copied into the snapshot and each PodENI allocation)."""

    type: AllocationTypeName = AllocationTypeName.ELASTIC
    release_strategy: ReleaseStrategy | None = Field(default=None, alias="releaseStrategy")
    release_after: str | None = Field(default=None, alias="releaseAfter")  # a Go duration string


class VSwitchSelectOptions(K8sModel):
    """``spec.vSwitchSelectOptions``."""

    v_switch_selection_policy: SelectionPolicy = Field(default=SelectionPolicy.ORDERED, alias="vSwitchSelectionPolicy")


class PodNetworkingSpec(K8sModel):
    """PodNetworking ``spec``."""

    eni_options: ENIOptions = Field(default_factory=ENIOptions, alias="eniOptions")
    allocation_type: AllocationType = Field(default_factory=AllocationType, alias="allocationType")
    selector: Selector | None = None
    security_group_ids: list[str] = Field(default_factory=list, alias="securityGroupIDs")
    v_switch_options: list[str] = Field(default_factory=list, alias="vSwitchOptions")
    v_switch_select_options: VSwitchSelectOptions = Field(
        default_factory=VSwitchSelectOptions, alias="vSwitchSelectOptions"
    )


class VSwitchStatus(K8sModel):
    """One ``status.vSwitches`` entry: a vSwitch of spec.vSwitchOptions and its zone."""

    id: str
    zone: str
    free_ips: int | None = Field(default=None, alias="freeIPs")  # beyond Terway


class Condition(K8sModel):
    """A ``metav1.Condition`` (beyond Terway: PodNetworking reports a ``Ready`` condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class PodNetworkingStatus(K8sModel):
    """PodNetworking ``status``."""

    status: NetworkingStatus | None = None
    v_switches: list[VSwitchStatus] = Field(default_factory=list, alias="vSwitches")
    update_at: str | None = Field(default=None, alias="updateAt")
    message: str | None = None
    conditions: list[Condition] | None = None  # beyond Terway

    def zones(self) -> list[str]:
        """The distinct zones of the vSwitches, in order of first appearance."""
        return list(dict.fromkeys(v.zone for v in self.v_switches if v.zone))


class PodNetworking(K8sModel):
    """A PodNetworking object (cluster-scoped)."""

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = "PodNetworking"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PodNetworkingSpec = Field(default_factory=PodNetworkingSpec)
    status: PodNetworkingStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    def is_ready(self) -> bool:
        return self.status is not None and self.status.status == NetworkingStatus.READY


# --- pod annotations ----------------------------------------------------------------------------------
class Route(K8sModel):
    """A route ``{dst: CIDR}``."""

    dst: str


class PodNetworkRequest(K8sModel):
    """One entry of the ``k8s.aliyun.com/pod-networks-request`` annotation (user input)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="ignore")

    interface_name: str = Field(alias="interfaceName")
    network: str
    default_route: bool | None = Field(default=None, alias="defaultRoute")
    routes: list[Route] | None = None


class PodNetworkConfig(K8sModel):
    """One resolved interface in the ``k8s.aliyun.com/pod-networks`` snapshot (Terway's shape + ours)."""

    interface: str
    v_switch_options: list[str] = Field(default_factory=list, alias="vSwitchOptions")
    security_group_ids: list[str] = Field(default_factory=list, alias="securityGroupIDs")
    eni_options: ENIOptions = Field(default_factory=ENIOptions, alias="eniOptions")
    v_switch_select_options: VSwitchSelectOptions = Field(
        default_factory=VSwitchSelectOptions, alias="vSwitchSelectOptions"
    )
    allocation_type: AllocationType = Field(default_factory=AllocationType, alias="allocationType")
    default_route: bool = Field(default=False, alias="defaultRoute")  # resolved: exactly one is true
    extra_routes: list[Route] = Field(default_factory=list, alias="extraRoutes")
    network: str | None = None  # beyond Terway: the PodNetworking's name
    zones: list[str] | None = None  # beyond Terway: the network's vSwitch zones when known


class PodNetworks(K8sModel):
    """The ``k8s.aliyun.com/pod-networks`` annotation: the configuration snapshotted at admission."""

    pod_networks: list[PodNetworkConfig] = Field(default_factory=list, alias="podNetworks")

    def to_annotation(self) -> str:
        """Compact JSON for the annotation value."""
        return json.dumps(self.to_k8s(), separators=(",", ":"), sort_keys=False)

    @classmethod
    def from_annotation(cls, raw: str) -> PodNetworks:
        """Parse the annotation value (raises ``ValueError``/``pydantic.ValidationError`` when malformed)."""
        return cls.model_validate(json.loads(raw))

    def default_interface(self) -> PodNetworkConfig | None:
        """The interface carrying the default route."""
        return next((c for c in self.pod_networks if c.default_route), None)


# --- PodENI ------------------------------------------------------------------------------------------
class AttachmentOptions(K8sModel):
    """``eni.attachmentOptions``: ``trunk`` true = member ENI on the node's trunk ENI."""

    trunk: bool | None = None


class AllocationENI(K8sModel):
    """``allocations[].eni``: the ENI allocated for one interface."""

    id: str
    mac: str | None = None
    zone: str | None = None
    v_switch_id: str | None = Field(default=None, alias="vSwitchID")
    security_group_ids: list[str] = Field(default_factory=list, alias="securityGroupIDs")
    attachment_options: AttachmentOptions = Field(default_factory=AttachmentOptions, alias="attachmentOptions")
    vpc_id: str | None = Field(default=None, alias="vpcID")  # Terway field; we leave it empty
    resource_group_id: str | None = Field(default=None, alias="resourceGroupID")  # Terway field


class Allocation(K8sModel):
    """One ``spec.allocations`` entry: an interface of the pod and its ENI."""

    eni: AllocationENI
    ipv4: str | None = None
    ipv4_cidr: str | None = Field(default=None, alias="ipv4CIDR")  # the vSwitch CIDR (gateway derivation)
    ipv6: str | None = None  # Terway field
    ipv6_cidr: str | None = Field(default=None, alias="ipv6CIDR")  # Terway field
    interface: str
    default_route: bool = Field(default=False, alias="defaultRoute")
    extra_routes: list[Route] = Field(default_factory=list, alias="extraRoutes")
    allocation_type: AllocationType = Field(default_factory=AllocationType, alias="allocationType")
    extra_config: dict[str, str] | None = Field(default=None, alias="extraConfig")  # Terway field


class PodENISpec(K8sModel):
    """PodENI ``spec``."""

    allocations: list[Allocation] = Field(default_factory=list)
    zone: str | None = None


class ENIInfo(K8sModel):
    """One ``status.eniInfos`` value."""

    id: str
    type: ENIInfoType
    vid: int | None = None  # the VLAN id of a trunk member
    status: ENIBindStatus = ENIBindStatus.BIND
    network_card_index: int | None = Field(default=None, alias="networkCardIndex")  # Terway field


class PodENIStatus(K8sModel):
    """PodENI ``status``."""

    phase: Phase = Phase.INITIAL
    instance_id: str | None = Field(default=None, alias="instanceID")
    trunk_eni_id: str | None = Field(default=None, alias="trunkENIID")
    pod_last_seen: str | None = Field(default=None, alias="podLastSeen")  # metav1.Time string
    eni_infos: dict[str, ENIInfo] = Field(default_factory=dict, alias="eniInfos")
    msg: str | None = None


class PodENI(K8sModel):
    """A PodENI object (namespaced; same namespace and name as its pod)."""

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = "PodENI"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PodENISpec = Field(default_factory=PodENISpec)
    status: PodENIStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))


# --- nodes -------------------------------------------------------------------------------------------
class NodeFactsError(PermanentError):
    """A node lacks a fact the control plane needs (instance id, zone)."""

    def __init__(self, message: str, code: str = "NodeFactsMissing") -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class NodeFacts:
    """What the control plane needs to know about a node."""

    name: str
    instance_id: str
    zone: str
    trunk_eni_id: str | None = None

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> NodeFacts:
        """Read a Node object: instance id from ``spec.providerID`` (``cn-hangzhou.i-xxx``), zone from its
        labels, trunk ENI from the ``k8s.aliyun.com/trunk-on`` annotation.

        Raises ``NodeFactsError`` naming the node and the missing field.
        """
        meta = node.get("metadata") if isinstance(node, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        name = str(meta.get("name") or "")
        shown = name or "<unnamed>"
        spec = node.get("spec") if isinstance(node, dict) else None
        provider_id = spec.get("providerID") if isinstance(spec, dict) else None
        if not isinstance(provider_id, str) or not provider_id:
            raise NodeFactsError(
                f'node "{shown}": spec.providerID is missing; expected "<region>.<instance-id>" '
                "(is the cloud controller manager running?)"
            )
        parts = provider_id.split(".")
        if len(parts) < 2 or not parts[1]:
            raise NodeFactsError(
                f'node "{shown}": spec.providerID {provider_id!r} has no instance id; '
                'expected "<region>.<instance-id>", e.g. "cn-hangzhou.i-bp1abc"'
            )
        labels = meta.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        zone = labels.get(ZONE_LABEL) or labels.get(LEGACY_ZONE_LABEL)
        if not isinstance(zone, str) or not zone:
            raise NodeFactsError(
                f'node "{shown}": metadata.labels[{ZONE_LABEL}] is missing (nor is {LEGACY_ZONE_LABEL} set)'
            )
        annotations = meta.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        trunk = annotations.get(TRUNK_ON)
        return cls(
            name=name,
            instance_id=parts[1],
            zone=zone,
            trunk_eni_id=trunk if isinstance(trunk, str) and trunk else None,
        )

    from_k8s = from_node  # the same entry point as the wire models

    def require_trunk(self) -> str:
        """The trunk ENI id, or ``NodeFactsError`` when the node has none."""
        if not self.trunk_eni_id:
            raise NodeFactsError(
                f'node "{self.name}": metadata.annotations[{TRUNK_ON}] is missing: the node has no trunk ENI '
                "(is the node agent running with trunking enabled?)",
                code="TrunkENIMissing",
            )
        return self.trunk_eni_id
