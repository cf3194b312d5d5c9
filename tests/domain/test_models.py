"""Wire models: camelCase in, the same JSON out; defaults; unknown keys kept; node facts."""

from __future__ import annotations

import copy
import json

import pytest

from podnet.domain.models import (
    POD_NETWORKS,
    POD_NETWORKS_REQUEST,
    AllocationTypeName,
    ENIInfoType,
    ENIType,
    NodeFacts,
    NodeFactsError,
    Phase,
    PodENI,
    PodNetworkConfig,
    PodNetworking,
    PodNetworkRequest,
    PodNetworks,
    ReleaseStrategy,
    SelectionPolicy,
    format_k8s_time,
    parse_k8s_time,
)
from podnet.errors import PermanentError

FULL_PODNETWORKING = {
    "apiVersion": "network.alibabacloud.com/v1beta1",
    "kind": "PodNetworking",
    "metadata": {"name": "default", "resourceVersion": "5744", "uid": "65903fc5"},
    "spec": {
        "eniOptions": {"eniType": "Trunk"},
        "allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1h"},
        "selector": {"podSelector": {"matchLabels": {"app": "web"}}},
        "securityGroupIDs": ["sg-bp15u1lb14uqfp5ytexk"],
        "vSwitchOptions": ["vsw-a", "vsw-b"],
        "vSwitchSelectOptions": {"vSwitchSelectionPolicy": "most"},
    },
    "status": {
        "status": "Ready",
        "vSwitches": [{"id": "vsw-a", "zone": "cn-hangzhou-g", "freeIPs": 12}, {"id": "vsw-b", "zone": "cn-hangzhou-i"}],
        "updateAt": "2025-03-24T06:10:00Z",
        "conditions": [{"type": "Ready", "status": "True", "reason": "VSwitchesFound"}],
    },
}

FULL_PODENI = {
    "apiVersion": "network.alibabacloud.com/v1beta1",
    "kind": "PodENI",
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "labels": {"k8s.aliyun.com/node": "node-1"},
        "annotations": {"k8s.aliyun.com/pod-uid": "uid-1"},
        "finalizers": ["network.alibabacloud.com/pod-eni"],
    },
    "spec": {
        "allocations": [
            {
                "eni": {
                    "id": "eni-1",
                    "mac": "00:16:3e:00:00:01",
                    "zone": "cn-hangzhou-g",
                    "vSwitchID": "vsw-a",
                    "securityGroupIDs": ["sg-1"],
                    "attachmentOptions": {"trunk": True},
                },
                "ipv4": "10.0.0.5",
                "ipv4CIDR": "10.0.0.0/24",
                "interface": "eth0",
                "defaultRoute": True,
                "extraRoutes": [{"dst": "10.8.0.0/16"}],
                "allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "30m"},
            }
        ],
        "zone": "cn-hangzhou-g",
    },
    "status": {
        "phase": "Bind",
        "instanceID": "i-abc",
        "trunkENIID": "eni-trunk",
        "podLastSeen": "2025-03-24T06:10:00Z",
        "eniInfos": {"eni-1": {"id": "eni-1", "type": "Member", "vid": 1001, "status": "Bind"}},
        "msg": "",
    },
}


@pytest.mark.parametrize(("model", "obj"), [(PodNetworking, FULL_PODNETWORKING), (PodENI, FULL_PODENI)])
def test_fully_specified_objects_round_trip_unchanged(model: type, obj: dict) -> None:
    assert model.from_k8s(copy.deepcopy(obj)).to_k8s() == obj


def test_podnetworking_fields_are_typed() -> None:
    pn = PodNetworking.from_k8s(FULL_PODNETWORKING)
    assert pn.name == "default"
    assert pn.spec.eni_options.eni_type is ENIType.TRUNK
    assert pn.spec.allocation_type.type is AllocationTypeName.FIXED
    assert pn.spec.allocation_type.release_strategy is ReleaseStrategy.TTL
    assert pn.spec.v_switch_select_options.v_switch_selection_policy is SelectionPolicy.MOST
    assert pn.spec.selector is not None and pn.spec.selector.is_set()
    assert pn.status is not None and pn.status.zones() == ["cn-hangzhou-g", "cn-hangzhou-i"]
    assert pn.status.v_switches[0].free_ips == 12
    assert pn.is_ready()


def test_defaults_are_the_crd_defaults_and_none_is_left_out() -> None:
    out = PodNetworking.from_k8s({"metadata": {"name": "n"}, "spec": {"vSwitchOptions": ["vsw-a"]}}).to_k8s()
    assert out["apiVersion"] == "network.alibabacloud.com/v1beta1"
    assert out["spec"]["eniOptions"] == {"eniType": "Default"}
    assert out["spec"]["allocationType"] == {"type": "Elastic"}
    assert out["spec"]["vSwitchSelectOptions"] == {"vSwitchSelectionPolicy": "ordered"}
    assert "status" not in out and "selector" not in out["spec"]
    assert "releaseStrategy" not in out["spec"]["allocationType"]


