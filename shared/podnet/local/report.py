"""What ``podnet local`` prints: the spec §6 JSON document, and a readable text rendering of it."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from podnet.ports import EVENTS, PODENIS, PODNETWORKINGS, PODS
from podnet.steps.objects import NETWORK_KEY

if TYPE_CHECKING:
    from podnet.local.runner import LocalSystem


def build_report(system: LocalSystem) -> dict[str, Any]:
    """The final state, exactly in the shape of spec §6 ``--output json``."""
    cb = system.cloud_backend
    enis = []
    for eni in sorted(cb.enis.values(), key=lambda e: e.seq):
        enis.append(
            {
                "id": eni.id,
                "type": eni.type,
                "status": eni.status,
                "vSwitchId": eni.vswitch_id,
                "zoneId": eni.zone,
                "privateIpAddress": eni.ip,
                "macAddress": eni.mac,
                "instanceId": eni.instance_id,
                "trunkNetworkInterfaceId": eni.trunk_eni_id,
                "deviceIndex": eni.device_index,
                "tags": dict(eni.tags),
            }
        )
    vswitches = [
        {"id": v.id, "zoneId": v.zone, "cidrBlock": v.cidr, "availableIpAddressCount": v.available_ips}
        for v in sorted(cb.vswitches.values(), key=lambda v: v.id)
        if not v.internal
    ]
    events = []
    for ev in system.list(EVENTS):
        io = ev.get("involvedObject") or {}
        events.append(
            {
                "kind": io.get("kind", ""),
                "namespace": io.get("namespace", ""),
                "name": io.get("name", ""),
                "type": ev.get("type", ""),
                "reason": ev.get("reason", ""),
                "message": ev.get("message", ""),
            }
        )
    return {
        "podNetworkings": system.list(PODNETWORKINGS),
        "pods": system.list(PODS),
        "podENIs": system.list(PODENIS),
        "enis": enis,
        "vSwitches": vswitches,
        "rejected": [
            {"kind": r.kind, "namespace": r.namespace, "name": r.name, "reasons": r.reasons} for r in system.rejected
        ],
        "events": events,
        "apiCalls": dict(sorted(cb.calls.items())),
    }


def _prefix(cidr: str) -> str:
    try:
        return f"/{ipaddress.ip_network(cidr, strict=False).prefixlen}"
    except ValueError:
        return ""


def pod_interfaces(podeni: dict[str, Any], enis_by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per interface of a PodENI: name, network, IP, vSwitch, zone, ENI, trunk/VLAN, default route."""
    allocs = (podeni.get("spec") or {}).get("allocations") or []
    infos = (podeni.get("status") or {}).get("eniInfos") or {}
    has_default = any(a.get("defaultRoute") for a in allocs)
    rows = []
    for a in sorted(allocs, key=lambda a: a.get("interface", "")):
        eni = a.get("eni") or {}
        cloud = enis_by_id.get(eni.get("id", ""), {})
        info = infos.get(eni.get("id", ""), {})
        rows.append(
            {
                "interface": a.get("interface", ""),
                "network": (a.get("extraConfig") or {}).get(NETWORK_KEY, ""),
                "ip": (a.get("ipv4") or "") + (_prefix(a.get("ipv4CIDR", "")) if a.get("ipv4") else ""),
                "vSwitch": eni.get("vSwitchID", ""),
                "zone": eni.get("zone", ""),
                "eni": eni.get("id", ""),
                "mac": eni.get("mac", ""),
                "trunk": cloud.get("trunkNetworkInterfaceId") or "",
                "vlan": info.get("vid", cloud.get("deviceIndex") if cloud.get("trunkNetworkInterfaceId") else None),
                "defaultRoute": bool(a.get("defaultRoute")) or (not has_default and a.get("interface") == "eth0"),
                "routes": [r.get("dst", "") for r in a.get("extraRoutes") or []],
            }
        )
    return rows


