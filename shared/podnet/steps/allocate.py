"""Step: allocate ENIs for a scheduled Pod (spec §3 step 3).

Order of side effects, each safe to repeat after a crash at any line:
1. the PodENI is created with the intent (one allocation per interface, vSwitch chosen, no ENI id);
2. per interface, CreateNetworkInterface with a ClientToken derived from the intent — a replay
   returns the same ENI — then the ENI is recorded on the PodENI (resourceVersion precondition);
3. the bind step is enqueued.
A fixed-IP pod whose PodENI is Unbind reuses its ENIs (→ Binding) and creates nothing.
"""

from __future__ import annotations

import json
from typing import Any

from podnet.domain.models import NODE_LABEL, POD_NETWORKS, POD_UID, NodeFacts
from podnet.domain.release import is_fixed
from podnet.domain.tokens import eni_client_token
from podnet.domain.vswitch import NoVSwitchAvailable, select_vswitch
from podnet.errors import IP_EXHAUSTED_CODES, CloudError, Conflict, RetryableError
from podnet.ports import PODENIS, PODS
from podnet.steps.context import StepContext
from podnet.steps.messages import Envelope, pod_envelope
from podnet.steps.objects import (
    ATTEMPT_ANNOTATION,
    EXHAUSTED_KEY,
    NETWORK_KEY,
    ROLLBACK_ANNOTATION,
    allocations,
    annotations,
    attempt_of,
    is_deleting,
    meta,
    new_podeni,
    phase_of,
    pod_finished,
    pod_uid,
    podeni_owner_uid,
    rollback_pending,
    wants_networks,
)

ENI_DESCRIPTION = "interface created by podnet"
OWNER_TAGS = ("ack.aliyun.com", "creator")
CREATOR = "podnet"


def owner_tags(cluster_id: str, pod: dict[str, Any], interface: str) -> dict[str, str]:
    """The tags every ENI we create carries: cluster ownership (Terway's keys) plus the pod it serves."""
    md = pod["metadata"]
    return {
        "ack.aliyun.com": cluster_id,
        "creator": CREATOR,
        "podnet/pod": f"{md.get('namespace') or 'default'}/{md['name']}",
        "podnet/pod-uid": md.get("uid", ""),
        "podnet/interface": interface,
    }


def trunk_option(eni_type: str) -> bool | None:
    """attachmentOptions.trunk: Trunk → true, ENI → false, Default → unset (the cluster decides at bind)."""
    return {"Trunk": True, "ENI": False}.get(eni_type)


