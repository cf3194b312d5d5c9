"""Step: bind a pod's ENIs to its node (spec §3 step 4).

AttachNetworkInterface per ENI — with ``TrunkNetworkInstanceId`` = the node's trunk ENI for Trunk,
a plain attach to the instance for ENI — then InUse is confirmed by re-enqueueing this step with a
delay (never by sleeping inside a function). Once every ENI is InUse: ``eniInfos`` and phase Bind on
the PodENI, the Multus-style network-status annotation on the Pod, and Events.
"""

from __future__ import annotations

import json
from typing import Any

from podnet.domain.models import NETWORK_STATUS
from podnet.domain.release import is_fixed
from podnet.errors import CloudError, Conflict, RetryableError
from podnet.ports import PODENIS, PODS, EniInfo
from podnet.steps.context import StepContext
from podnet.steps.messages import Envelope
from podnet.steps.objects import (
    NETWORK_KEY,
    allocation_types,
    allocations,
    fmt_time,
    is_deleting,
    phase_of,
    pod_finished,
    pod_uid,
    podeni_owner_uid,
)

MAX_WAIT_DELAY_S = 30.0


def wait_delay(attempt: int) -> float:
    """How long to wait before looking at an attaching ENI again (Terway: 2s, ×1.5)."""
    return min(MAX_WAIT_DELAY_S, 2.0 * (1.5**attempt))


def use_trunk(alloc: dict[str, Any], default_eni_type: str, node_has_trunk: bool) -> bool:
    """Whether this allocation is a trunk member.

    An explicit eniType (``attachmentOptions.trunk``) decides; ``Default`` follows the cluster setting,
    which means a trunk member where the node has a trunk ENI and an exclusive ENI where it has none
    (an ENI-only node), rather than failing the pod.
    """
    trunk = ((alloc.get("eni") or {}).get("attachmentOptions") or {}).get("trunk")
    if trunk is None:
        return default_eni_type == "Trunk" and node_has_trunk
    return bool(trunk)


def network_status(podeni: dict[str, Any]) -> list[dict[str, Any]]:
    """The Multus-style ``k8s.v1.cni.cncf.io/network-status`` entries for a bound PodENI (pure)."""
    allocs = allocations(podeni)
    has_default = any(a.get("defaultRoute") for a in allocs)
    out = []
    for a in sorted(allocs, key=lambda a: a.get("interface", "")):
        default = bool(a.get("defaultRoute")) or (not has_default and a.get("interface") == "eth0")
        out.append(
            {
                "name": (a.get("extraConfig") or {}).get(NETWORK_KEY, ""),
                "interface": a.get("interface", ""),
                "ips": [a["ipv4"]] if a.get("ipv4") else [],
                "mac": (a.get("eni") or {}).get("mac", ""),
                "default": default,
                "dns": {},
            }
        )
    return out


def bind(ctx: StepContext, env: Envelope) -> None:
    """Attach the pod's ENIs; when all are InUse, mark the PodENI Bind."""
    podeni = ctx.kube.get(PODENIS, env.name, env.namespace)
    if podeni is None or is_deleting(podeni):
        return
    phase = phase_of(podeni)
    if phase not in ("", "Binding"):
        return  # Bind: done; Unbind/Detaching/Deleting belong to other steps
    pod = ctx.kube.get(PODS, env.name, env.namespace)
    if pod is None or pod_finished(pod):
        ctx.outbox.send(env.next("release", "DELETED"))
        return
    if pod_uid(pod) != podeni_owner_uid(podeni):
        ctx.outbox.send(env.next("allocate"))  # a newer pod: allocate decides
        return
    allocs = allocations(podeni)
    if not allocs or any(not a["eni"].get("id") for a in allocs):
        ctx.outbox.send(env.next("allocate"))
        return

    facts = ctx.node_facts(pod, "AttachENIFailed")

    wanted: dict[str, str] = {}
    for a in allocs:
        trunk = use_trunk(a, ctx.settings.default_eni_type, bool(facts.trunk_eni_id))
        if trunk and not facts.trunk_eni_id:
            msg = f"node {facts.name} has no trunk ENI (annotation k8s.aliyun.com/trunk-on) for interface {a['interface']}"
            ctx.event(pod, "Warning", "AttachENIFailed", f"{msg} (TrunkENINotFound)")
            raise RetryableError(msg, delay_s=30, code="TrunkENINotFound")
        wanted[a["eni"]["id"]] = facts.trunk_eni_id if trunk else ""

    found = {e.id: e for e in ctx.cloud.describe_network_interfaces(eni_ids=list(wanted))}
    pending = False
    for eni_id, trunk_id in wanted.items():
        eni = found.get(eni_id)
        if eni is None:
            ctx.event(pod, "Warning", "AttachENIFailed", f"ENI {eni_id} no longer exists (ENINotFound)")
            raise RetryableError(f"ENI {eni_id} not found", delay_s=30, code="ENINotFound")
        if _attached_as_wanted(eni, facts.instance_id, trunk_id):
            continue
        pending = True
        try:
            if eni.status == "Available":
                ctx.cloud.attach_network_interface(eni_id, facts.instance_id, trunk_id or None)
            elif eni.status == "InUse":  # still on an earlier node: take it back first
                ctx.cloud.detach_network_interface(eni_id, eni.instance_id, eni.trunk_eni_id or None)
        except CloudError as e:
            if e.code != "InvalidOperation.InvalidEniState":  # someone else is moving it: look again later
                ctx.event(pod, "Warning", "AttachENIFailed", f"ENI {eni_id}: {e}")
                raise RetryableError(f"attach {eni_id}: {e}", delay_s=5, code=e.code) from e

    if pending:
        ctx.outbox.send(env.retry(), delay_s=wait_delay(env.attempt))
        return

    status = dict(podeni.get("status") or {})
    status.update(
        phase="Bind",
        instanceID=facts.instance_id,
        trunkENIID=facts.trunk_eni_id or "",
        msg="",
        eniInfos={
            eni_id: {
                "id": eni_id,
                "type": "Member" if wanted[eni_id] else "Secondary",
                **({"vid": found[eni_id].device_index} if wanted[eni_id] and found[eni_id].device_index is not None else {}),
                "status": "Bind",
            }
            for eni_id in wanted
        },
    )
    if is_fixed(allocation_types(podeni)):
        status["podLastSeen"] = fmt_time(ctx.clock.now())
    podeni["status"] = status
    try:
        podeni = ctx.kube.replace(PODENIS, podeni, subresource="status")
    except Conflict:
        raise RetryableError("PodENI changed while binding", delay_s=0) from None

    ctx.kube.patch(
        PODS,
        env.name,
        {"metadata": {"annotations": {NETWORK_STATUS: json.dumps(network_status(podeni), separators=(",", ":"))}}},
        namespace=env.namespace,
    )
    attached = ",".join(sorted(wanted))
    ctx.event(pod, "Normal", "AttachENISucceed", f"attached enis {attached} to {facts.instance_id}")
    ctx.event(podeni, "Normal", "AttachENISucceed", f"attached enis {attached} to {facts.instance_id}")


def _attached_as_wanted(eni: EniInfo, instance_id: str, trunk_id: str) -> bool:
    if eni.status != "InUse":
        return False
    if trunk_id:
        return eni.trunk_eni_id == trunk_id
    return eni.instance_id == instance_id and not eni.trunk_eni_id
