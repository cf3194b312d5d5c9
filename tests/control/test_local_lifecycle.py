"""End to end on the local system: allocation, binding, release for Elastic, Fixed+TTL and Fixed+Never."""

from __future__ import annotations

import json

import pytest

from podnet.ports import PODENIS, PODNETWORKINGS
from tests.control.scenario_helpers import (
    fixed,
    free_ips,
    get_pod,
    iface,
    pod,
    pod_enis,
    pod_ips,
    podeni,
    podnetworking,
    system,
)


@pytest.fixture
def s():
    with system(
        vswitches=[
            ("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24"),
            ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24"),
            ("vsw-h1", "cn-hangzhou-h", "10.0.3.0/24"),
        ],
        nodes=[("node-g1", "cn-hangzhou-g", True), ("node-h1", "cn-hangzhou-h", True)],
    ) as sys_:
        yield sys_


def test_podnetworking_becomes_ready_with_zones(s):
    s.apply([podnetworking("a", ["vsw-g1", "vsw-h1"])])
    status = s.kube.get(PODNETWORKINGS, "a")["status"]
    assert status["status"] == "Ready"
    assert [(v["id"], v["zone"]) for v in status["vSwitches"]] == [("vsw-g1", "cn-hangzhou-g"), ("vsw-h1", "cn-hangzhou-h")]
    assert status["message"] == ""


def test_podnetworking_with_unknown_vswitch_fails_with_message(s):
    s.apply([podnetworking("a", ["vsw-nope"])])
    status = s.kube.get(PODNETWORKINGS, "a")["status"]
    assert status["status"] == "Fail"
    assert "vsw-nope" in status["message"]


