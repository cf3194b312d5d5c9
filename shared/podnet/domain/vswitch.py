"""vSwitch selection (pure): which of a network's vSwitches an interface gets, by policy.

Mirrors Terway's ``SwitchPool.GetOne``: only vSwitches in the node's zone, none known to be out of
IPs, ordered by the policy (``ordered`` keeps the user's order, ``most`` prefers the most free IPs,
``random`` shuffles). Random is seeded by the caller (pod uid, interface, attempt) so a replayed
step picks the same vSwitch.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from podnet.errors import PermanentError
from podnet.ports import VSwitchInfo


class NoVSwitchAvailable(PermanentError):
    """No vSwitch of the network can serve an interface in this zone."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message, code="NoAvailableVSwitch")
        self.reasons = reasons


@dataclass(frozen=True)
class VSwitchChoice:
    """The chosen vSwitch and the candidates behind it, in preference order."""

    vswitch_id: str
    zone: str
    candidates: tuple[str, ...]


def order_vswitches(
    options: Sequence[str],
    policy: str,
    infos: Mapping[str, VSwitchInfo],
    *,
    zone: str,
    exhausted: Collection[str] = (),
    seed: str = "",
) -> tuple[list[str], list[str]]:
    """Return (eligible vSwitch ids in preference order, reasons the others were skipped)."""
    ids = list(dict.fromkeys(options))  # keep order, drop repeats
    if policy == "random":
        random.Random(seed).shuffle(ids)
    elif policy == "most":
        # stable sort: equal counts keep the user's order
        ids.sort(key=lambda i: -(infos[i].available_ips if i in infos else -1))
    eligible: list[str] = []
    skipped: list[str] = []
    for vsw in ids:
        info = infos.get(vsw)
        if info is None:
            skipped.append(f"{vsw}: not found")
        elif info.zone != zone:
            skipped.append(f"{vsw}: in zone {info.zone}, not {zone}")
        elif vsw in exhausted or info.available_ips <= 0:
            skipped.append(f"{vsw}: no IP left")
        else:
            eligible.append(vsw)
    return eligible, skipped


def select_vswitch(
    options: Sequence[str],
    policy: str,
    infos: Mapping[str, VSwitchInfo],
    *,
    zone: str,
    exhausted: Collection[str] = (),
    seed: str = "",
) -> VSwitchChoice:
    """Pick the vSwitch for one interface, or raise NoVSwitchAvailable naming every reason."""
    eligible, skipped = order_vswitches(options, policy, infos, zone=zone, exhausted=exhausted, seed=seed)
    if not eligible:
        raise NoVSwitchAvailable(
            f"no available vSwitch for zone {zone} among [{', '.join(options)}]: " + "; ".join(skipped),
            skipped,
        )
    return VSwitchChoice(eligible[0], zone, tuple(eligible))
