"""Pod rules (product spec section 2), workloads, zones, and the resolved snapshot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podnet.domain.findings import ValidationFailed
from podnet.domain.models import PodNetworks
from podnet.domain.validation import (
    allowed_zones,
    is_fixed_name_pod,
    pod_template_of,
    resolve_pod_networks,
    validate_pod,
    validate_workload,
)

REQ = "k8s.aliyun.com/pod-networks-request"
BASE = f"metadata.annotations[{REQ}]"


def network(name: str, *, eni_type: str | None = None, alloc: dict | None = None, zones: list[str] | None = None,
            status: str | None = None, selector: dict | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"securityGroupIDs": [f"sg-{name}"], "vSwitchOptions": [f"vsw-{name}1", f"vsw-{name}2"]}
    if eni_type:
        spec["eniOptions"] = {"eniType": eni_type}
    if alloc:
        spec["allocationType"] = alloc
    if selector is not None:
        spec["selector"] = selector
    obj: dict[str, Any] = {"apiVersion": "network.alibabacloud.com/v1beta1", "kind": "PodNetworking",
                           "metadata": {"name": name}, "spec": spec}
    if zones is not None or status is not None:
        obj["status"] = {"status": status or "Ready",
                         "vSwitches": [{"id": f"vsw-{name}{i + 1}", "zone": z} for i, z in enumerate(zones or [])]}
    return obj


NETS = {n: network(n) for n in ("a", "b", "c")}


def pod(request: Any, *, annotations: dict | None = None, owner: str | None = None, raw: bool = False,
        host_network: bool = False, name: str = "web-0") -> dict[str, Any]:
    ann = dict(annotations or {})
    if request is not None:
        ann[REQ] = request if raw else json.dumps(request)
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "ns", "annotations": ann},
                           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    if owner:
        obj["metadata"]["ownerReferences"] = [{"kind": owner, "name": "owner", "uid": "u", "controller": True}]
    if host_network:
        obj["spec"]["hostNetwork"] = True
    return obj


def e(iface: str | None, net: str | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if iface is not None:
        out["interfaceName"] = iface
    if net is not None:
        out["network"] = net
    out.update(extra)
    return out


TWO = [e("eth0", "a"), e("eth1", "b")]


def found(p: dict, nets: dict | None = None, **kw: Any) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.field) for f in validate_pod(p, NETS if nets is None else nets, **kw)]


def test_a_good_request_is_clean() -> None:
    assert found(pod(TWO)) == []
    assert found(pod([e("eth0", "a", defaultRoute=True, routes=[{"dst": "10.0.0.0/8"}]), e("net1", "b")])) == []
    assert found(pod([e("net1", "a", defaultRoute=True), e("net2", "b", routes=[{"dst": "fd00::/8"}])])) == []


def test_a_pod_without_the_annotation_has_nothing_to_check() -> None:
    assert found(pod(None)) == []
    assert found({"kind": "Pod", "metadata": {"name": "x"}}) == []


def test_findings_name_the_pod_and_default_the_namespace() -> None:
    p = pod([e("eth0", "a"), e("eth0", "b")])
    del p["metadata"]["namespace"]
    (f,) = validate_pod(p, NETS)
    assert (f.kind, f.namespace, f.name) == ("Pod", "default", "web-0")
    assert f.line() == f'Pod default/web-0: {BASE}[1].interfaceName: duplicate interface name "eth0" (DuplicateInterfaceName)'


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ('[{"interfaceName": "eth0", "network": "a"', [("InvalidJSON", BASE)]),
        ('{"interfaceName": "eth0", "network": "a"}', [("NotAList", BASE)]),
        ("[]", [("EmptyRequest", BASE)]),
        ('["eth0"]', [("EntryNotAnObject", f"{BASE}[0]")]),
        ('[{"interfaceName": "eth0", "network": "a", "network": "b"}]', [("DuplicateKey", f"{BASE}[0].network")]),
        (json.dumps([e("eth0", "a", defaultroute=True)]), [("UnknownField", f"{BASE}[0].defaultroute")]),
        (json.dumps([e("eth0", "a", Routes=[])]), [("UnknownField", f"{BASE}[0].Routes")]),
        (json.dumps([e("eth0", "a"), e(None, "b")]), [("MissingInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("", "b")]), [("MissingInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e(1, "b")]), [("InvalidFieldType", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("a" * 16, "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("eth 1", "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("eth/1", "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("eth:1", "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("lo", "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("..", "b")]), [("InvalidInterfaceName", f"{BASE}[1].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("eth1", "b"), e("eth1", "c")]), [("DuplicateInterfaceName", f"{BASE}[2].interfaceName")]),
        (json.dumps([e("eth0", "a"), e("eth1", None)]), [("MissingNetwork", f"{BASE}[1].network")]),
        (json.dumps([e("eth0", "a"), e("eth1", ["b"])]), [("InvalidFieldType", f"{BASE}[1].network")]),
        (json.dumps([e("eth0", "a"), e("eth1", "nope")]), [("NetworkNotFound", f"{BASE}[1].network")]),
        (json.dumps([e("eth0", "a", defaultRoute=True), e("eth1", "b", defaultRoute=True)]),
         [("MultipleDefaultRoutes", f"{BASE}[1].defaultRoute")]),
        (json.dumps([e("eth0", "a", defaultRoute="yes")]), [("InvalidFieldType", f"{BASE}[0].defaultRoute")]),
        (json.dumps([e("net1", "a"), e("net2", "b")]), [("NoDefaultRoute", BASE)]),
        (json.dumps([e("net1", "a", defaultRoute=False)]), [("NoDefaultRoute", BASE)]),
        (json.dumps([e("eth0", "a", routes=[{"dst": "10.0.0.1/8"}])]), [("InvalidRouteDst", f"{BASE}[0].routes[0].dst")]),
        (json.dumps([e("eth0", "a", routes=[{"dst": "10.0.0.1"}])]), [("InvalidRouteDst", f"{BASE}[0].routes[0].dst")]),
        (json.dumps([e("eth0", "a", routes=[{"dst": "10.0.0.0/33"}])]), [("InvalidRouteDst", f"{BASE}[0].routes[0].dst")]),
        (json.dumps([e("eth0", "a", routes=[{}])]), [("InvalidRouteDst", f"{BASE}[0].routes[0].dst")]),
        (json.dumps([e("eth0", "a", routes=[{"Dst": "10.0.0.0/8"}])]),
         [("UnknownField", f"{BASE}[0].routes[0].Dst"), ("InvalidRouteDst", f"{BASE}[0].routes[0].dst")]),
        (json.dumps([e("eth0", "a", routes="10.0.0.0/8")]), [("InvalidFieldType", f"{BASE}[0].routes")]),
        (json.dumps([e("eth0", "a", routes=["10.0.0.0/8"])]), [("InvalidFieldType", f"{BASE}[0].routes[0]")]),
        (json.dumps([e("eth0", "a", routes=[{"dst": "10.0.0.0/8"}]), e("eth1", "b", routes=[{"dst": "10.0.0.0/8"}])]),
         [("DuplicateRoute", f"{BASE}[1].routes[0].dst")]),
        (json.dumps([e("eth0", "a"), e("eth1", "b", routes=[{"dst": "0.0.0.0/0"}])]),
         [("DuplicateRoute", f"{BASE}[1].routes[0].dst")]),
        (json.dumps([e(f"eth{i}", "a") for i in range(9)]), [("TooManyInterfaces", BASE)]),
        (json.dumps("x" * 17000), [("AnnotationTooLarge", BASE)]),
    ],
)
def test_each_annotation_rule_reports_its_code_at_its_field(request_: str, expected: list[tuple[str, str]]) -> None:
    assert [(c, f) for _, c, f in found(pod(request_, raw=True))] == expected


def test_max_interfaces_is_configurable() -> None:
    p = pod([e("eth0", "a"), e("eth1", "b"), e("eth2", "c")])
    assert found(p, max_interfaces=3) == []
    assert found(p, max_interfaces=2) == [("error", "TooManyInterfaces", BASE)]


def test_a_value_that_is_not_a_string_is_a_type_error() -> None:
    p = pod(None, annotations={REQ: ["eth0"]})
    assert found(p) == [("error", "InvalidFieldType", BASE)]


def test_invalid_json_gives_the_position() -> None:
    (f,) = validate_pod(pod('[\n  {"interfaceName": "eth0" "network": "a"}\n]', raw=True), NETS)
    assert "line 2 column 28 (char 29)" in f.message


def test_nan_and_huge_numbers_and_deep_nesting_are_invalid_json_not_crashes() -> None:
    for raw in ('[{"interfaceName": NaN}]', "[" + "9" * 5000 + "]", "[" * 5000 + "]" * 5000):
        assert [c for _, c, _ in found(pod(raw, raw=True))] == ["InvalidJSON"], raw[:20]


def test_unknown_key_suggests_the_right_one() -> None:
    (f,) = validate_pod(pod([e("eth0", "a", defaultroute=True)]), NETS)
    assert 'did you mean "defaultRoute"' in f.message
    (f,) = validate_pod(pod([{"interface": "eth0", "network": "a"}]), NETS)[:1]
    assert 'did you mean "interfaceName"' in f.message
    (f,) = validate_pod(pod([e("eth0", "aa")]), NETS)
    assert f.code == "NetworkNotFound" and 'did you mean "a"' in f.message


def test_every_problem_is_reported_not_just_the_first() -> None:
    p = pod([e("eth0", "a", defaultRoute=True, foo=1), e("eth0", "nope"), e("x" * 20, "b", defaultRoute=True),
             e("eth3", "c", routes=[{"dst": "bad"}])])
    codes = [c for _, c, _ in found(p)]
    assert codes == ["UnknownField", "DuplicateInterfaceName", "InvalidInterfaceName", "InvalidRouteDst",
                     "MultipleDefaultRoutes", "NetworkNotFound"]


# --- legacy annotations and host network ---------------------------------------------------------------
@pytest.mark.parametrize("legacy", ["k8s.aliyun.com/pod-networks", "k8s.aliyun.com/pod-networking"])
def test_legacy_annotations_are_mutually_exclusive_with_the_request(legacy: str) -> None:
    p = pod([e("eth0", "a")], annotations={legacy: '{"podNetworks": []}'})
    assert found(p) == [("error", "ConflictingAnnotations", f"metadata.annotations[{legacy}]")]


def test_the_legacy_annotations_alone_are_fine_and_exclusive_with_each_other() -> None:
    assert found(pod(None, annotations={"k8s.aliyun.com/pod-networking": "a"})) == []
    assert found(pod(None, annotations={"k8s.aliyun.com/pod-networks": PodNetworks().to_annotation()})) == []
    p = pod(None, annotations={"k8s.aliyun.com/pod-networks": '{"podNetworks": []}', "k8s.aliyun.com/pod-networking": "a"})
    assert found(p) == [("error", "ConflictingAnnotations", "metadata.annotations[k8s.aliyun.com/pod-networking]")]


def test_a_malformed_hand_written_snapshot_is_reported() -> None:
    for raw in ("{", "[]", '{"podNetworks": [{"vSwitchOptions": []}]}'):
        p = pod(None, annotations={"k8s.aliyun.com/pod-networks": raw})
        assert found(p) == [("error", "InvalidPodNetworks", "metadata.annotations[k8s.aliyun.com/pod-networks]")], raw


def test_our_own_snapshot_next_to_the_request_is_not_a_conflict() -> None:
    p = pod(TWO)
    snapshot = resolve_pod_networks(p, NETS).to_annotation()
    p["metadata"]["annotations"]["k8s.aliyun.com/pod-networks"] = snapshot
    assert found(p) == []


def test_host_network_pods_cannot_request_interfaces() -> None:
    assert found(pod(TWO, host_network=True)) == [("error", "HostNetworkPod", "spec.hostNetwork")]
    assert found(pod(None, host_network=True)) == []


# --- rules that need the PodNetworkings -------------------------------------------------------------------
def test_network_not_ready_only_when_status_is_known() -> None:
    nets = {"a": network("a", status="Fail", zones=["z"]), "b": network("b")}
    nets["a"]["status"]["message"] = "vSwitch not found"
    (f,) = validate_pod(pod(TWO), nets)
    assert (f.code, f.field) == ("NetworkNotReady", f"{BASE}[0].network")
    assert "vSwitch not found" in f.message
    nets = {"a": network("a", zones=["z"]), "b": network("b")}
    assert found(pod(TWO), nets) == []
    nets["b"]["status"] = {"vSwitches": []}  # present but never synced
    assert found(pod(TWO), nets) == [("error", "NetworkNotReady", f"{BASE}[1].network")]


def test_network_with_a_selector_is_refused() -> None:
    nets = {"a": network("a", selector={"podSelector": {}}), "b": network("b", selector={})}
    assert found(pod(TWO), nets) == [("error", "NetworkHasSelector", f"{BASE}[0].network")]
    nets = {"a": network("a", selector={"namespaceSelector": {"matchLabels": {"x": "y"}}}), "b": network("b")}
    assert found(pod(TWO), nets) == [("error", "NetworkHasSelector", f"{BASE}[0].network")]


def test_an_invalid_network_cannot_be_used() -> None:
    bad = network("b")
    bad["spec"]["vSwitchOptions"] = []
    (f,) = validate_pod(pod(TWO), {"a": network("a"), "b": bad})
    assert (f.code, f.field) == ("NetworkInvalid", f"{BASE}[1].network") and "MissingVSwitchOptions" in f.message


def test_eni_type_must_agree_across_networks() -> None:
    nets = {"a": network("a", eni_type="Trunk"), "b": network("b", eni_type="ENI")}
    (f,) = validate_pod(pod(TWO), nets)
    assert (f.code, f.field) == ("ENITypeMismatch", f"{BASE}[1].network")
    nets = {"a": network("a", eni_type="Trunk"), "b": network("b", eni_type="Trunk")}
    assert found(pod(TWO), nets) == []
    # literal comparison, as in Terway: an explicit Default equals the defaulted one, not Trunk
    nets = {"a": network("a", eni_type="Default"), "b": network("b")}
    assert found(pod(TWO), nets) == []
    nets = {"a": network("a"), "b": network("b", eni_type="Trunk")}
    assert [c for _, c, _ in found(pod(TWO), nets)] == ["ENITypeMismatch"]


@pytest.mark.parametrize(("owner", "ok"), [(None, True), ("StatefulSet", True), ("ReplicaSet", False), ("Job", False),
                                            ("DaemonSet", False)])
def test_fixed_ip_needs_a_fixed_name_pod(owner: str | None, ok: bool) -> None:
    nets = {"a": network("a", alloc={"type": "Fixed", "releaseStrategy": "Never"}), "b": network("b")}
    p = pod(TWO, owner=owner)
    assert is_fixed_name_pod(p) is ok
    assert found(p, nets) == ([] if ok else [("error", "FixedIPRequiresFixedName", f"{BASE}[0].network")])
    assert found(p, {"a": network("a"), "b": network("b")}) == []  # Elastic is fine for anyone


def test_zones_must_intersect_when_known() -> None:
    nets = {"a": network("a", zones=["g", "h"]), "b": network("b", zones=["h", "i"])}
    assert found(pod(TWO), nets) == []
    assert allowed_zones(nets.values()) == {"h"}
    nets = {"a": network("a", zones=["g"]), "b": network("b", zones=["i"])}
    (f,) = validate_pod(pod(TWO), nets)
    assert (f.code, f.field) == ("NoCommonZone", BASE) and "a: g" in f.message and "b: i" in f.message
    assert allowed_zones(nets.values()) == set()
    # unknown zones do not count
    nets = {"a": network("a", zones=["g"]), "b": network("b")}
    assert found(pod(TWO), nets) == []
    assert allowed_zones(nets.values()) == {"g"}
    assert allowed_zones([network("a"), network("b")]) is None


def test_acs_forbids_routes_and_default_route() -> None:
    p = pod([e("eth0", "a", defaultRoute=True), e("eth1", "b", routes=[{"dst": "10.0.0.0/8"}])])
    assert found(p, platform="acs") == [
        ("error", "DefaultRouteNotSupportedOnACS", f"{BASE}[0].defaultRoute"),
        ("error", "RoutesNotSupportedOnACS", f"{BASE}[1].routes"),
    ]
    assert found(p, platform="ack") == []
    assert found(pod(TWO), platform="acs") == []


def test_acs_checks_the_referenced_networks_eni_type() -> None:
    nets = {"a": network("a", eni_type="Trunk"), "b": network("b", eni_type="Trunk")}
    assert [c for _, c, _ in found(pod(TWO), nets, platform="acs")] == ["NetworkInvalid", "NetworkInvalid"]


# --- workloads -------------------------------------------------------------------------------------------
def workload(kind: str, request: Any) -> dict[str, Any]:
    template = {"metadata": {"annotations": {REQ: json.dumps(request)}}, "spec": {"containers": [{"name": "c"}]}}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"template": template}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "wl", "namespace": "prod"}, "spec": spec}


@pytest.mark.parametrize(
    ("kind", "prefix", "fixed_ok"),
    [
        ("Deployment", "spec.template.", False),
        ("StatefulSet", "spec.template.", True),
        ("Job", "spec.template.", False),
        ("CronJob", "spec.jobTemplate.spec.template.", False),
        ("DaemonSet", "spec.template.", False),
        ("ReplicaSet", "spec.template.", False),
    ],
)
def test_workload_templates_are_checked_as_their_pods(kind: str, prefix: str, fixed_ok: bool) -> None:
    wl = workload(kind, [e("eth0", "a"), e("eth0", "b")])
    assert pod_template_of(wl) is not None
    (f,) = validate_workload(wl, NETS)
    assert (f.kind, f.namespace, f.name) == (kind, "prod", "wl")
    assert (f.code, f.field) == ("DuplicateInterfaceName", f"{prefix}{BASE}[1].interfaceName")
    nets = {"a": network("a", alloc={"type": "Fixed"}), "b": network("b")}
    findings = validate_workload(workload(kind, TWO), nets)
    assert [x.code for x in findings] == ([] if fixed_ok else ["FixedIPRequiresFixedName"])


def test_non_workloads_have_no_template() -> None:
    assert pod_template_of({"kind": "Service", "spec": {"template": {}}}) is None
    assert pod_template_of({"kind": "Deployment", "spec": {}}) is None
    assert validate_workload({"kind": "ConfigMap"}, NETS) == []


# --- resolution -----------------------------------------------------------------------------------------------
def test_resolve_copies_each_network_and_resolves_the_default_route() -> None:
    nets = {
        "a": network("a", eni_type="Trunk", zones=["g", "h"],
                     alloc={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1h"}),
        "b": network("b", eni_type="Trunk", zones=["h"]),
    }
    p = pod([e("eth0", "a"), e("eth1", "b", defaultRoute=True, routes=[{"dst": "10.0.0.0/8"}])])
    snap = resolve_pod_networks(p, nets).to_k8s()["podNetworks"]
    assert [c["interface"] for c in snap] == ["eth0", "eth1"]
    assert [c["defaultRoute"] for c in snap] == [False, True]
    assert snap[0]["network"] == "a" and snap[0]["zones"] == ["g", "h"]
    assert snap[0]["vSwitchOptions"] == ["vsw-a1", "vsw-a2"] and snap[0]["securityGroupIDs"] == ["sg-a"]
    assert snap[0]["allocationType"] == {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1h"}
    assert snap[0]["eniOptions"] == {"eniType": "Trunk"}
    assert snap[0]["vSwitchSelectOptions"] == {"vSwitchSelectionPolicy": "ordered"}
    assert snap[1]["extraRoutes"] == [{"dst": "10.0.0.0/8"}] and snap[0]["extraRoutes"] == []


def test_resolve_defaults_to_eth0_and_exactly_one_default() -> None:
    snap = resolve_pod_networks(pod([e("eth1", "b"), e("eth0", "a")]), NETS)
    assert [(c.interface, c.default_route) for c in snap.pod_networks] == [("eth1", False), ("eth0", True)]
    assert snap.pod_networks[0].zones is None


def test_resolve_refuses_an_invalid_pod() -> None:
    with pytest.raises(ValidationFailed) as exc:
        resolve_pod_networks(pod([e("eth0", "a"), e("eth1", "zzz")]), NETS)
    assert exc.value.codes == ["NetworkNotFound"]
    assert resolve_pod_networks(pod(None), NETS) == PodNetworks()


def test_resolved_snapshot_does_not_share_state_with_the_networks() -> None:
    nets = {"a": network("a"), "b": network("b")}
    snap = resolve_pod_networks(pod(TWO), nets)
    nets["a"]["spec"]["vSwitchOptions"].append("vsw-new")
    assert snap.pod_networks[0].v_switch_options == ["vsw-a1", "vsw-a2"]


def test_validate_pod_never_crashes_on_odd_shapes() -> None:
    for odd in (None, [], "x", {"metadata": "x"}, {"metadata": {"annotations": "x"}},
                {"metadata": {"annotations": {REQ: "[]"}}, "spec": "x"}):
        assert isinstance(validate_pod(odd, NETS), list)  # type: ignore[arg-type]
    assert found(pod(TWO), {"a": "not a dict", "b": network("b")}) == [("error", "NetworkNotFound", f"{BASE}[0].network")]  # type: ignore[dict-item]
