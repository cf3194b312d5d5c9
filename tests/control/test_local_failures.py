"""End to end on the local system: exhaustion, selection policies, throttling, bad messages, leaked ENIs,
pods that slipped past admission, and what the user sees (rejections, events)."""

from __future__ import annotations

import json

import pytest

from podnet.fakes.cloud.backend import VSwitchIpNotEnough
from podnet.ports import EVENTS, PODS
from podnet.steps.messages import Envelope
from tests.control.scenario_helpers import (
    REQUEST,
    free_ips,
    iface,
    pod,
    pod_enis,
    podeni,
    podnetworking,
    system,
)


def events(s, reason=None):
    out = [e for e in s.kube.list(EVENTS)[0] if reason is None or e["reason"] == reason]
    return out


def test_exhausted_vswitch_is_skipped_for_the_next_in_zone():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24", 0), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24")]) as s:
        s.apply([podnetworking("a", ["vsw-g1", "vsw-g2"])])
        s.apply([pod("app", [iface("eth0", "a")])])
        pe = podeni(s, "app")
        assert pe["status"]["phase"] == "Bind"
        assert pe["spec"]["allocations"][0]["eni"]["vSwitchID"] == "vsw-g2"


def test_vswitch_running_out_during_create_moves_to_the_next_one():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24", 1), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24")]) as s:
        s.apply([podnetworking("a", ["vsw-g1", "vsw-g2"])])
        s.apply([pod("one", [iface("eth0", "a")])])
        # the describe still says there are IPs, but the create finds none: IpNotEnough → next vSwitch
        s.cloud_backend.faults.add(service="ecs", kind="error", action="CreateNetworkInterface", status=403,
                                   code="InvalidVSwitchId.IpNotEnough", count=1)
        s.apply([pod("two", [iface("eth0", "a")])])
        assert podeni(s, "two")["spec"]["allocations"][0]["eni"]["vSwitchID"] == "vsw-g2"
        assert podeni(s, "two")["status"]["phase"] == "Bind"


def test_all_vswitches_exhausted_fails_the_pod_with_a_clear_reason_then_recovers():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24", 0)]) as s:
        s.apply([podnetworking("a", ["vsw-g1"])])
        s.apply([pod("app", [iface("eth0", "a")])])
        reasons = [e["message"] for e in events(s, "PodCreateFailed")]
        assert reasons and "NoAvailableVSwitch" in reasons[0] and "vsw-g1" in reasons[0]
        assert podeni(s, "app") is None and pod_enis(s) == {}
        s.advance("10m")
        assert podeni(s, "app") is None and len(events(s, "PodCreateFailed")) == 1, "one event, not one per retry"
        s.cloud_backend.set_available_ips("vsw-g1", 5)  # IPs freed elsewhere: the sweep re-drives the pod
        s.advance("2m")
        assert podeni(s, "app")["status"]["phase"] == "Bind"
        assert not s.dead_letters()


def test_second_interface_without_ips_rolls_back_the_first():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24"), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24")]) as s:
        s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
        real_create = s.cloud_backend.create_network_interface

        def create(**kw):  # vsw-g2 still shows free IPs, but every create there finds none
            if kw["vswitch_id"] == "vsw-g2":
                raise VSwitchIpNotEnough()
            return real_create(**kw)

        s.cloud_backend.create_network_interface = create
        s.apply([pod("app", [iface("eth0", "a"), iface("eth1", "b")])])
        pe = podeni(s, "app")
        assert all(not a["eni"]["id"] for a in pe["spec"]["allocations"]), "a partial allocation was left behind"
        assert pod_enis(s) == {} and free_ips(s, "vsw-g1") == 252
        assert int(pe["metadata"]["annotations"]["podnet.alibabacloud.com/allocation-attempt"]) >= 1
        msgs = [e["message"] for e in events(s, "PodCreateFailed")]
        assert any("eth1" in m and "NoAvailableVSwitch" in m for m in msgs)
        s.cloud_backend.create_network_interface = real_create  # IPs appear: the sweep re-drives the pod
        s.advance("2m")
        assert podeni(s, "app")["status"]["phase"] == "Bind" and len(pod_enis(s)) == 2


def test_partial_allocation_is_rolled_back():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24"), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24", 0)]) as s:
        s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2", "vsw-g1"])])
        # b's only in-zone vSwitch with IPs is vsw-g1; make the first create for eth1 fail hard
        s.cloud_backend.faults.add(service="ecs", kind="error", action="CreateNetworkInterface", status=403,
                                   code="InvalidSecurityGroupId.NotFound", count=1)
        s.apply([pod("app", [iface("eth0", "a"), iface("eth1", "b")])])
        pe = podeni(s, "app")
        assert pe["status"]["phase"] == "Bind"
        assert len(pod_enis(s)) == 2, "the rolled-back attempt left an ENI behind"
        assert free_ips(s, "vsw-g1") == 250
        assert int(pe["metadata"]["annotations"]["podnet.alibabacloud.com/allocation-attempt"]) == 1
        assert events(s, "CreateENIFailed")


@pytest.mark.parametrize("policy, expected", [("ordered", "vsw-g1"), ("most", "vsw-g2")])
def test_selection_policy(policy, expected):
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24", 10), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24", 100)]) as s:
        s.apply([podnetworking("a", ["vsw-g1", "vsw-g2"], vSwitchSelectOptions={"vSwitchSelectionPolicy": policy})])
        s.apply([pod("app", [iface("eth0", "a")])])
        assert podeni(s, "app")["spec"]["allocations"][0]["eni"]["vSwitchID"] == expected


