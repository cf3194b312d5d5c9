"""Step: reconcile a PodNetworking's status (spec §3 step 2).

Valid spec + every vSwitch found → ``status: Ready`` with ``vSwitches[{id, zone}]``; otherwise
``Fail`` with a message (and a retry later when the cause may pass, e.g. a vSwitch not found yet).
"""

from __future__ import annotations

from typing import Any

from podnet.domain.models import format_k8s_time
from podnet.domain.validation import validate_pod_networking
from podnet.errors import Conflict, RetryableError
from podnet.ports import PODNETWORKINGS
from podnet.steps.context import StepContext
from podnet.steps.messages import Envelope

RETRY_FAILED_AFTER_S = 30.0  # Terway requeues a failed sync after 30s


def desired_status(spec: dict[str, Any], found: dict[str, Any], errors: list[str], now: str) -> dict[str, Any]:
    """The status a PodNetworking should have, from its spec and what the cloud said (pure)."""
    if errors:
        return {
            "status": "Fail",
            "vSwitches": [],
            "updateAt": now,
            "message": "; ".join(errors),
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "SyncFailed", "message": "; ".join(errors),
                 "lastTransitionTime": now}
            ],
        }
    vswitches = [
        {"id": v, "zone": found[v].zone, "freeIPs": found[v].available_ips}
        for v in dict.fromkeys(spec.get("vSwitchOptions") or [])
    ]
    return {
        "status": "Ready",
        "vSwitches": vswitches,
        "updateAt": now,
        "message": "",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "VSwitchesResolved", "message": "", "lastTransitionTime": now}
        ],
    }


def _same(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Equal but for timestamps and free-IP counts, so a no-op reconcile writes nothing."""
    if not current:
        return False

    def strip(s: dict[str, Any]) -> tuple:
        return (
            s.get("status"),
            tuple((v.get("id"), v.get("zone")) for v in s.get("vSwitches") or []),
            s.get("message") or "",
        )

    return strip(current) == strip(desired)


def reconcile_status(ctx: StepContext, env: Envelope) -> None:
    """Bring one PodNetworking's status up to date."""
    for _ in range(5):  # resourceVersion conflicts: re-read and decide again
        obj = ctx.kube.get(PODNETWORKINGS, env.name)
        if obj is None:
            return  # deleted: nothing to do (pods keep their snapshot)
        spec = obj.get("spec") or {}
        findings = [f for f in validate_pod_networking(obj, platform=ctx.settings.platform) if f.severity == "error"]
        errors = [f"{f.field}: {f.message} ({f.code})" for f in findings]
        found: dict[str, Any] = {}
        retry = False
        current = obj.get("status") or {}
        if not errors and current.get("status") == "Ready" and {v.get("id") for v in current.get("vSwitches") or []} == set(
            spec.get("vSwitchOptions") or []
        ):
            return  # Ready for this vSwitch set (Terway's rule): nothing to look up again
        if not errors:
            ids = list(dict.fromkeys(spec.get("vSwitchOptions") or []))
            found = {v.id: v for v in ctx.cloud.describe_vswitches(ids)}
            missing = [v for v in ids if v not in found]
            if missing:
                errors = [f"spec.vSwitchOptions: vSwitch {v} not found (VSwitchNotFound)" for v in missing]
                retry = True
        now = format_k8s_time(ctx.clock.now())
        desired = desired_status(spec, found, errors, now)
        if _same(current, desired):
            break
        obj["status"] = desired
        try:
            ctx.kube.replace(PODNETWORKINGS, obj, subresource="status")
        except Conflict:
            continue
        if errors:
            ctx.event(obj, "Warning", "SyncPodNetworkingFailed", desired["message"])
        else:
            zones = sorted({v["zone"] for v in desired["vSwitches"]})
            ctx.event(obj, "Normal", "SyncPodNetworkingSucceed", f"Synced: zones {', '.join(zones)}")
        break
    else:
        raise RetryableError(f"PodNetworking {env.name}: status kept conflicting", delay_s=1)
    if retry:
        raise RetryableError(f"PodNetworking {env.name}: vSwitch not found yet", delay_s=RETRY_FAILED_AFTER_S)