def load_snapshot(ctx: StepContext, pod: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """The pod's resolved network configuration: the admission snapshot, else resolved and validated now.

    Pods admitted while the webhook was down (failurePolicy Ignore) have no snapshot; they are checked
    here against the live PodNetworkings, and an invalid one is refused with its reasons.
    """
    raw = annotations(pod).get(POD_NETWORKS)
    if raw:
        try:
            nets = json.loads(raw)["podNetworks"]
            if isinstance(nets, list) and nets and all(isinstance(n, dict) and n.get("interface") for n in nets):
                return nets, []
        except (ValueError, KeyError, TypeError):
            pass
    from podnet.admission import validate_before_allocate  # imported here: only the fallback needs it

    snapshot, findings = validate_before_allocate(pod, ctx.kube, platform=ctx.settings.platform)
    errors = [f for f in findings if f.severity == "error"]
    if errors or snapshot is None:
        return None, [f"{f.field}: {f.message} ({f.code})" for f in errors] or ["no network configuration"]
    return snapshot.to_k8s()["podNetworks"], []


class _Parked(Exception):
    """No IP for the pod right now: reported on the pod; the sweep tries again every period.

    Not a retry chain per message: a pod waiting for IPs is a state, not a failing message, and the
    periodic sweep re-drives every scheduled pod that has no bound PodENI.
    """


def allocate(ctx: StepContext, env: Envelope) -> None:
    """Allocate (or reuse) the ENIs of one pod, then hand it to the bind step."""
    pod = ctx.kube.get(PODS, env.name, env.namespace)
    if pod is None or pod_finished(pod):
        ctx.outbox.send(env.next("release", "DELETED"))
        return
    if is_deleting(pod) or not wants_networks(pod):
        return
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        return  # not scheduled yet: the scheduling event brings us back

    networks, problems = load_snapshot(ctx, pod)
    if networks is None:
        ctx.event(pod, "Warning", "PodCreateFailed", "invalid network configuration: " + "; ".join(problems))
        return  # permanent: nothing is allocated for an invalid pod

    facts = ctx.node_facts(pod, "PodCreateFailed")

    podeni = ctx.kube.get(PODENIS, env.name, env.namespace)
    try:
        if podeni is not None:
            if not _resume_existing(ctx, env, pod, podeni, facts):
                return
        else:
            podeni = _create_intent(ctx, pod, networks, facts)
        _create_enis(ctx, pod, podeni)
    except _Parked:
        return
    ctx.outbox.send(env.next("bind"))


def _resume_existing(ctx: StepContext, env: Envelope, pod: dict, podeni: dict, facts: NodeFacts) -> bool:
    """Decide what an existing PodENI means for this pod; True when ENI creation should continue."""
    if is_deleting(podeni):
        raise RetryableError(f"PodENI {env.key} of an earlier pod is being released", delay_s=2)
    phase = phase_of(podeni)
    fixed = is_fixed(a.get("allocationType") or {} for a in allocations(podeni))
    same_pod = podeni_owner_uid(podeni) == pod_uid(pod)
    if phase in ("Detaching", "Deleting"):
        raise RetryableError(f"PodENI {env.key} is {phase}", delay_s=2)
    if phase == "Unbind" and fixed:
        _rebind(ctx, pod, podeni, facts)
        return False
    if not same_pod:
        # An earlier pod of the same name still holds the PodENI (e.g. its node failed).
        # Fixed: detach so this pod can take the same ENIs; Elastic: release them first.
        _set_phase(ctx, podeni, "Detaching" if fixed else "Deleting")
        ctx.outbox.send(env.next("release", "SYNC"))
        raise RetryableError(f"PodENI {env.key} belongs to an earlier pod; releasing it first", delay_s=2)
    if phase == "Bind":
        return False  # done; a duplicate message
    if phase == "Binding":
        ctx.outbox.send(env.next("bind"))
        return False
    return True  # Initial: finish what an earlier run started


def _set_phase(ctx: StepContext, podeni: dict, phase: str, **status: Any) -> dict:
    podeni.setdefault("status", {})["phase"] = phase
    podeni["status"].update(status)
    try:
        return ctx.kube.replace(PODENIS, podeni, subresource="status")
    except Conflict:
        raise RetryableError("PodENI changed while updating its phase", delay_s=0) from None


def _rebind(ctx: StepContext, pod: dict, podeni: dict, facts: NodeFacts) -> None:
    """Unbind → Binding: the same-name pod is back; give it the same ENIs (same IPs and MACs)."""
    key = f"{podeni['metadata']['namespace']}/{podeni['metadata']['name']}"
    zone = (podeni.get("spec") or {}).get("zone")
    if zone and zone != facts.zone:
        ctx.event(
            pod,
            "Warning",
            "PodCreateFailed",
            f"fixed IP of {key} lives in zone {zone} but node {facts.name} is in zone {facts.zone} (ZoneMismatch)",
        )
        return
    md = meta(podeni)
    ann = md.setdefault("annotations", {})
    labels = md.setdefault("labels", {})
    if ann.get(POD_UID) != pod_uid(pod) or labels.get(NODE_LABEL) != facts.name:
        ann[POD_UID] = pod_uid(pod)
        labels[NODE_LABEL] = facts.name
        try:
            podeni = ctx.kube.replace(PODENIS, podeni)
        except Conflict:
            raise RetryableError(f"PodENI {key} changed during rebind", delay_s=0) from None
    _set_phase(ctx, podeni, "Binding", instanceID=facts.instance_id, trunkENIID=facts.trunk_eni_id or "")
    ctx.outbox.send(pod_envelope("bind", pod))


def _create_intent(ctx: StepContext, pod: dict, networks: list[dict], facts: NodeFacts) -> dict:
    """Choose a vSwitch per interface and record the intent as a new PodENI (phase Initial)."""
    ids = list(dict.fromkeys(v for n in networks for v in n.get("vSwitchOptions") or []))
    infos = {v.id: v for v in ctx.cloud.describe_vswitches(ids)}
    allocs: list[dict[str, Any]] = []
    uid = pod_uid(pod)
    try:
        for net in networks:
            iface = net["interface"]
            policy = (net.get("vSwitchSelectOptions") or {}).get("vSwitchSelectionPolicy") or "ordered"
            choice = select_vswitch(
                net.get("vSwitchOptions") or [], policy, infos, zone=facts.zone, seed=f"{uid}/{iface}/0"
            )
            allocs.append(_allocation(net, choice.vswitch_id, infos[choice.vswitch_id].cidr, facts.zone))
    except NoVSwitchAvailable as e:
        ctx.event(pod, "Warning", "PodCreateFailed", f"{e} (NoAvailableVSwitch)")
        raise _Parked() from e
    podeni = new_podeni(pod, facts.name, facts.zone, allocs)
    try:
        return ctx.kube.create(PODENIS, podeni)
    except Conflict:
        raise RetryableError("PodENI created concurrently; re-reading", delay_s=0) from None


def _allocation(net: dict, vswitch_id: str, cidr: str, zone: str, exhausted: list[str] | None = None) -> dict:
    eni_type = (net.get("eniOptions") or {}).get("eniType") or "Default"
    attachment: dict[str, Any] = {}
    trunk = trunk_option(eni_type)
    if trunk is not None:
        attachment["trunk"] = trunk
    extra = {NETWORK_KEY: net.get("network", "")}
    if exhausted:
        extra[EXHAUSTED_KEY] = ",".join(exhausted)
    return {
        "eni": {
            "id": "",
            "mac": "",
            "zone": zone,
            "vSwitchID": vswitch_id,
            "securityGroupIDs": list(net.get("securityGroupIDs") or []),
            "attachmentOptions": attachment,
        },
        "ipv4": "",
        "ipv4CIDR": cidr,
        "interface": net["interface"],
        "defaultRoute": bool(net.get("defaultRoute")),
        "extraRoutes": list(net.get("extraRoutes") or []),
        "allocationType": dict(net.get("allocationType") or {"type": "Elastic"}),
        "extraConfig": extra,
    }


def _create_enis(ctx: StepContext, pod: dict, podeni: dict) -> None:
    """Create the ENIs the intent still lacks, recording each one as soon as it exists."""
    podeni = _finish_rollback(ctx, podeni)
    key = f"{podeni['metadata']['namespace']}/{podeni['metadata']['name']}"
    attempt = attempt_of(podeni)
    owner = podeni_owner_uid(podeni)
    created: list[str] = []
    for i in range(len(allocations(podeni))):
        alloc = allocations(podeni)[i]  # re-read: each recorded ENI replaces ``podeni``
        eni = alloc["eni"]
        if eni.get("id"):
            continue
        atype = alloc.get("allocationType") or {}
        try:
            info = ctx.cloud.create_network_interface(
                vswitch_id=eni["vSwitchID"],
                security_group_ids=eni.get("securityGroupIDs") or [],
                client_token=eni_client_token(ctx.settings.cluster_id, owner, alloc["interface"], attempt, eni["vSwitchID"]),
                tags=owner_tags(ctx.settings.cluster_id, pod, alloc["interface"]),
                delete_on_release=atype.get("type", "Elastic") != "Fixed",
                description=ENI_DESCRIPTION,
            )
        except CloudError as e:
            if e.code in IP_EXHAUSTED_CODES:
                _switch_vswitch(ctx, pod, podeni, i)  # raises Retryable to come back with the next vSwitch
            ctx.event(pod, "Warning", "CreateENIFailed", f"interface {alloc['interface']}: {e}")
            _rollback(ctx, podeni, reason=str(e))
            raise RetryableError(f"pod {key}: CreateNetworkInterface failed: {e}", delay_s=10, code=e.code) from e
        eni.update(id=info.id, mac=info.mac, zone=info.zone or eni.get("zone", ""))
        alloc["ipv4"] = info.ip
        try:
            podeni = ctx.kube.replace(PODENIS, podeni)
        except Conflict:
            # Someone else moved the PodENI; the ClientToken makes our create replay to the same ENI.
            raise RetryableError(f"PodENI {key} changed while recording {info.id}", delay_s=0) from None
        created.append(info.id)
    if created:
        ctx.event(pod, "Normal", "CreateENISucceed", f"create enis {','.join(created)}")


def _switch_vswitch(ctx: StepContext, pod: dict, podeni: dict, index: int) -> None:
    """The chosen vSwitch is out of IPs: remember that and pick the next one in the zone."""
    alloc = allocations(podeni)[index]
    extra = alloc.setdefault("extraConfig", {})
    exhausted = [v for v in (extra.get(EXHAUSTED_KEY) or "").split(",") if v]
    exhausted.append(alloc["eni"]["vSwitchID"])
    net_name = extra.get(NETWORK_KEY, "")
    networks, _ = load_snapshot(ctx, pod)
    net = next((n for n in networks or [] if n.get("interface") == alloc["interface"]), None)
    options = (net or {}).get("vSwitchOptions") or [alloc["eni"]["vSwitchID"]]
    policy = ((net or {}).get("vSwitchSelectOptions") or {}).get("vSwitchSelectionPolicy") or "ordered"
    zone = (podeni.get("spec") or {}).get("zone", "")
    infos = {v.id: v for v in ctx.cloud.describe_vswitches(list(options))}
    try:
        choice = select_vswitch(
            options, policy, infos, zone=zone, exhausted=exhausted, seed=f"{podeni_owner_uid(podeni)}/{alloc['interface']}/{len(exhausted)}"
        )
    except NoVSwitchAvailable as e:
        ctx.event(pod, "Warning", "PodCreateFailed", f"interface {alloc['interface']} (network {net_name}): {e} (NoAvailableVSwitch)")
        _rollback(ctx, podeni, reason=str(e))
        raise _Parked() from e
    alloc["eni"]["vSwitchID"] = choice.vswitch_id
    alloc["ipv4CIDR"] = infos[choice.vswitch_id].cidr
    extra[EXHAUSTED_KEY] = ",".join(exhausted)
    try:
        ctx.kube.replace(PODENIS, podeni)
    except Conflict:
        pass
    raise RetryableError(f"vSwitch {exhausted[-1]} has no IP left; trying {choice.vswitch_id}", delay_s=0)


def _rollback(ctx: StepContext, podeni: dict, reason: str) -> None:
    """Undo a partial multi-interface allocation: forget the attempt first, then delete its ENIs.

    The attempt number is bumped (so no later create replays a deleted ENI's token) and the ENIs to
    delete are written down in the same update, so a crash in between loses nothing.
    """
    doomed = sorted(set(rollback_pending(podeni)) | {a["eni"]["id"] for a in allocations(podeni) if a["eni"].get("id")})
    ann = meta(podeni).setdefault("annotations", {})
    ann[ATTEMPT_ANNOTATION] = str(attempt_of(podeni) + 1)
    if doomed:
        ann[ROLLBACK_ANNOTATION] = json.dumps(doomed)
    for a in allocations(podeni):
        a["eni"].update(id="", mac="")
        a["ipv4"] = ""
        (a.get("extraConfig") or {}).pop(EXHAUSTED_KEY, None)  # a new attempt looks at every vSwitch afresh
    try:
        podeni = ctx.kube.replace(PODENIS, podeni)
    except Conflict:
        raise RetryableError("PodENI changed during rollback", delay_s=0) from None
    _finish_rollback(ctx, podeni)


def _finish_rollback(ctx: StepContext, podeni: dict) -> dict:
    """Delete the ENIs a rollback wrote down, then clear the note."""
    doomed = rollback_pending(podeni)
    if not doomed:
        return podeni
    for eni_id in doomed:
        ctx.cloud.delete_network_interface(eni_id)
    ctx.event(podeni, "Normal", "DeleteENISucceed", f"rolled back enis {','.join(doomed)}")
    meta(podeni).get("annotations", {}).pop(ROLLBACK_ANNOTATION, None)
    try:
        return ctx.kube.replace(PODENIS, podeni)
    except Conflict:
        raise RetryableError("PodENI changed after rollback", delay_s=0) from None
