"""Zone pinning: the intersection of the networks' vSwitch zones, ANDed into every required
nodeSelectorTerm, plus the previous zone of a fixed-IP pod whose PodENI still exists."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podnet import admission
from tests.admission.helpers import (
    ZONE,
    MemKube,
    apply,
    pn,
    pod,
    podeni,
    reasons,
    response_of,
    review,
    zone_exprs,
)

G, H, K, J = "cn-hangzhou-g", "cn-hangzhou-h", "cn-hangzhou-k", "cn-hangzhou-j"
FIXED = {"type": "Fixed", "releaseStrategy": "Never"}


def admit(kube: MemKube, obj: dict[str, Any]) -> dict[str, Any]:
    req = review(obj)
    return response_of(admission.review_with_kube(req, kube), req)


def zin(*zones: str) -> dict[str, Any]:
    return {"key": ZONE, "operator": "In", "values": list(zones)}


@pytest.mark.parametrize("zone_sets, expected", [
    ([(G,)], [G]),
    ([(G, H, K), (H, K, J)], [H, K]),                # sorted, deduplicated
    ([(G, H), (H, K), (H, J, G)], [H]),
    ([(K, G, G), (G, K)], [G, K]),                    # a zone listed twice counts once
])
def test_intersection_of_vswitch_zones(zone_sets: list[tuple[str, ...]], expected: list[str]) -> None:
    names = [f"net{i}" for i in range(len(zone_sets))]
    kube = MemKube(*(pn(n, zs) for n, zs in zip(names, zone_sets, strict=True)))
    obj = pod(request=[{"interfaceName": f"eth{i}", "network": n} for i, n in enumerate(names)])
    assert zone_exprs(apply(obj, admit(kube, obj))) == [[zin(*expected)]]


def test_empty_intersection_is_denied_naming_each_networks_zones() -> None:
    kube = MemKube(pn("a", (G, H)), pn("b", (K,)), pn("c", (G,)))
    resp = admit(kube, pod(request=[{"interfaceName": "eth0", "network": "a"},
                                   {"interfaceName": "eth1", "network": "b"},
                                   {"interfaceName": "eth2", "network": "c"}]))
    assert reasons(resp) == ["NoCommonZone"]
    msg = resp["status"]["message"]
    assert f"a: {G}, {H}" in msg and f"b: {K}" in msg


def test_requirement_is_anded_into_every_existing_term() -> None:
    kube = MemKube(pn("a", (G, H)))
    obj = pod(request=[{"interfaceName": "eth0", "network": "a"}])
    user_pref = {"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}
    obj["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]},
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                       "values": ["ecs.g7.large"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
                {"matchExpressions": [], "matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                                          "values": ["node-2"]}]},
                {},  # matches no node: stays that way
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [user_pref],
        },
    }
    patched = apply(obj, admit(kube, obj))
    expected = copy.deepcopy(obj["spec"]["affinity"])
    terms = expected["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    terms[0]["matchExpressions"].append(zin(G, H))
    terms[1]["matchExpressions"] = [zin(G, H)]
    terms[2]["matchExpressions"].append(zin(G, H))
    assert patched["spec"]["affinity"] == expected  # the user's terms, preferences and pod affinity intact


@pytest.mark.parametrize("affinity", [
    {},
    {"podAffinity": {}},
    {"nodeAffinity": {}},
    {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
])
def test_missing_levels_are_created_once(affinity: dict[str, Any]) -> None:
    kube = MemKube(pn("a", (H,)))
    obj = pod(request=[{"interfaceName": "eth0", "network": "a"}])
    obj["spec"]["affinity"] = affinity
    patched = apply(obj, admit(kube, obj))
    assert zone_exprs(patched) == [[zin(H)]]
    for key, value in affinity.items():
        if key != "nodeAffinity":
            assert patched["spec"]["affinity"][key] == value


def test_no_zones_known_adds_no_affinity() -> None:
    # a Ready network whose status lists no vSwitches: nothing to pin to (the allocate step decides)
    net = pn("a", (G,))
    net["status"]["vSwitches"] = []
    obj = pod(request=[{"interfaceName": "eth0", "network": "a"}])
    assert "affinity" not in apply(obj, admit(MemKube(net), obj))["spec"]


def test_fixed_ip_pod_is_also_pinned_to_its_previous_zone() -> None:
    kube = MemKube(pn("fixed", (G, H), allocation=FIXED), podeni("db-0", zone=H))
    obj = pod("db-0", request=[{"interfaceName": "eth0", "network": "fixed"}], owner="StatefulSet")
    patched = apply(obj, admit(kube, obj))
    assert zone_exprs(patched) == [[zin(H), zin(G, H)]]
    assert ("podenis", "default", "db-0") in kube.calls


@pytest.mark.parametrize("eni", [
    podeni("db-0", zone="cn-hangzhou-h", deleting=True),     # on its way out
    podeni("db-0", zone="cn-hangzhou-h", allocations=False),  # nothing allocated yet
    podeni("db-0", namespace="other", zone="cn-hangzhou-h"),  # someone else's
])
def test_previous_zone_ignored_when_the_podeni_does_not_hold_ips(eni: dict[str, Any]) -> None:
    kube = MemKube(pn("fixed", (G, H), allocation=FIXED), eni)
    obj = pod("db-0", request=[{"interfaceName": "eth0", "network": "fixed"}], owner="StatefulSet")
    assert zone_exprs(apply(obj, admit(kube, obj))) == [[zin(G, H)]]


def test_elastic_pods_never_look_up_a_podeni() -> None:
    kube = MemKube(pn("elastic", (G,)), podeni("web-0", zone=H))
    obj = pod(request=[{"interfaceName": "eth0", "network": "elastic"}])
    assert zone_exprs(apply(obj, admit(kube, obj))) == [[zin(G)]]
    assert all(plural != "podenis" for plural, _, _ in kube.calls)


def test_previous_zone_outside_the_networks_zones_is_denied() -> None:
    kube = MemKube(pn("fixed", (G,), allocation=FIXED), podeni("db-0", zone=K))
    obj = pod("db-0", request=[{"interfaceName": "eth0", "network": "fixed"}], owner="StatefulSet")
    resp = admit(kube, obj)
    assert reasons(resp) == ["PreviousZoneNotAllowed"]
    assert K in resp["status"]["message"] and "delete the PodENI" in resp["status"]["message"]


# --- property: the merge keeps every user term and ANDs ours into each -------------------------------
_expr = st.fixed_dictionaries({"key": st.sampled_from(["a", "b", ZONE]), "operator": st.just("In"),
                               "values": st.lists(st.sampled_from(["x", "y", G]), min_size=1, max_size=2)})
_term = st.fixed_dictionaries({}, optional={"matchExpressions": st.lists(_expr, max_size=2),
                                            "matchFields": st.lists(_expr, max_size=1)})
_required = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"nodeSelectorTerms": st.lists(_term, max_size=3)}))


@settings(max_examples=60, deadline=None)
@given(required=_required, zones=st.lists(st.sampled_from([G, H, K]), min_size=1, max_size=3, unique=True))
def test_merge_property(required: dict[str, Any] | None, zones: list[str]) -> None:
    obj = pod()
    if required is not None:
        obj["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    ours = zin(*zones)
    merged = jsonpatch.apply_patch(obj, admission.node_affinity_ops(obj, [ours]), in_place=False)
    before = ((required or {}).get("nodeSelectorTerms")) or [{}]
    after = merged["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(after) == len(before)
    if not (required or {}).get("nodeSelectorTerms"):
        assert after == [{"matchExpressions": [ours]}]
        return
    for old, new in zip(before, after, strict=True):
        if not (old.get("matchExpressions") or old.get("matchFields")):
            assert new == old  # an empty term matches nothing, and must keep matching nothing
            continue
        assert new["matchExpressions"] == (old.get("matchExpressions") or []) + [ours]
        assert new.get("matchFields") == old.get("matchFields")
