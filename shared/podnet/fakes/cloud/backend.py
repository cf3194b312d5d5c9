"""State model of the fake Alibaba Cloud ECS + VPC: vSwitches, ENIs, instances. No HTTP here.

One snake_case method per OpenAPI action; each takes and returns Python objects and raises a
``CloudApiError`` subclass carrying the real Aliyun error code and HTTP status. ``server.py``
turns requests into these calls and the results into the JSON the Tea SDKs parse.

Modelling choices (the real service does not document all of them):

* **IPs.** An ENI gets the lowest free address of its vSwitch CIDR; Aliyun reserves the network
  address and the last three, so a /24 has 252 usable addresses. ``AvailableIpAddressCount`` is a
  counter seeded from ``available_ips`` (default: the usable size; a smaller number simulates other
  tenants of the vSwitch). Create takes one, delete gives one back; at 0 create fails with 403
  ``InvalidVSwitchId.IpNotEnough``.
* **Trunk ENIs of seeded nodes** take their IP from an internal per-zone node vSwitch
  (``vsw-nodes-<zone>``, 172.16.k.0/24), never from a scenario vSwitch, so a scenario's
  ``availableIPs`` counts pod ENIs only. Internal vSwitches are hidden from unfiltered
  DescribeVSwitches and from ``state()`` but can be described by id. Instances have no modelled
  primary ENI.
* **Asynchronous attach/detach.** Attach moves Available → Attaching → InUse, detach InUse →
  Detaching → Available. ``attach_delay``/``detach_delay`` as an ``int`` N means "the ENI shows the
  intermediate state in N DescribeNetworkInterfaces answers, then the final one" (0 = at once);
  as a ``float`` (seconds) or ``timedelta`` it is a duration on the injected clock (a ``SimClock``
  must be advanced). ``detach_delay`` None (default) follows ``attach_delay``. Both are plain
  attributes and may be changed at any time; a change applies to the next attach/detach. Delete is synchronous: the ENI is gone when the call returns.
* **ClientToken (CreateNetworkInterface).** The same token with the same parameters returns the
  original result again (the ENI as it was created), even after that ENI was deleted, for
  ``client_token_ttl`` (None = as long as the backend lives), like ECS which remembers tokens for a
  while. The same token with other parameters → 400 ``IdempotentParameterMismatch``. A failed
  create does not consume its token.
* **Trunk members.** Attaching with a trunk ENI id makes the ENI Type ``Member`` with
  ``DeviceIndex`` = the lowest free VLAN id 1..1000 on that trunk; detaching makes it ``Secondary``
  again. A plain attach gets the lowest free device index on the instance from 1 (0 = primary).
* **Codes** marked *(unverified)* below were chosen for cases the public error tables do not cover.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from podnet.clock import Clock, SystemClock
from podnet.fakes.faults import FaultInjector

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ENI_TYPES = ("Secondary", "Trunk", "Member", "Primary")
ENI_STATUSES = ("Available", "Attaching", "InUse", "Detaching", "Deleting")
MAX_VLAN_ID = 1000
Delay = int | float | timedelta


# --- errors (one class per real code) ---------------------------------------------------------------
class CloudApiError(Exception):
    """An error answer: HTTP status, the Aliyun code, a message."""

    status: int = 400
    code: str = "InvalidParameter"
    message: str = "The specified parameter is not valid."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(f"{self.status} {self.code}: {self.message}")


class MissingParameter(CloudApiError):
    status, code = 400, "MissingParameter"

    def __init__(self, name: str) -> None:
        super().__init__(
            f'The input parameter "{name}" that is mandatory for processing this request is not supplied.'
        )


class InvalidParameter(CloudApiError):
    status, code = 400, "InvalidParameter"

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f'The specified parameter "{name}" is not valid.' + (f" {detail}" if detail else ""))


class InvalidActionNotFound(CloudApiError):
    status, code = 404, "InvalidAction.NotFound"
    message = "Specified api is not found, please check your url and method."


class IncompleteSignature(CloudApiError):
    status, code = 400, "IncompleteSignature"
    message = "The request signature does not conform to Aliyun standards."


class Throttling(CloudApiError):
    status, code = 400, "Throttling.User"
    message = "Request was denied due to user flow control."


class ServiceUnavailable(CloudApiError):
    status, code = 503, "ServiceUnavailable"
    message = "The request has failed due to a temporary failure of the server."


class InternalError(CloudApiError):
    status, code = 500, "InternalError"
    message = "The request processing has failed due to some unknown error, exception or failure."


class VSwitchNotFound(CloudApiError):
    status, code = 404, "InvalidVSwitchId.NotFound"
    message = "Specified virtual switch does not exist."


class VSwitchIpNotEnough(CloudApiError):
    status, code = 403, "InvalidVSwitchId.IpNotEnough"
    message = "The specified VSwitch has not enough IpAddress."


class EniNotFound(CloudApiError):
    status, code = 404, "InvalidEniId.NotFound"
    message = "The specified EniId does not exist."


class InvalidEniState(CloudApiError):
    status, code = 403, "InvalidOperation.InvalidEniState"
    message = "The operation is not allowed in the current ENI state."


class InvalidEniType(CloudApiError):
    status, code = 403, "InvalidOperation.InvalidEniType"
    message = "The operation is not allowed in the current ENI type."


class InstanceNotFound(CloudApiError):
    status, code = 404, "InvalidInstanceId.NotFound"
    message = "The specified InstanceId does not exist."


class EcsIdNotFound(CloudApiError):
    """DetachNetworkInterface with an unknown instance (the code Terway treats as benign)."""

    status, code = 404, "InvalidEcsId.NotFound"
    message = "The specified ECS instance does not exist."


class ZoneMismatch(CloudApiError):
    """ENI and instance in different zones (unverified code)."""

    status, code = 403, "InvalidOperation.ZoneMismatch"
    message = "The ENI and the instance are not in the same zone."


class EniPerInstanceLimitExceeded(CloudApiError):
    status, code = 403, "EniPerInstanceLimitExceeded"
    message = "The number of ENIs on the instance (or members on the trunk ENI) exceeds the limit."


class IdempotentParameterMismatch(CloudApiError):
    status, code = 400, "IdempotentParameterMismatch"
    message = "The specified parameter has changed while using an already used clientToken."


# --- state ------------------------------------------------------------------------------------------
@dataclass
class VSwitch:
    """One vSwitch: a zonal CIDR with an available-IP counter and the addresses in use."""

    id: str
    zone: str
    cidr: str
    vpc_id: str
    available_ips: int
    created_at: datetime
    internal: bool = False  # a node vSwitch invented for trunk ENIs; hidden from listings
    used: set[int] = field(default_factory=set)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr, strict=False)

    @property
    def usable_size(self) -> int:
        return usable_size(self.cidr)

    def allocate(self) -> str | None:
        """The lowest free address (skipping the reserved ones), or None when the CIDR is full."""
        net = self.network
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 3
        for n in range(first, last + 1):
            if n not in self.used:
                self.used.add(n)
                return str(ipaddress.IPv4Address(n))
        return None

    def release(self, ip: str) -> None:
        self.used.discard(int(ipaddress.IPv4Address(ip)))


@dataclass
class Eni:
    """One elastic network interface as ECS keeps it."""

    id: str
    type: str
    status: str
    vswitch_id: str
    vpc_id: str
    zone: str
    ip: str
    mac: str
    security_group_ids: list[str]
    tags: dict[str, str]
    created_at: datetime
    seq: int  # creation order: the listing order and the NextToken anchor
    description: str = ""
    name: str = ""
    delete_on_release: bool = True
    source_dest_check: bool = True
    instance_id: str = ""
    trunk_eni_id: str = ""
    device_index: int | None = None
    # a transition in progress: the status it ends in, and when (describes left, or a clock time)
    pending_status: str | None = None
    pending_describes: int = 0
    pending_due: datetime | None = None

    def copy(self) -> Eni:
        return copy.deepcopy(self)


@dataclass
class Instance:
    """An ECS instance standing for a Kubernetes node."""

    instance_id: str
    zone: str
    trunk_eni_id: str | None
    node_name: str = ""
    status: str = "Running"


@dataclass
class Page:
    """One page of a listing."""

    items: list[Any]
    total: int
    page_number: int | None = None
    page_size: int | None = None
    next_token: str | None = None
    max_results: int | None = None


@dataclass
class _TokenRecord:
    fingerprint: tuple[Any, ...]
    result: Eni
    at: datetime


def usable_size(cidr: str) -> int:
    """Addresses an ENI can get in ``cidr``: all but the network address and the last three."""
    return max(0, ipaddress.IPv4Network(cidr, strict=False).num_addresses - 4)


def _short_hash(text: str, n: int = 20) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


# --- the backend ------------------------------------------------------------------------------------
class CloudBackend:
    """In-memory ECS + VPC for one region and one VPC. Thread-safe (one re-entrant lock)."""

    def __init__(
        self,
        clock: Clock | None = None,
        region: str = "cn-hangzhou",
        vpc_id: str = "vpc-podnet",
        seed: int = 0,
        *,
        attach_delay: Delay = 1,
        detach_delay: Delay | None = None,
        client_token_ttl: timedelta | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.region = region
        self.vpc_id = vpc_id
        self.seed = seed
        self.attach_delay: Delay = attach_delay
        self.detach_delay: Delay | None = detach_delay  # None: the same as attach_delay
        self.client_token_ttl = client_token_ttl
        self._lock = threading.RLock()
        self.faults = FaultInjector(seed)
        self._init_state()

    def _init_state(self) -> None:
        self.vswitches: dict[str, VSwitch] = {}
        self.enis: dict[str, Eni] = {}
        self.instances: dict[str, Instance] = {}
        self.calls: Counter[str] = Counter()
        self.calls_ok: Counter[str] = Counter()
        self._tokens: dict[str, _TokenRecord] = {}
        self._macs: set[str] = set()
        self._rng = random.Random(self.seed)
        self._seq = 0
        self._node_vswitch_count = 0

    @property
    def lock(self) -> threading.RLock:
        """Hold this to read several pieces of state consistently."""
        return self._lock

    # --- housekeeping -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (vSwitches, ENIs, instances, tokens, counters, fault rules)."""
        with self._lock:
            self._init_state()
            self.faults = FaultInjector(self.seed)

    def reset_calls(self) -> None:
        """Zero the per-action call counters only."""
        with self._lock:
            self.calls.clear()
            self.calls_ok.clear()

    def record_call(self, action: str, ok: bool) -> None:
        """Count one request (the HTTP layer calls this for every request, failed ones too)."""
        with self._lock:
            self.calls[action] += 1
            if ok:
                self.calls_ok[action] += 1

    def _now(self) -> datetime:
        return self.clock.now()

    def _new_id(self, prefix: str) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        while True:
            new = prefix + "bp1" + "".join(self._rng.choice(alphabet) for _ in range(17))
            if new not in self.enis:
                return new

    def _new_mac(self) -> str:
        while True:
            mac = "00:16:3e:" + ":".join(f"{self._rng.randrange(256):02x}" for _ in range(3))
            if mac not in self._macs:
                self._macs.add(mac)
                return mac

    # --- seeding ------------------------------------------------------------------------------------
    def add_vswitch(self, id: str, zone: str, cidr: str, available_ips: int | None = None) -> VSwitch:  # noqa: A002
        """Create a vSwitch; ``available_ips`` None means the CIDR's usable size."""
        size = usable_size(cidr)
        if available_ips is None:
            available_ips = size
        if available_ips < 0 or available_ips > size:
            raise ValueError(f"vSwitch {id}: availableIPs {available_ips} outside 0..{size} for {cidr}")
        with self._lock:
            if id in self.vswitches:
                raise ValueError(f"vSwitch {id} already exists")
            vsw = VSwitch(
                id,
                zone,
                str(ipaddress.IPv4Network(cidr, strict=False)),
                self.vpc_id,
                available_ips,
                self._now(),
            )
            self.vswitches[id] = vsw
            return vsw

    def set_available_ips(self, vswitch_id: str, count: int) -> None:
        """Set a vSwitch's AvailableIpAddressCount (0 makes creates fail with IpNotEnough)."""
        if count < 0:
            raise ValueError("available IP count cannot be negative")
        with self._lock:
            self.vswitches[vswitch_id].available_ips = count

    def _node_vswitch(self, zone: str) -> VSwitch:
        vsw_id = f"vsw-nodes-{zone}"
        if vsw_id not in self.vswitches:
            k = self._node_vswitch_count
            self._node_vswitch_count += 1
            self.add_vswitch(vsw_id, zone, f"172.16.{k}.0/24")
            self.vswitches[vsw_id].internal = True
        return self.vswitches[vsw_id]

    def add_instance(self, node_name: str, zone: str, trunk: bool = False) -> Instance:
        """Create (once) the instance behind a node; with ``trunk`` also its trunk ENI, InUse."""
        instance_id = "i-" + _short_hash(f"instance/{self.region}/{node_name}")
        with self._lock:
            existing = self.instances.get(instance_id)
            if existing is not None:
                if existing.zone != zone or (existing.trunk_eni_id is not None) != trunk:
                    raise ValueError(f"node {node_name} already exists with another zone or trunk setting")
                return existing
            inst = Instance(instance_id, zone, None, node_name)
            self.instances[instance_id] = inst
            if trunk:
                vsw = self._node_vswitch(zone)
                eni = self._make_eni(
                    vsw,
                    "Trunk",
                    ["sg-nodes"],
                    {},
                    eni_id="eni-" + _short_hash(f"trunk/{self.region}/{node_name}"),
                )
                eni.status, eni.instance_id, eni.device_index = "InUse", instance_id, 1
                eni.description = f"trunk ENI of {node_name}"
                inst.trunk_eni_id = eni.id
            return inst

    def seed_from_scenario(
        self, cloud: Mapping[str, Any] | None, nodes: Iterable[Mapping[str, Any]] | None
    ) -> dict[str, Instance]:
        """Apply a Scenario's ``cloud`` ({region, vSwitches}) and ``nodes`` sections; returns node name → Instance."""
        cloud = cloud or {}
        with self._lock:
            if cloud.get("region"):
                self.region = str(cloud["region"])
            for v in cloud.get("vSwitches") or []:
                avail = v.get("availableIPs")
                self.add_vswitch(
                    str(v["id"]), str(v["zone"]), str(v["cidr"]), None if avail is None else int(avail)
                )
            return {
                str(n["name"]): self.add_instance(str(n["name"]), str(n["zone"]), bool(n.get("trunk", False)))
                for n in nodes or []
            }

    # --- internal helpers ---------------------------------------------------------------------------
    def _make_eni(
        self, vsw: VSwitch, eni_type: str, sgs: list[str], tags: dict[str, str], eni_id: str | None = None
    ) -> Eni:
        if vsw.available_ips <= 0:
            raise VSwitchIpNotEnough()
        ip = vsw.allocate()
        if ip is None:
            raise VSwitchIpNotEnough()
        vsw.available_ips -= 1
        self._seq += 1
        eni = Eni(
            id=eni_id or self._new_id("eni-"),
            type=eni_type,
            status="Available",
            vswitch_id=vsw.id,
            vpc_id=vsw.vpc_id,
            zone=vsw.zone,
            ip=ip,
            mac=self._new_mac(),
            security_group_ids=list(sgs),
            tags=dict(tags),
            created_at=self._now(),
            seq=self._seq,
        )
        self.enis[eni.id] = eni
        return eni

    def _get_eni(self, eni_id: str) -> Eni:
        eni = self.enis.get(eni_id)
        if eni is None:
            raise EniNotFound(f"The specified EniId does not exist: {eni_id}")
        return eni

    def _start(self, eni: Eni, intermediate: str, final: str, delay: Delay) -> None:
        eni.status, eni.pending_status, eni.pending_describes, eni.pending_due = intermediate, final, 0, None
        if isinstance(delay, bool):  # a bool is an int in Python; never mean it
            raise TypeError("delay must be an int (describes) or a float/timedelta (duration)")
        if isinstance(delay, int):
            eni.pending_describes = delay
        else:
            eni.pending_due = self._now() + (
                delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
            )
        self._settle_one(eni)

    def _settle_one(self, eni: Eni) -> None:
        if eni.pending_status is None:
            return
        due = eni.pending_due <= self._now() if eni.pending_due is not None else eni.pending_describes <= 0
        if not due:
            return
        final, eni.pending_status, eni.pending_due, eni.pending_describes = eni.pending_status, None, None, 0
        eni.status = final
        if final == "Available":  # a detach finished
            if eni.type == "Member":
                eni.type = "Secondary"
            eni.instance_id, eni.trunk_eni_id, eni.device_index = "", "", None

    def settle(self) -> None:
        """Finish the transitions that are due (time-based ones move with the clock)."""
        with self._lock:
            for eni in self.enis.values():
                self._settle_one(eni)

    # --- VPC ----------------------------------------------------------------------------------------
    def describe_vswitches(
        self,
        *,
        vswitch_id: str | None = None,
        zone_id: str | None = None,
        vpc_id: str | None = None,
        page_number: int = 1,
        page_size: int = 10,
    ) -> Page:
        """DescribeVSwitches: filter, then page by number (PageSize ≤ 50)."""
        if page_number < 1:
            raise InvalidParameter("PageNumber")
        if not 1 <= page_size <= 50:
            raise InvalidParameter("PageSize", "Valid values: 1 to 50.")
        ids = [s for s in (vswitch_id or "").split(",") if s]
        with self._lock:
            found = [
                v
                for v in self.vswitches.values()
                if (v.id in ids if ids else not v.internal)
                and (zone_id is None or v.zone == zone_id)
                and (vpc_id is None or v.vpc_id == vpc_id)
            ]
            start = (page_number - 1) * page_size
            items = [copy.deepcopy(v) for v in found[start : start + page_size]]
            return Page(items, len(found), page_number=page_number, page_size=page_size)

    # --- ECS ----------------------------------------------------------------------------------------
    def create_network_interface(
        self,
        *,
        vswitch_id: str,
        security_group_ids: list[str],
        instance_type: str = "Secondary",
        tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        delete_on_release: bool | None = None,
        source_dest_check: bool | None = None,
        description: str = "",
        name: str = "",
        client_token: str | None = None,
    ) -> Eni:
        """CreateNetworkInterface: an Available ENI with the lowest free IP of the vSwitch."""
        if not vswitch_id:
            raise MissingParameter("VSwitchId")
        if not security_group_ids:
            raise MissingParameter("SecurityGroupId")
        if len(security_group_ids) > 10:
            raise InvalidParameter("SecurityGroupIds", "At most 10 security groups.")
        if instance_type not in ("Secondary", "Trunk"):
            raise InvalidParameter("InstanceType", "Valid values: Secondary, Trunk.")
        tag_pairs = list(tags.items()) if isinstance(tags, Mapping) else list(tags or [])
        if len(tag_pairs) > 20:
            raise InvalidParameter("Tag", "At most 20 tags.")
        if client_token is not None and (len(client_token) > 64 or not client_token.isascii()):
            raise InvalidParameter("ClientToken", "At most 64 ASCII characters.")
        fingerprint = (
            vswitch_id,
            tuple(security_group_ids),
            instance_type,
            tuple(tag_pairs),
            delete_on_release,
            source_dest_check,
            description,
            name,
        )
        with self._lock:
            now = self._now()
            if client_token:
                rec = self._tokens.get(client_token)
                if (
                    rec is not None
                    and self.client_token_ttl is not None
                    and now - rec.at > self.client_token_ttl
                ):
                    del self._tokens[client_token]
                    rec = None
                if rec is not None:
                    if rec.fingerprint != fingerprint:
                        raise IdempotentParameterMismatch()
                    return rec.result.copy()
            vsw = self.vswitches.get(vswitch_id)
            if vsw is None:
                raise VSwitchNotFound(f"Specified virtual switch does not exist: {vswitch_id}")
            eni = self._make_eni(vsw, instance_type, security_group_ids, dict(tag_pairs))
            eni.description, eni.name = description, name
            if delete_on_release is not None:
                eni.delete_on_release = delete_on_release
            if source_dest_check is not None:
                eni.source_dest_check = source_dest_check
            if client_token:
                self._tokens[client_token] = _TokenRecord(fingerprint, eni.copy(), now)
            return eni.copy()

    def attach_network_interface(
        self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None
    ) -> None:
        """AttachNetworkInterface: Available → Attaching → InUse (see the module doc for timing)."""
        if not eni_id:
            raise MissingParameter("NetworkInterfaceId")
        if not instance_id:
            raise MissingParameter("InstanceId")
        with self._lock:
            eni = self._get_eni(eni_id)
            self._settle_one(eni)
            inst = self.instances.get(instance_id)
            if inst is None:
                raise InstanceNotFound(f"The specified InstanceId does not exist: {instance_id}")
            if eni.status != "Available":
                raise InvalidEniState(f"The ENI {eni_id} is {eni.status}; it must be Available to attach.")
            if eni.type == "Trunk" and trunk_eni_id:
                raise InvalidEniType("A trunk ENI cannot be a member of another trunk ENI.")
            if eni.zone != inst.zone:
                raise ZoneMismatch(f"ENI {eni_id} is in {eni.zone}, instance {instance_id} in {inst.zone}.")
            if trunk_eni_id:
                trunk = self.enis.get(trunk_eni_id)
                if trunk is None:
                    raise EniNotFound(f"The specified trunk EniId does not exist: {trunk_eni_id}")
                self._settle_one(trunk)
                if trunk.type != "Trunk":
                    raise InvalidEniType(f"{trunk_eni_id} is not a trunk ENI.")
                if trunk.instance_id != instance_id or trunk.status != "InUse":
                    raise InvalidEniState(
                        f"Trunk ENI {trunk_eni_id} is not attached to instance {instance_id}."
                    )
                used = {e.device_index for e in self.enis.values() if e.trunk_eni_id == trunk_eni_id}
                vlan = next((v for v in range(1, MAX_VLAN_ID + 1) if v not in used), None)
                if vlan is None:
                    raise EniPerInstanceLimitExceeded(f"Trunk ENI {trunk_eni_id} has {MAX_VLAN_ID} members.")
                eni.type, eni.trunk_eni_id, eni.device_index = "Member", trunk_eni_id, vlan
            else:
                used = {
                    e.device_index
                    for e in self.enis.values()
                    if e.instance_id == instance_id and not e.trunk_eni_id
                }
                eni.device_index = next(i for i in range(1, len(used) + 2) if i not in used)
            eni.instance_id = instance_id
            self._start(eni, "Attaching", "InUse", self.attach_delay)

    def detach_network_interface(
        self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None
    ) -> None:
        """DetachNetworkInterface: InUse → Detaching → Available; a Member becomes Secondary again."""
        if not eni_id:
            raise MissingParameter("NetworkInterfaceId")
        if not instance_id:
            raise MissingParameter("InstanceId")
        with self._lock:
            eni = self._get_eni(eni_id)
            self._settle_one(eni)
            if instance_id not in self.instances:
                raise EcsIdNotFound(f"The specified ECS instance does not exist: {instance_id}")
            if eni.status == "Detaching" and eni.instance_id == instance_id:
                return  # the docs allow re-initiating a detach that is in progress
            if eni.status != "InUse":
                raise InvalidEniState(f"The ENI {eni_id} is {eni.status}; it must be InUse to detach.")
            if eni.instance_id != instance_id:
                raise InvalidEniState(f"The ENI {eni_id} is not attached to instance {instance_id}.")
            if trunk_eni_id and eni.trunk_eni_id != trunk_eni_id:
                raise InvalidParameter(
                    "TrunkNetworkInstanceId", f"ENI {eni_id} is not a member of {trunk_eni_id}."
                )
            delay = self.attach_delay if self.detach_delay is None else self.detach_delay
            self._start(eni, "Detaching", "Available", delay)

    def delete_network_interface(self, eni_id: str) -> None:
        """DeleteNetworkInterface: only an Available ENI; frees its IP at once."""
        if not eni_id:
            raise MissingParameter("NetworkInterfaceId")
        with self._lock:
            eni = self._get_eni(eni_id)
            self._settle_one(eni)
            if eni.status != "Available":
                raise InvalidEniState(f"The ENI {eni_id} is {eni.status}; it must be Available to delete.")
            del self.enis[eni_id]
            vsw = self.vswitches.get(eni.vswitch_id)
            if vsw is not None:
                vsw.release(eni.ip)
                vsw.available_ips += 1

    def describe_network_interfaces(
        self,
        *,
        eni_ids: list[str] | None = None,
        tags: Mapping[str, str | None] | None = None,
        instance_id: str | None = None,
        vswitch_id: str | None = None,
        vpc_id: str | None = None,
        status: str | None = None,
        eni_type: str | None = None,
        private_ips: list[str] | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
        page_number: int | None = None,
        page_size: int | None = None,
    ) -> Page:
        """DescribeNetworkInterfaces: filters AND together; token paging, or legacy page numbers.

        Token paging is used unless PageNumber/PageSize is given (MaxResults defaults to 10;
        NextToken is "" on the last page). Unknown ids are simply not in the answer.
        """
        if eni_ids and len(eni_ids) > 100:
            raise InvalidParameter("NetworkInterfaceId", "At most 100 ids.")
        if tags and len(tags) > 20:
            raise InvalidParameter("Tag", "At most 20 tags.")
        legacy = page_number is not None or page_size is not None
        if legacy and (next_token or max_results is not None):
            raise InvalidParameter("NextToken", "Use either NextToken/MaxResults or PageNumber/PageSize.")
        if max_results is not None and not 1 <= max_results <= 500:
            raise InvalidParameter("MaxResults", "Valid values: 1 to 500.")
        if page_number is not None and page_number < 1:
            raise InvalidParameter("PageNumber")
        if page_size is not None and not 1 <= page_size <= 1000:
            raise InvalidParameter("PageSize", "Valid values: 1 to 1000.")
        after = 0
        if next_token:
            try:
                after = int(next_token, 16)
            except ValueError:
                raise InvalidParameter("NextToken") from None
        id_set = set(eni_ids or [])
        ip_set = set(private_ips or [])
        with self._lock:
            self.settle()
            found = [
                e
                for e in sorted(self.enis.values(), key=lambda e: e.seq)
                if (not id_set or e.id in id_set)
                and (not ip_set or e.ip in ip_set)
                and (instance_id is None or e.instance_id == instance_id)
                and (vswitch_id is None or e.vswitch_id == vswitch_id)
                and (vpc_id is None or e.vpc_id == vpc_id)
                and (status is None or e.status == status)
                and (eni_type is None or e.type == eni_type)
                and all(k in e.tags and (v is None or e.tags[k] == v) for k, v in (tags or {}).items())
            ]
            if legacy:
                pn, ps = page_number or 1, page_size or 10
                page = found[(pn - 1) * ps : pn * ps]
                result = Page([], len(found), page_number=pn, page_size=ps)
            else:
                mr = max_results or 10
                rest = [e for e in found if e.seq > after]
                page = rest[:mr]
                token = f"{page[-1].seq:016x}" if len(rest) > mr else ""
                result = Page([], len(found), next_token=token, max_results=mr)
            for eni in page:
                result.items.append(eni.copy())
                if eni.pending_status is not None and eni.pending_due is None:
                    eni.pending_describes -= 1  # seen once more in the intermediate state
            return result

    def describe_instances(
        self, *, instance_ids: list[str] | None = None, zone_id: str | None = None
    ) -> list[Instance]:
        """DescribeInstances (minimal): the instances with these ids (all when None)."""
        with self._lock:
            return [
                copy.deepcopy(i)
                for i in self.instances.values()
                if (instance_ids is None or i.instance_id in instance_ids)
                and (zone_id is None or i.zone == zone_id)
            ]

    # --- state dump ---------------------------------------------------------------------------------
    def state(self, include_internal: bool = False) -> dict[str, Any]:
        """A JSON-able dump (field names as in ``podnet local --output json``)."""
        with self._lock:
            self.settle()
            return {
                "region": self.region,
                "vpcId": self.vpc_id,
                "now": self._now().strftime(TIME_FORMAT),
                "vSwitches": [
                    {
                        "id": v.id,
                        "zoneId": v.zone,
                        "cidrBlock": v.cidr,
                        "availableIpAddressCount": v.available_ips,
                        **({"internal": True} if v.internal else {}),
                    }
                    for v in self.vswitches.values()
                    if include_internal or not v.internal
                ],
                "enis": [
                    {
                        "id": e.id,
                        "type": e.type,
                        "status": e.status,
                        "vSwitchId": e.vswitch_id,
                        "zoneId": e.zone,
                        "privateIpAddress": e.ip,
                        "macAddress": e.mac,
                        "instanceId": e.instance_id,
                        "trunkNetworkInterfaceId": e.trunk_eni_id,
                        "deviceIndex": e.device_index,
                        "tags": dict(e.tags),
                        "securityGroupIds": list(e.security_group_ids),
                        "deleteOnRelease": e.delete_on_release,
                        "creationTime": e.created_at.strftime(TIME_FORMAT),
                    }
                    for e in sorted(self.enis.values(), key=lambda e: e.seq)
                ],
                "instances": [
                    {
                        "instanceId": i.instance_id,
                        "nodeName": i.node_name,
                        "zoneId": i.zone,
                        "trunkNetworkInterfaceId": i.trunk_eni_id,
                    }
                    for i in self.instances.values()
                ],
                "apiCalls": dict(sorted(self.calls.items())),
                "apiCallsOk": dict(sorted(self.calls_ok.items())),
            }