def test_unknown_keys_survive_a_round_trip() -> None:
    obj = copy.deepcopy(FULL_PODNETWORKING)
    obj["spec"]["resourceGroupID"] = "rg-1"
    obj["status"]["vSwitches"][0]["cidr"] = "10.0.0.0/24"
    obj["extra"] = {"x": 1}
    out = PodNetworking.from_k8s(obj).to_k8s()
    assert out["spec"]["resourceGroupID"] == "rg-1"
    assert out["status"]["vSwitches"][0]["cidr"] == "10.0.0.0/24"
    assert out["extra"] == {"x": 1}


def test_snake_case_names_are_accepted_and_dumped_as_camel_case() -> None:
    cfg = PodNetworkConfig(interface="eth1", v_switch_options=["vsw-a"], security_group_ids=["sg-a"], default_route=True)
    out = cfg.to_k8s()
    assert out["vSwitchOptions"] == ["vsw-a"] and out["securityGroupIDs"] == ["sg-a"] and out["defaultRoute"] is True
    assert cfg.model_dump()["vSwitchOptions"] == ["vsw-a"]  # by alias even without asking


def test_podeni_phase_initial_is_empty_string() -> None:
    eni = PodENI.from_k8s({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": ""}})
    assert eni.status is not None and eni.status.phase is Phase.INITIAL
    assert eni.to_k8s()["status"]["phase"] == ""
    assert (eni.name, eni.namespace) == ("a", "ns")
    info = PodENI.from_k8s(FULL_PODENI).status.eni_infos["eni-1"]  # type: ignore[union-attr]
    assert info.type is ENIInfoType.MEMBER and info.vid == 1001


def test_enums_print_as_their_values() -> None:
    assert str(ENIType.TRUNK) == "Trunk" and f"{Phase.BIND}" == "Bind" and ENIType("ENI") is ENIType.ENI


def test_pod_networks_annotation_round_trip() -> None:
    snapshot = PodNetworks(
        pod_networks=[
            PodNetworkConfig(interface="eth0", network="a", default_route=True, zones=["z1"]),
            PodNetworkConfig(interface="eth1", network="b"),
        ]
    )
    raw = snapshot.to_annotation()
    assert json.loads(raw)["podNetworks"][0]["defaultRoute"] is True
    back = PodNetworks.from_annotation(raw)
    assert back == snapshot
    assert back.default_interface() is not None and back.default_interface().interface == "eth0"  # type: ignore[union-attr]


def test_pod_network_request_ignores_unknown_keys() -> None:
    req = PodNetworkRequest.from_k8s({"interfaceName": "eth1", "network": "n", "whatever": 1})
    assert req.to_k8s() == {"interfaceName": "eth1", "network": "n"}


def test_annotation_constants() -> None:
    assert POD_NETWORKS_REQUEST == "k8s.aliyun.com/pod-networks-request"
    assert POD_NETWORKS == "k8s.aliyun.com/pod-networks"


def test_k8s_time_round_trip() -> None:
    dt = parse_k8s_time("2025-03-24T06:10:00Z")
    assert format_k8s_time(dt) == "2025-03-24T06:10:00Z"
    assert format_k8s_time(parse_k8s_time("2025-03-24T14:10:00+08:00")) == "2025-03-24T06:10:00Z"


def _node(provider: str | None = "cn-hangzhou.i-bp1abc", labels: dict | None = None, annotations: dict | None = None) -> dict:
    node: dict = {"metadata": {"name": "node-1", "labels": labels if labels is not None else {"topology.kubernetes.io/zone": "cn-hangzhou-g"}}}
    if annotations:
        node["metadata"]["annotations"] = annotations
    if provider is not None:
        node["spec"] = {"providerID": provider}
    return node


def test_node_facts_from_a_node() -> None:
    facts = NodeFacts.from_node(_node(annotations={"k8s.aliyun.com/trunk-on": "eni-trunk"}))
    assert facts == NodeFacts(name="node-1", instance_id="i-bp1abc", zone="cn-hangzhou-g", trunk_eni_id="eni-trunk")
    assert facts.require_trunk() == "eni-trunk"
    assert NodeFacts.from_k8s(_node()).trunk_eni_id is None


def test_node_facts_zone_falls_back_to_the_legacy_label() -> None:
    facts = NodeFacts.from_node(_node(labels={"failure-domain.beta.kubernetes.io/zone": "cn-hangzhou-h"}))
    assert facts.zone == "cn-hangzhou-h"


@pytest.mark.parametrize(
    ("node", "needle"),
    [
        (_node(provider=None), "spec.providerID is missing"),
        (_node(provider="i-bp1abc"), "has no instance id"),
        (_node(provider="cn-hangzhou."), "has no instance id"),
        (_node(labels={}), "topology.kubernetes.io/zone"),
    ],
)
def test_node_facts_name_the_node_and_the_missing_field(node: dict, needle: str) -> None:
    with pytest.raises(NodeFactsError) as exc:
        NodeFacts.from_node(node)
    assert isinstance(exc.value, PermanentError)
    assert needle in str(exc.value) and "node-1" in str(exc.value)


def test_missing_trunk_is_a_clear_error() -> None:
    with pytest.raises(NodeFactsError, match="trunk-on"):
        NodeFacts.from_node(_node()).require_trunk()
