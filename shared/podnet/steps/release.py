"""Step: release a pod's ENIs (spec §3 step 5).

Elastic pod gone → Deleting → detach + DeleteNetworkInterface → PodENI removed.
Fixed pod gone → Detaching → detach → Unbind with ``podLastSeen`` (ENIs and IPs kept), and for TTL a
delayed release message due at ``podLastSeen + releaseAfter`` (the sweep is only the safety net).
A user deleting the PodENI (Never) releases its ENIs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podnet.domain.models import PODENI_FINALIZER
from podnet.domain.release import ReleaseAction, decide_release, ttl_due_at
from podnet.errors import CloudError, Conflict, RetryableError
from podnet.ports import PODENIS, PODS
from podnet.steps.context import MAX_DELAY_S, StepContext
from podnet.steps.messages import Envelope
from podnet.steps.objects import (
    allocation_types,
    eni_ids,
    fmt_time,
    is_deleting,
    meta,
    parse_time,
    phase_of,
    pod_finished,
    pod_uid,
    podeni_owner_uid,
    rollback_pending,
)

DETACH_WAIT_S = 2.0


def release(ctx: StepContext, env: Envelope) -> None:
    """Release, keep or schedule the release of one PodENI, depending on its pod and allocation type."""
    podeni = ctx.kube.get(PODENIS, env.name, env.namespace)
    if podeni is None:
        return
    pod = ctx.kube.get(PODS, env.name, env.namespace)
    phase = phase_of(podeni)
    user_deleted = is_deleting(podeni)
    pod_live = pod is not None and not pod_finished(pod) and pod_uid(pod) == podeni_owner_uid(podeni)
    if pod_live and not user_deleted and phase not in ("Detaching", "Deleting"):
        return  # the pod is still there: a stale or duplicate message
    if phase == "Binding" and pod is not None and not pod_finished(pod) and not user_deleted:
        return  # a recreated pod is taking these ENIs over

    now = ctx.clock.now()
    decision = decide_release(
        allocation_types(podeni),
        phase=phase,
        pod_last_seen=parse_time((podeni.get("status") or {}).get("podLastSeen")),
        now=now,
        user_deleted=user_deleted,
    )
    if decision.action is ReleaseAction.KEEP:
        if decision.due_at is not None:
            _schedule_ttl(ctx, env, decision.due_at, now)
        return
    if decision.action is ReleaseAction.DETACH:
        _detach_and_unbind(ctx, env, podeni, now)
        return
    _delete(ctx, env, podeni)


def _schedule_ttl(ctx: StepContext, env: Envelope, due: datetime, now: datetime) -> None:
    """A release message that becomes visible when the TTL runs out (re-armed if longer than MNS allows)."""
    delay = max(0.0, (due - now).total_seconds())
    ctx.outbox.send(env.next("release", "TIMER"), delay_s=min(MAX_DELAY_S, delay + 1))


def _update_status(ctx: StepContext, podeni: dict, **fields: Any) -> dict:
    status = podeni.setdefault("status", {})
    if all(status.get(k) == v for k, v in fields.items()):
        return podeni
    status.update(fields)
    try:
        return ctx.kube.replace(PODENIS, podeni, subresource="status")
    except Conflict:
        raise RetryableError("PodENI changed during release", delay_s=0) from None


def _detach_all(ctx: StepContext, podeni: dict) -> bool:
    """Detach every ENI still attached; True while some are still on their way to Available."""
    ids = eni_ids(podeni)
    if not ids:
        return False
    pending = False
    for eni in ctx.cloud.describe_network_interfaces(eni_ids=ids):
        if eni.status == "Available":
            continue
        pending = True
        if eni.status == "InUse":
            try:
                ctx.cloud.detach_network_interface(eni.id, eni.instance_id, eni.trunk_eni_id or None)
            except CloudError as e:
                if e.code != "InvalidOperation.InvalidEniState":
                    ctx.event(podeni, "Warning", "DetachENIFailed", f"ENI {eni.id}: {e}")
                    raise RetryableError(f"detach {eni.id}: {e}", delay_s=5, code=e.code) from e
    return pending


def _detach_and_unbind(ctx: StepContext, env: Envelope, podeni: dict, now: datetime) -> None:
    """Fixed IP: Bind → Detaching → Unbind, keeping the ENIs for the pod's return."""
    podeni = _update_status(ctx, podeni, phase="Detaching")
    if _detach_all(ctx, podeni):
        ctx.outbox.send(env.retry(), delay_s=DETACH_WAIT_S)
        return
    eni_infos = {
        k: {**v, "status": "Unbind"} for k, v in ((podeni.get("status") or {}).get("eniInfos") or {}).items()
    }
    podeni = _update_status(
        ctx, podeni, phase="Unbind", instanceID="", trunkENIID="", podLastSeen=fmt_time(now), eniInfos=eni_infos
    )
    ctx.event(podeni, "Normal", "DetachENISucceed", f"detached enis {','.join(eni_ids(podeni))}; IPs kept for the pod's return")
    due = ttl_due_at(allocation_types(podeni), now)
    if due is not None:
        _schedule_ttl(ctx, env, due, now)


def _delete(ctx: StepContext, env: Envelope, podeni: dict) -> None:
    """Deleting → detach → DeleteNetworkInterface for each ENI → finalizer removed → PodENI gone."""
    podeni = _update_status(ctx, podeni, phase="Deleting")
    if _detach_all(ctx, podeni):
        ctx.outbox.send(env.retry(), delay_s=DETACH_WAIT_S)
        return
    ids = sorted(set(eni_ids(podeni)) | set(rollback_pending(podeni)))
    for eni_id in ids:
        try:
            ctx.cloud.delete_network_interface(eni_id)
        except CloudError as e:
            ctx.event(podeni, "Warning", "DeleteENIFailed", f"ENI {eni_id}: {e}")
            raise RetryableError(f"delete {eni_id}: {e}", delay_s=5, code=e.code) from e
    if ids:
        ctx.event(podeni, "Normal", "DeleteENISucceed", f"deleted enis {','.join(ids)}")
    md = meta(podeni)
    if PODENI_FINALIZER in (md.get("finalizers") or []):
        md["finalizers"] = [f for f in md["finalizers"] if f != PODENI_FINALIZER]
        try:
            podeni = ctx.kube.replace(PODENIS, podeni)
        except Conflict:
            raise RetryableError("PodENI changed while removing its finalizer", delay_s=0) from None
    if not is_deleting(podeni):
        ctx.kube.delete(PODENIS, env.name, env.namespace)