def render_text(report: dict[str, Any], dead_letters: list[dict[str, Any]] | None = None) -> str:
    """A readable summary of a report (and of any dead-lettered messages)."""
    lines: list[str] = []
    enis_by_id = {e["id"]: e for e in report["enis"]}
    lines.append("PodNetworkings:")
    for pn in report["podNetworkings"] or []:
        st = pn.get("status") or {}
        zones = sorted({v.get("zone", "") for v in st.get("vSwitches") or []})
        line = f"  {pn['metadata']['name']}: {st.get('status') or 'Pending'}"
        if zones:
            line += f" (zones {', '.join(zones)})"
        if st.get("message"):
            line += f" — {st['message']}"
        lines.append(line)
    if not report["podNetworkings"]:
        lines.append("  (none)")
    podenis = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in report["podENIs"]}
    lines.append("Pods:")
    for pod in report["pods"]:
        md = pod["metadata"]
        key = (md.get("namespace", ""), md["name"])
        pe = podenis.get(key)
        phase = ((pe or {}).get("status") or {}).get("phase") or ("Initial" if pe else "no PodENI")
        node = (pod.get("spec") or {}).get("nodeName") or "unscheduled"
        lines.append(f"  {key[0]}/{key[1]} on {node}: {phase}")
        for row in pod_interfaces(pe, enis_by_id) if pe else []:
            attach = f"trunk {row['trunk']} vlan {row['vlan']}" if row["trunk"] else "exclusive ENI"
            extra = " default-route" if row["defaultRoute"] else ""
            if row["routes"]:
                extra += f" routes {','.join(row['routes'])}"
            lines.append(
                f"    {row['interface']}: network {row['network']} ip {row['ip'] or '-'} vSwitch {row['vSwitch']} "
                f"zone {row['zone']} eni {row['eni'] or '-'} {attach}{extra}"
            )
    orphans = [k for k in podenis if k not in {(p["metadata"].get("namespace", ""), p["metadata"]["name"]) for p in report["pods"]}]
    for ns, name in orphans:
        pe = podenis[(ns, name)]
        st = pe.get("status") or {}
        lines.append(f"  {ns}/{name} (pod gone): PodENI {st.get('phase') or 'Initial'}"
                     + (f", last seen {st['podLastSeen']}" if st.get("podLastSeen") else ""))
        for row in pod_interfaces(pe, enis_by_id):
            lines.append(f"    {row['interface']}: network {row['network']} ip {row['ip'] or '-'} eni {row['eni']} (kept)")
    if report["rejected"]:
        lines.append("Rejected:")
        for r in report["rejected"]:
            name = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]
            for reason in r["reasons"]:
                lines.append(f"  {r['kind']} {name}: {reason['field']}: {reason['message']} ({reason['code']})")
    warnings = [e for e in report["events"] if e["type"] == "Warning"]
    if warnings:
        lines.append("Warnings:")
        for e in warnings:
            lines.append(f"  {e['kind']} {e['namespace'] + '/' if e['namespace'] else ''}{e['name']}: {e['reason']}: {e['message']}")
    lines.append("Cloud:")
    members = [e for e in report["enis"] if e["type"] != "Trunk"]
    lines.append(f"  ENIs: {len(members)} pod ENIs, {len(report['enis']) - len(members)} trunk ENIs")
    for v in report["vSwitches"]:
        lines.append(f"  vSwitch {v['id']} ({v['zoneId']}, {v['cidrBlock']}): {v['availableIpAddressCount']} IPs free")
    calls = ", ".join(f"{k} {v}" for k, v in report["apiCalls"].items())
    lines.append(f"  API calls: {calls or 'none'}")
    if dead_letters:
        lines.append(f"Dead letters: {len(dead_letters)}")
        for d in dead_letters:
            lines.append(f"  {d.get('reason', '')[:300]}")
    return "\n".join(lines) + "\n"