def test_two_interfaces_get_ips_from_their_networks_and_bind_to_trunk(s):
    s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
    s.apply([pod("app", [iface("eth0", "a", defaultRoute=True), iface("eth1", "b", routes=[{"dst": "192.168.0.0/16"}])])])
    pe = podeni(s, "app")
    assert pe["status"]["phase"] == "Bind"
    allocs = {a["interface"]: a for a in pe["spec"]["allocations"]}
    assert allocs["eth0"]["eni"]["vSwitchID"] == "vsw-g1" and allocs["eth0"]["ipv4"].startswith("10.0.1.")
    assert allocs["eth1"]["eni"]["vSwitchID"] == "vsw-g2" and allocs["eth1"]["ipv4"].startswith("10.0.2.")
    assert allocs["eth0"]["defaultRoute"] is True and allocs["eth1"]["defaultRoute"] is False
    assert allocs["eth1"]["extraRoutes"] == [{"dst": "192.168.0.0/16"}]
    trunk = s.cloud_backend.instances["node-g1"].trunk_eni_id if "node-g1" in s.cloud_backend.instances else None
    infos = pe["status"]["eniInfos"]
    assert {i["type"] for i in infos.values()} == {"Member"}
    assert len({i["vid"] for i in infos.values()}) == 2
    enis = pod_enis(s)
    assert {e.status for e in enis.values()} == {"InUse"}
    assert {e.trunk_eni_id for e in enis.values()} == {pe["status"]["trunkENIID"]}
    if trunk:
        assert pe["status"]["trunkENIID"] == trunk
    # metadata the node's CNI relies on
    p = get_pod(s, "app")
    assert pe["metadata"]["annotations"]["k8s.aliyun.com/pod-uid"] == p["metadata"]["uid"]
    assert pe["metadata"]["labels"]["k8s.aliyun.com/node"] == p["spec"]["nodeName"]
    assert "network.alibabacloud.com/pod-eni" in pe["metadata"]["finalizers"]
    status = json.loads(p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"])
    assert [(x["interface"], x["default"]) for x in status] == [("eth0", True), ("eth1", False)]
    assert status[0]["ips"] == [allocs["eth0"]["ipv4"]] and status[0]["mac"] == allocs["eth0"]["eni"]["mac"]
    # tags say who owns each ENI
    for e in enis.values():
        assert e.tags["creator"] == "podnet" and e.tags["podnet/pod-uid"] == p["metadata"]["uid"]
        assert e.delete_on_release is True


def test_eth0_gets_the_default_route_when_none_is_set(s):
    s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
    s.apply([pod("app", [iface("eth1", "b"), iface("eth0", "a")])])
    status = json.loads(get_pod(s, "app")["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"])
    assert {x["interface"]: x["default"] for x in status} == {"eth0": True, "eth1": False}


def test_eni_type_ENI_attaches_exclusively_to_the_instance(s):
    s.apply([podnetworking("a", ["vsw-g1"], eniOptions={"eniType": "ENI"})])
    s.apply([pod("app", [iface("eth0", "a")])])
    pe = podeni(s, "app")
    assert pe["status"]["phase"] == "Bind"
    (eni,) = pod_enis(s).values()
    assert eni.trunk_eni_id == "" and eni.instance_id == pe["status"]["instanceID"] and eni.type == "Secondary"
    assert [i["type"] for i in pe["status"]["eniInfos"].values()] == ["Secondary"]


def test_elastic_pod_deleted_releases_enis_and_ips(s):
    s.apply([podnetworking("a", ["vsw-g1"])])
    before = free_ips(s, "vsw-g1")
    s.apply([pod("app", [iface("eth0", "a")])])
    assert free_ips(s, "vsw-g1") == before - 1
    s.delete_pod("app")
    assert podeni(s, "app") is None
    assert pod_enis(s) == {}
    assert free_ips(s, "vsw-g1") == before


def test_fixed_ttl_keeps_ip_for_recreated_pod_then_releases_after_ttl(s):
    s.apply([podnetworking("f", ["vsw-g1"], **fixed("TTL", "1h"))])
    s.apply([pod("web-0", [iface("eth0", "f")])])
    first = pod_ips(s, "web-0")
    mac = podeni(s, "web-0")["spec"]["allocations"][0]["eni"]["mac"]
    (eni_id,) = pod_enis(s)
    assert pod_enis(s)[eni_id].delete_on_release is False

    s.delete_pod("web-0")
    pe = podeni(s, "web-0")
    assert pe["status"]["phase"] == "Unbind" and pe["status"]["podLastSeen"]
    assert pod_enis(s)[eni_id].status == "Available"

    s.advance("30m")
    s.apply([pod("web-0", [iface("eth0", "f")])])
    pe = podeni(s, "web-0")
    assert pe["status"]["phase"] == "Bind"
    assert pod_ips(s, "web-0") == first and pe["spec"]["allocations"][0]["eni"]["mac"] == mac
    assert list(pod_enis(s)) == [eni_id]
    assert pe["metadata"]["annotations"]["k8s.aliyun.com/pod-uid"] == get_pod(s, "web-0")["metadata"]["uid"]

    s.delete_pod("web-0")
    s.advance("59m")
    assert podeni(s, "web-0")["status"]["phase"] == "Unbind", "released before releaseAfter"
    s.advance("2m")
    assert podeni(s, "web-0") is None, "not released within one sweep period after the TTL"
    assert pod_enis(s) == {}
    assert free_ips(s, "vsw-g1") == 252


def test_fixed_never_keeps_ip_until_the_podeni_is_deleted(s):
    s.apply([podnetworking("f", ["vsw-g1"], **fixed("Never", None))])
    s.apply([pod("db-0", [iface("eth0", "f")])])
    s.delete_pod("db-0")
    s.advance("240h")
    assert podeni(s, "db-0")["status"]["phase"] == "Unbind"
    assert len(pod_enis(s)) == 1
    s.admin.delete(PODENIS, "db-0", "default")
    s.run_until_quiescent()
    assert podeni(s, "db-0") is None
    assert pod_enis(s) == {}


def test_fixed_pod_recreated_zone_pinned_by_admission(s):
    s.apply([podnetworking("f", ["vsw-g1", "vsw-h1"], **fixed("TTL", "1h"))])
    s.apply([pod("web-0", [iface("eth0", "f")])])
    zone = podeni(s, "web-0")["spec"]["zone"]
    s.delete_pod("web-0")
    s.apply([pod("web-0", [iface("eth0", "f")])])
    terms = get_pod(s, "web-0")["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    values = [e["values"] for t in terms for e in t["matchExpressions"] if e["key"] == "topology.kubernetes.io/zone"]
    assert [zone] in values
    assert podeni(s, "web-0")["status"]["phase"] == "Bind"


def test_statefulset_pod_recreated_by_controller_gets_its_ip_back(s):
    s.apply([podnetworking("f", ["vsw-g1"], **fixed("TTL", "1h"))])
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"annotations": {"k8s.aliyun.com/pod-networks-request": json.dumps([iface("eth0", "f")])}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
    s.apply([sts])
    ips = {n: pod_ips(s, n) for n in ("web-0", "web-1")}
    assert all(ips[n]["eth0"] for n in ips)
    uid = get_pod(s, "web-1")["metadata"]["uid"]
    s.delete_pod("web-1")  # the StatefulSet controller brings it back under the same name
    assert get_pod(s, "web-1")["metadata"]["uid"] != uid
    assert pod_ips(s, "web-1") == ips["web-1"]
    assert podeni(s, "web-1")["status"]["phase"] == "Bind"


def test_default_eni_type_uses_an_exclusive_eni_on_a_node_without_trunk_but_explicit_trunk_is_refused():
    with system(nodes=[("node-g1", "cn-hangzhou-g", False)]) as s:
        s.apply([podnetworking("d", ["vsw-g1"]), podnetworking("t", ["vsw-g2"], eniOptions={"eniType": "Trunk"})])
        s.apply([pod("plain", [iface("eth0", "d")]), pod("trunked", [iface("eth0", "t")])])
        pe = podeni(s, "plain")
        assert pe["status"]["phase"] == "Bind" and [i["type"] for i in pe["status"]["eniInfos"].values()] == ["Secondary"]
        assert (podeni(s, "trunked").get("status") or {}).get("phase", "") != "Bind"
        msgs = [e["message"] for e in s.snapshot()["events"] if e["reason"] == "AttachENIFailed" and e["name"] == "trunked"]
        assert msgs and "TrunkENINotFound" in msgs[0]
