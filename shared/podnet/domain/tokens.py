"""Idempotency keys derived from durable intent (pure).

ECS ClientToken: ASCII, at most 64 characters. Derived from (cluster, pod uid, interface, allocation
attempt, vSwitch) so a replayed create returns the same ENI, while a rolled-back attempt (the attempt
number recorded on the PodENI is bumped) can never replay a deleted ENI. The vSwitch is part of the
key because switching to the next vSwitch after IpNotEnough is a different request.
"""

from __future__ import annotations

import hashlib


def eni_client_token(cluster_id: str, pod_uid: str, interface: str, attempt: int, vswitch_id: str) -> str:
    """The ClientToken for one interface's CreateNetworkInterface."""
    raw = "\x1f".join((cluster_id, pod_uid, interface, str(attempt), vswitch_id))
    return "podnet-" + hashlib.sha256(raw.encode()).hexdigest()[:48]