def test_random_policy_spreads_and_stays_in_zone():
    with system(vswitches=[("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24"), ("vsw-g2", "cn-hangzhou-g", "10.0.2.0/24"),
                           ("vsw-h1", "cn-hangzhou-h", "10.0.3.0/24")]) as s:
        s.apply([podnetworking("a", ["vsw-g1", "vsw-g2", "vsw-h1"], vSwitchSelectOptions={"vSwitchSelectionPolicy": "random"})])
        s.apply([pod(f"p{i}", [iface("eth0", "a")]) for i in range(8)])
        used = {podeni(s, f"p{i}")["spec"]["allocations"][0]["eni"]["vSwitchID"] for i in range(8)}
        assert used == {"vsw-g1", "vsw-g2"}


def test_throttling_and_lost_responses_still_converge_without_extra_enis():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
        s.cloud_backend.faults.add(service="ecs", kind="throttle", action="*", rate=0.3)
        s.cloud_backend.faults.add(service="ecs", kind="lose_response", action="CreateNetworkInterface", count=2)
        s.apply([pod(f"p{i}", [iface("eth0", "a"), iface("eth1", "b")]) for i in range(4)])
        assert all(podeni(s, f"p{i}")["status"]["phase"] == "Bind" for i in range(4))
        assert len(pod_enis(s)) == 8
        assert free_ips(s, "vsw-g1") == 248 and free_ips(s, "vsw-g2") == 248
        assert not s.dead_letters()


def test_bad_messages_go_to_the_dead_letter_queue_with_a_reason():
    with system() as s:
        s.queues["allocate"].send(["not json", json.dumps({"step": "allocate"}), "x" * 5000])
        s.queues["bind"].send([Envelope(step="allocate", kind="Pod", key="default/nope").to_body()])  # wrong queue: forwarded
        s.run_until_quiescent()
        reasons = sorted(d["reason"] for d in s.dead_letters())
        assert len(reasons) == 3
        assert any("not JSON" in r for r in reasons)
        assert any("invalid envelope" in r and "kind" in r for r in reasons)
        assert any("too large" in r for r in reasons)


def test_leaked_enis_are_collected_after_grace_and_two_sweeps():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"])])
        s.apply([pod("app", [iface("eth0", "a")])])
        leaked = s.cloud.create_network_interface(
            vswitch_id="vsw-g1", security_group_ids=["sg-a"], client_token="leak-1",
            tags={"ack.aliyun.com": s.settings.cluster_id, "creator": "podnet"}, delete_on_release=True,
        )
        foreign = s.cloud.create_network_interface(
            vswitch_id="vsw-g1", security_group_ids=["sg-a"], client_token="foreign-1",
            tags={"creator": "someone-else"}, delete_on_release=True,
        )
        s.advance("5m")
        assert leaked.id in s.cloud_backend.enis, "collected before the grace period"
        s.advance("20m")
        assert leaked.id not in s.cloud_backend.enis
        assert foreign.id in s.cloud_backend.enis, "an ENI that is not ours was touched"
        assert podeni(s, "app")["status"]["phase"] == "Bind" and len(pod_enis(s)) == 2


def test_pod_that_got_past_a_down_webhook_is_validated_before_allocation():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"])])
        s.kube_backend._hooks.clear()  # the webhook is down (failurePolicy Ignore)
        bad = pod("bad", [iface("eth0", "a"), iface("eth0", "missing-net")])
        s.apply([bad, pod("good", [iface("eth0", "a")])])
        assert podeni(s, "bad") is None
        msgs = [e["message"] for e in events(s, "PodCreateFailed") if e["involvedObject"]["name"] == "bad"]
        assert msgs and "DuplicateInterfaceName" in msgs[0]
        assert podeni(s, "good")["status"]["phase"] == "Bind"


def test_rejected_objects_are_reported_with_reason_codes():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("bad", [])])
        s.apply([pod("dup", [iface("eth1", "a"), iface("eth1", "a")])])
        report = s.snapshot()
        rejected = {(r["kind"], r["name"]): r for r in report["rejected"]}
        assert ("PodNetworking", "bad") in rejected and ("Pod", "dup") in rejected
        codes = {x["code"] for x in rejected[("Pod", "dup")]["reasons"]}
        assert "DuplicateInterfaceName" in codes
        assert all(x["field"] for x in rejected[("Pod", "dup")]["reasons"])
        assert s.kube.get(PODS, "dup", "default") is None


def test_json_report_has_the_contracted_shape():
    with system() as s:
        s.apply([podnetworking("a", ["vsw-g1"])])
        s.apply([pod("app", [iface("eth0", "a")])])
        report = s.snapshot()
        assert set(report) == {"podNetworkings", "pods", "podENIs", "enis", "vSwitches", "rejected", "events", "apiCalls"}
        eni_keys = {"id", "type", "status", "vSwitchId", "zoneId", "privateIpAddress", "macAddress", "instanceId",
                    "trunkNetworkInterfaceId", "deviceIndex", "tags"}
        assert all(set(e) == eni_keys for e in report["enis"])
        assert {e["type"] for e in report["enis"]} == {"Trunk", "Member"}
        assert all(set(v) == {"id", "zoneId", "cidrBlock", "availableIpAddressCount"} for v in report["vSwitches"])
        assert report["apiCalls"]["CreateNetworkInterface"] == 1
        assert report["pods"][0]["metadata"]["annotations"][REQUEST]
        assert {(e["reason"]) for e in report["events"]} >= {"CreateENISucceed", "AttachENISucceed", "SyncPodNetworkingSucceed"}
