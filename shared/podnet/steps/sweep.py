"""Step: the timer sweep (spec §3 step 5) — the safety net under the event-driven steps.

Each run: enqueue releases that are due (TTL expired, pod gone, PodENI deleted by a user) and
allocations that were missed, re-sync PodNetworkings that are not Ready, and collect leaked ENIs:
tagged ours, referenced by no PodENI, older than a grace period, and seen in two sweeps (the
candidates are remembered in a ConfigMap, not in function memory).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from podnet.domain.release import ttl_due_at
from podnet.errors import CloudError, Conflict, NotFound
from podnet.ports import CONFIGMAPS, PODENIS, PODNETWORKINGS, PODS
from podnet.steps.context import StepContext
from podnet.steps.messages import Envelope, pod_envelope, podnetworking_envelope
from podnet.steps.objects import (
    allocation_types,
    allocations,
    eni_ids,
    fmt_time,
    is_deleting,
    key_of,
    parse_time,
    phase_of,
    pod_finished,
    pod_uid,
    podeni_owner_uid,
    rollback_pending,
    wants_networks,
)

GC_STATE_NAME = "podnet-gc-state"


def sweep(ctx: StepContext, env: Envelope | None = None) -> dict[str, int]:
    """Run one sweep; returns counts of what it found (for logs and the local runner)."""
    now = ctx.clock.now()
    podenis, _ = ctx.kube.list(PODENIS)
    pods = {key_of(p): p for p in ctx.kube.list(PODS)[0]}
    counts = {"release": 0, "allocate": 0, "reconcile": 0, "leakedDetached": 0, "leakedDeleted": 0}
    out: list[Envelope] = []  # sent together at the end: one batch call per 16 instead of one call each

    for pe in podenis:
        key = key_of(pe)
        pod = pods.get(key)
        live = pod is not None and not pod_finished(pod) and pod_uid(pod) == podeni_owner_uid(pe)
        phase = phase_of(pe)
        due = False
        if is_deleting(pe) or phase in ("Detaching", "Deleting"):
            due = True
        elif phase == "Unbind":
            at = ttl_due_at(allocation_types(pe), parse_time((pe.get("status") or {}).get("podLastSeen")))
            due = at is not None and at <= now
        elif not live and not (phase == "Binding" and pod is not None):
            due = True
        if due:
            counts["release"] += 1
            out.append(pod_envelope("release", pe, "TIMER"))

    bound = {key_of(pe) for pe in podenis if phase_of(pe) == "Bind" and not is_deleting(pe)}
    for key, pod in pods.items():
        spec = pod.get("spec") or {}
        terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        if wants_networks(pod) and spec.get("nodeName") and not pod_finished(pod) and not terminating and key not in bound:
            counts["allocate"] += 1
            out.append(pod_envelope("allocate", pod, "TIMER"))

    for pn in ctx.kube.list(PODNETWORKINGS)[0]:
        if (pn.get("status") or {}).get("status") != "Ready":
            counts["reconcile"] += 1
            out.append(podnetworking_envelope(pn, "TIMER"))
    if out:
        ctx.outbox.send_many(out)

    detached, deleted = collect_leaked_enis(ctx, podenis, now)
    counts["leakedDetached"], counts["leakedDeleted"] = detached, deleted
    return counts


def collect_leaked_enis(ctx: StepContext, podenis: list[dict[str, Any]], now: datetime) -> tuple[int, int]:
    """Detach/delete ENIs that are ours but nobody's; returns (detached, deleted)."""
    referenced = {i for pe in podenis for i in eni_ids(pe)} | {i for pe in podenis for i in rollback_pending(pe)}
    # A PodENI still creating its ENIs will adopt one whose record was lost to a crash: leave those alone.
    in_progress = {podeni_owner_uid(pe) for pe in podenis if any(not a["eni"].get("id") for a in allocations(pe))}
    grace = timedelta(seconds=ctx.settings.gc_grace_s)
    tags = {"ack.aliyun.com": ctx.settings.cluster_id, "creator": "podnet"}
    candidates = {
        e.id: e
        for e in ctx.cloud.describe_network_interfaces(tags=tags)
        if e.id not in referenced
        and e.type != "Trunk"
        and (e.created_at is None or e.created_at <= now - grace)
        and e.tags.get("podnet/pod-uid") not in in_progress
    }
    state, cm = _load_gc_state(ctx)
    detached = deleted = 0
    remaining: dict[str, str] = {}
    for eni_id, eni in candidates.items():
        if eni_id not in state:
            remaining[eni_id] = fmt_time(now)  # first sighting: act on the next sweep
            continue
        try:
            if eni.status == "InUse":
                ctx.cloud.detach_network_interface(eni_id, eni.instance_id, eni.trunk_eni_id or None)
                detached += 1
                remaining[eni_id] = state[eni_id]
            elif eni.status == "Available":
                ctx.cloud.delete_network_interface(eni_id)
                deleted += 1
            else:
                remaining[eni_id] = state[eni_id]
        except CloudError:
            remaining[eni_id] = state[eni_id]
    if remaining != state:
        _save_gc_state(ctx, cm, remaining)
    return detached, deleted


def _load_gc_state(ctx: StepContext) -> tuple[dict[str, str], dict[str, Any] | None]:
    cm = ctx.kube.get(CONFIGMAPS, GC_STATE_NAME, ctx.settings.system_namespace)
    if cm is None:
        return {}, None
    try:
        data = json.loads((cm.get("data") or {}).get("candidates", "{}"))
        return ({k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}), cm
    except ValueError:
        return {}, cm


def _save_gc_state(ctx: StepContext, cm: dict[str, Any] | None, state: dict[str, str]) -> None:
    body = {"candidates": json.dumps(state, sort_keys=True)}
    try:
        if cm is None:
            ctx.kube.create(
                CONFIGMAPS,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": GC_STATE_NAME, "namespace": ctx.settings.system_namespace},
                    "data": body,
                },
            )
        else:
            cm["data"] = body
            ctx.kube.replace(CONFIGMAPS, cm)
    except (Conflict, NotFound):
        pass  # another sweep wrote it; the next sweep sees the candidates again
