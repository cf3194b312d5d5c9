"""The Scenario input of ``podnet local`` (spec §6), and how plain manifests become one.

Plain manifests get an invented cloud: a vSwitch listed in a PodNetworking's ``status.vSwitches``
(as copied from a real cluster) keeps that zone; otherwise each PodNetworking's n-th vSwitch lives in
the region's n-th zone (so the networks of one pod share zones, as a real deployment would). Every
vSwitch gets its own /24, and there is one trunk-enabled node per zone.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from podnet.domain.duration import parse_go_duration
from podnet.manifests import ManifestError, load_file

ZONE_SUFFIXES = "ghijkbcdef"


class ScenarioError(ValueError):
    """The input is not a valid Scenario (names the field)."""


class VSwitchSpec(BaseModel):
    """One simulated vSwitch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str
    zone: str
    cidr: str
    available_ips: int | None = Field(default=None, alias="availableIPs", ge=0)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        ipaddress.ip_network(v, strict=False)
        return v


class CloudSpec(BaseModel):
    """The simulated region and its vSwitches."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    region: str = "cn-hangzhou"
    v_switches: list[VSwitchSpec] = Field(default_factory=list, alias="vSwitches")


class NodeSpec(BaseModel):
    """One simulated node: the simulator creates its instance and, with trunk, its trunk ENI."""

    model_config = ConfigDict(extra="forbid")
    name: str
    zone: str
    trunk: bool = True


class ApplyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str


class DeleteRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    name: str
    namespace: str | None = None


class Step(BaseModel):
    """One scenario step: exactly one of apply, delete or advance."""

    model_config = ConfigDict(extra="forbid")
    apply: list[dict[str, Any]] | ApplyFile | dict[str, Any] | None = None
    delete: DeleteRef | list[DeleteRef] | None = None
    advance: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in ("apply", "delete", "advance") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step needs exactly one of apply, delete, advance (got {given or 'none'})")
        if self.advance is not None:
            parse_go_duration(self.advance)
        return self


class Scenario(BaseModel):
    """A whole local run."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["Scenario"] = "Scenario"
    platform: Literal["ack", "acs"] = "ack"
    cloud: CloudSpec = Field(default_factory=CloudSpec)
    nodes: list[NodeSpec] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)


def load_scenario(doc: dict[str, Any], base_dir: Path) -> tuple[Scenario, list[tuple[str, Any]]]:
    """Validate a Scenario document; returns it and its steps resolved (apply files read):
    ``("apply", [objects])``, ``("delete", [DeleteRef])`` or ``("advance", "30m")``."""
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ScenarioError(f"Scenario: {problems}") from None
    resolved: list[tuple[str, Any]] = []
    for i, step in enumerate(scenario.steps):
        if step.apply is not None:
            resolved.append(("apply", _apply_objects(step.apply, base_dir, f"steps[{i}].apply")))
        elif step.delete is not None:
            resolved.append(("delete", step.delete if isinstance(step.delete, list) else [step.delete]))
        else:
            resolved.append(("advance", step.advance))
    return scenario, resolved


def _apply_objects(apply: Any, base_dir: Path, where: str) -> list[dict[str, Any]]:
    if isinstance(apply, ApplyFile) or (isinstance(apply, dict) and set(apply) == {"file"}):
        rel = apply.file if isinstance(apply, ApplyFile) else apply["file"]
        try:
            return [d.doc for d in load_file(str(base_dir / rel))]
        except ManifestError as e:
            raise ScenarioError(f"Scenario {where}.file: {e}") from None
    if isinstance(apply, dict):
        return list(_flatten(apply))
    out: list[dict[str, Any]] = []
    for j, obj in enumerate(apply):
        if not isinstance(obj, dict):
            raise ScenarioError(f"Scenario {where}[{j}]: not an object")
        out.extend(_flatten(obj))
    return out


def _flatten(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand a ``kind: List`` into its items."""
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return [i for i in doc["items"] if isinstance(i, dict)]
    return [doc]


def invent_cloud(objects: list[dict[str, Any]], region: str = "cn-hangzhou") -> tuple[CloudSpec, list[NodeSpec]]:
    """A cloud for plain manifests: vSwitches (zone by position in each network), one trunk node per zone."""
    zone_of: dict[str, str] = {}
    networkings = [o for o in objects if o.get("kind") == "PodNetworking"]
    for obj in networkings:  # a status copied from a real cluster says where each vSwitch is
        for v in (obj.get("status") or {}).get("vSwitches") or []:
            if isinstance(v, dict) and isinstance(v.get("id"), str) and isinstance(v.get("zone"), str) and v["zone"]:
                zone_of.setdefault(v["id"], v["zone"])
    for obj in networkings:
        for pos, vsw in enumerate((obj.get("spec") or {}).get("vSwitchOptions") or []):
            if isinstance(vsw, str) and vsw not in zone_of:
                zone_of[vsw] = f"{region}-{ZONE_SUFFIXES[pos % len(ZONE_SUFFIXES)]}"
    vswitches = [
        VSwitchSpec(id=vsw, zone=zone, cidr=f"10.{(n // 256) % 256}.{n % 256}.0/24")
        for n, (vsw, zone) in enumerate(zone_of.items(), start=1)
    ]
    zones = sorted(set(zone_of.values())) or [f"{region}-{ZONE_SUFFIXES[0]}"]
    nodes = [NodeSpec(name=f"node-{z.rsplit('-', 1)[-1]}", zone=z, trunk=True) for z in zones]
    return CloudSpec(region=region, vSwitches=vswitches), nodes
