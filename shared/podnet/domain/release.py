"""Release decisions and TTL arithmetic (pure): when a PodENI's ENIs go back to the cloud.

Rules (spec §3 step 5, Terway §3.9): Elastic → delete as soon as the pod is gone; Fixed → keep the
ENIs (Unbind) while the pod is away; Fixed+TTL → delete once ``podLastSeen + releaseAfter`` has
passed, never earlier; Fixed+Never → keep until a user deletes the PodENI. Any allocation that
keeps the ENIs keeps them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from podnet.domain.duration import parse_go_duration


class ReleaseAction(str, Enum):
    """What to do with a PodENI whose pod is gone."""

    KEEP = "keep"  # Never, or a TTL that has not run out yet
    DETACH = "detach"  # fixed IP: Detaching → Unbind, ENIs kept
    DELETE = "delete"  # Deleting → detach + delete ENIs → PodENI removed


@dataclass(frozen=True)
class ReleaseDecision:
    """The action and, for a running TTL, when to look again."""

    action: ReleaseAction
    due_at: datetime | None = None
    reason: str = ""


def is_fixed(allocation_types: Iterable[Mapping[str, Any]]) -> bool:
    """A PodENI holds fixed IPs when any allocation is Fixed."""
    return any((a or {}).get("type") == "Fixed" for a in allocation_types)


def ttl_due_at(allocation_types: Iterable[Mapping[str, Any]], pod_last_seen: datetime | None) -> datetime | None:
    """When every Fixed+TTL allocation has expired, or None when some allocation keeps the IPs forever.

    A Fixed allocation with ``Never``, no strategy, or an unparsable/negative releaseAfter keeps the
    ENIs (Terway logs and keeps; we do the same rather than release on bad data).
    """
    due: datetime | None = None
    for at in allocation_types:
        at = at or {}
        if at.get("type") != "Fixed":
            continue
        if at.get("releaseStrategy") != "TTL":
            return None
        try:
            after = parse_go_duration(str(at.get("releaseAfter", "")))
        except ValueError:
            return None
        if after < timedelta(0) or pod_last_seen is None:
            return None
        candidate = pod_last_seen + after
        due = candidate if due is None or candidate > due else due
    return due


def decide_release(
    allocation_types: list[Mapping[str, Any]],
    *,
    phase: str,
    pod_last_seen: datetime | None,
    now: datetime,
    user_deleted: bool = False,
) -> ReleaseDecision:
    """Decide what happens to a PodENI whose pod is gone (or finished)."""
    if user_deleted or phase == "Deleting":
        return ReleaseDecision(ReleaseAction.DELETE, reason="PodENI deleted")
    if not is_fixed(allocation_types):
        return ReleaseDecision(ReleaseAction.DELETE, reason="Elastic allocation, pod gone")
    if phase != "Unbind":
        return ReleaseDecision(ReleaseAction.DETACH, reason="fixed IP kept while the pod is away")
    due = ttl_due_at(allocation_types, pod_last_seen)
    if due is None:
        return ReleaseDecision(ReleaseAction.KEEP, reason="releaseStrategy Never keeps the IP")
    if now >= due:
        return ReleaseDecision(ReleaseAction.DELETE, due_at=due, reason="TTL expired")
    return ReleaseDecision(ReleaseAction.KEEP, due_at=due, reason="TTL running")
