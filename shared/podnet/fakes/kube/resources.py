"""Which resources the fake API server serves, and how each behaves (one ``register`` line each)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from podnet.ports import EVENTS, NAMESPACES, NODES, PODENIS, PODNETWORKINGS, PODS, Resource

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)

KEEP = "keep"  # status_on_create: keep whatever status the client sent

# Field selectors every resource supports (the real server adds per-type ones).
COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """A served resource plus the server-side behaviour of its registry strategy."""

    resource: Resource
    status_subresource: bool = True
    generation: bool = False  # metadata.generation kept and bumped on non-metadata/non-status changes
    # On create: KEEP the client's status, drop it (None), or replace it with this dict.
    status_on_create: Any = KEEP
    # DELETE answers with the deleted object (pods, CRs) or with a Status (configmaps, events, nodes).
    return_deleted_object: bool = True
    field_labels: frozenset[str] = field(default_factory=frozenset)
    custom: bool = False  # a custom resource: no strategic merge patch, status dropped on create

    @property
    def group(self) -> str:
        return self.resource.group

    @property
    def version(self) -> str:
        return self.resource.version

    @property
    def plural(self) -> str:
        return self.resource.plural

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def namespaced(self) -> bool:
        return self.resource.namespaced

    @property
    def api_version(self) -> str:
        return self.resource.api_version

    @property
    def list_kind(self) -> str:
        return self.resource.kind + "List"

    @property
    def qualified(self) -> str:
        """``pods`` or ``podenis.network.alibabacloud.com``: how error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def supports_field(self, label: str) -> bool:
        return label in COMMON_FIELDS or label in self.field_labels

    def initial_status(self, status: Any) -> Any:
        """The status a newly created object gets (None: no status key)."""
        if self.status_on_create == KEEP:
            return status
        return copy.deepcopy(self.status_on_create)


ResourceRef = str | Resource | ResourceType


class ResourceRegistry:
    """Resources by (group, plural); looked up by plural, ``plural.group``, Resource or Kind."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], ResourceType] = {}

    def register(self, resource: Resource, **behaviour: Any) -> ResourceType:
        """Serve ``resource`` (keyword arguments are ResourceType fields)."""
        rt = ResourceType(resource, **behaviour)
        self._by_key[rt.key] = rt
        return rt

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_key.values()))

    def copy(self) -> ResourceRegistry:
        out = ResourceRegistry()
        out._by_key = dict(self._by_key)
        return out

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._by_key.get((group, plural))
        return rt if rt is not None and rt.version == version else None

    def group_versions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rt in self:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def lookup(self, ref: ResourceRef) -> ResourceType:
        """Find a resource; raises KeyError when it is not served."""
        if isinstance(ref, ResourceType):
            return self._by_key[ref.key]
        if isinstance(ref, Resource):
            return self._by_key[(ref.group, ref.plural)]
        plural, _, group = ref.partition(".")
        if group:
            return self._by_key[(group, plural)]
        matches = [rt for rt in self if rt.plural == ref or rt.kind == ref]
        if len(matches) != 1:
            raise KeyError(ref)
        return matches[0]


POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)


def default_registry() -> ResourceRegistry:
    """The resources podnet-fc uses; add one with a single ``register`` call."""
    reg = ResourceRegistry()
    reg.register(PODS, generation=True, status_on_create={"phase": "Pending"}, field_labels=POD_FIELDS)
    reg.register(NODES, return_deleted_object=False, field_labels=frozenset({"spec.unschedulable"}))
    reg.register(EVENTS, status_subresource=False, return_deleted_object=False, field_labels=EVENT_FIELDS)
    reg.register(NAMESPACES, status_on_create={"phase": "Active"}, field_labels=frozenset({"status.phase"}))
    reg.register(CONFIGMAPS, status_subresource=False, return_deleted_object=False)
    reg.register(PODNETWORKINGS, generation=True, status_on_create=None, custom=True)
    reg.register(PODENIS, generation=True, status_on_create=None, custom=True)
    return reg
