"""Which step a watched object change should wake (pure). Used by the watch-forwarder."""

from __future__ import annotations

from typing import Any

from podnet.steps.messages import Envelope, EventType, pod_envelope, podnetworking_envelope
from podnet.steps.objects import is_deleting, phase_of, pod_finished, wants_networks


def route_event(kind: str, event_type: str, obj: dict[str, Any]) -> list[Envelope]:
    """The messages one watch event (ADDED/MODIFIED/DELETED, or SYNC from a relist) turns into."""
    et: EventType = event_type if event_type in ("ADDED", "MODIFIED", "DELETED", "SYNC") else "SYNC"  # type: ignore[assignment]
    if kind == "PodNetworking":
        if event_type == "DELETED":
            return []  # pods keep their snapshot; nothing to clean up
        return [podnetworking_envelope(obj, et)]
    if kind == "Pod":
        if not wants_networks(obj):
            return []
        if event_type == "DELETED" or pod_finished(obj):
            return [pod_envelope("release", obj, et)]
        if is_deleting(obj):
            return []  # still terminating: its DELETED event releases
        if (obj.get("spec") or {}).get("nodeName"):
            return [pod_envelope("allocate", obj, et)]
        return []
    if kind == "PodENI":
        # Only a user's delete (deletionTimestamp) needs us; our own writes are already handled.
        if event_type != "DELETED" and is_deleting(obj) and phase_of(obj) != "Deleting":
            return [pod_envelope("release", obj, et)]
        return []
    return []
