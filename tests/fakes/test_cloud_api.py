"""The fake ECS + VPC driven through the real Tea SDK clients (alibabacloud_ecs20140526 / _vpc20160428)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as em
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vm

from podnet.fakes.cloud.backend import CloudBackend, Instance
from podnet.fakes.cloud.fixtures import REGION, ZONE_G, ZONE_H

SG = ["sg-a", "sg-b"]


def create(ecs: Any, vsw: str = "vsw-g1", **kw: Any) -> Any:
    tags = kw.pop("tags", {"ack.aliyun.com": "c1", "creator": "podnet"})
    req = em.CreateNetworkInterfaceRequest(
        region_id=REGION,
        v_switch_id=vsw,
        security_group_ids=kw.pop("security_group_ids", SG),
        tag=[em.CreateNetworkInterfaceRequestTag(key=k, value=v) for k, v in tags.items()],
        **kw,
    )
    return ecs.create_network_interface(req).body


def describe(ecs: Any, **kw: Any) -> Any:
    tags = kw.pop("tags", None)
    if tags:
        kw["tag"] = [em.DescribeNetworkInterfacesRequestTag(key=k, value=v) for k, v in tags.items()]
    return ecs.describe_network_interfaces(em.DescribeNetworkInterfacesRequest(region_id=REGION, **kw)).body


def one(ecs: Any, eni_id: str) -> Any:
    items = describe(ecs, network_interface_id=[eni_id]).network_interface_sets.network_interface_set
    assert len(items) == 1
    return items[0]


def vswitch(vpc: Any, vsw_id: str) -> Any:
    req = vm.DescribeVSwitchesRequest(region_id=REGION, v_switch_id=vsw_id)
    (item,) = vpc.describe_vswitches(req).body.v_switches.v_switch
    return item


def attach(ecs: Any, eni_id: str, instance_id: str, trunk: str | None = None) -> None:
    ecs.attach_network_interface(
        em.AttachNetworkInterfaceRequest(
            region_id=REGION,
            network_interface_id=eni_id,
            instance_id=instance_id,
            trunk_network_instance_id=trunk,
        )
    )


def detach(ecs: Any, eni_id: str, instance_id: str, trunk: str | None = None) -> None:
    ecs.detach_network_interface(
        em.DetachNetworkInterfaceRequest(
            region_id=REGION,
            network_interface_id=eni_id,
            instance_id=instance_id,
            trunk_network_instance_id=trunk,
        )
    )


def delete(ecs: Any, eni_id: str) -> None:
    ecs.delete_network_interface(
        em.DeleteNetworkInterfaceRequest(region_id=REGION, network_interface_id=eni_id)
    )


def error_of(fn: Any, *args: Any, **kw: Any) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn(*args, **kw)
    return info.value


# --- VPC DescribeVSwitches --------------------------------------------------------------------------
def test_describe_vswitches_fields_and_filters(vpc_client: Any) -> None:
    body = vpc_client.describe_vswitches(vm.DescribeVSwitchesRequest(region_id=REGION)).body
    ids = [v.v_switch_id for v in body.v_switches.v_switch]
    assert ids == ["vsw-g1", "vsw-g2", "vsw-h1"]  # the internal node vSwitch is not listed
    assert body.total_count == 3 and body.request_id
    g1 = vswitch(vpc_client, "vsw-g1")
    assert (g1.vpc_id, g1.zone_id, g1.cidr_block, g1.status) == (
        "vpc-podnet",
        ZONE_G,
        "10.0.1.0/24",
        "Available",
    )
    assert g1.available_ip_address_count == 252  # /24 minus the network address and the last three
    by_zone = vpc_client.describe_vswitches(
        vm.DescribeVSwitchesRequest(region_id=REGION, zone_id=ZONE_H)
    ).body
    assert [v.v_switch_id for v in by_zone.v_switches.v_switch] == ["vsw-h1"]
    other_vpc = vpc_client.describe_vswitches(
        vm.DescribeVSwitchesRequest(region_id=REGION, vpc_id="vpc-other")
    ).body
    assert other_vpc.total_count == 0 and other_vpc.v_switches.v_switch == []
    missing = vpc_client.describe_vswitches(
        vm.DescribeVSwitchesRequest(region_id=REGION, v_switch_id="vsw-nope")
    ).body
    assert missing.total_count == 0


def test_describe_vswitches_paging(vpc_client: Any, cloud_backend: CloudBackend) -> None:
    for i in range(4):
        cloud_backend.add_vswitch(f"vsw-x{i}", ZONE_H, f"10.1.{i}.0/28")
    seen: list[str] = []
    for page in (1, 2, 3):
        body = vpc_client.describe_vswitches(
            vm.DescribeVSwitchesRequest(region_id=REGION, page_number=page, page_size=3)
        ).body
        assert (body.total_count, body.page_number, body.page_size) == (7, page, 3)
        seen += [v.v_switch_id for v in body.v_switches.v_switch]
    assert seen == ["vsw-g1", "vsw-g2", "vsw-h1", "vsw-x0", "vsw-x1", "vsw-x2", "vsw-x3"]
    assert vswitch(vpc_client, "vsw-x0").available_ip_address_count == 12
    err = error_of(vpc_client.describe_vswitches, vm.DescribeVSwitchesRequest(region_id=REGION, page_size=51))
    assert (err.status_code, err.code) == (400, "InvalidParameter")


# --- CreateNetworkInterface / DeleteNetworkInterface ------------------------------------------------
def test_create_fields_lowest_ip_and_accounting(ecs_client: Any, vpc_client: Any) -> None:
    a = create(
        ecs_client, description="interface create by podnet", delete_on_release=False, source_dest_check=False
    )
    assert re.fullmatch(r"eni-[a-z0-9]+", a.network_interface_id)
    assert (a.status, a.type, a.vpc_id, a.v_switch_id, a.zone_id) == (
        "Available",
        "Secondary",
        "vpc-podnet",
        "vsw-g1",
        ZONE_G,
    )
    assert a.private_ip_address == "10.0.1.1"
    assert re.fullmatch(r"00:16:3e(:[0-9a-f]{2}){3}", a.mac_address)
    assert a.security_group_ids.security_group_id == SG
    assert {(t.tag_key, t.tag_value) for t in a.tags.tag} == {("ack.aliyun.com", "c1"), ("creator", "podnet")}
    assert a.request_id
    b = create(ecs_client)
    assert b.private_ip_address == "10.0.1.2" and b.mac_address != a.mac_address
    assert b.network_interface_id != a.network_interface_id
    assert vswitch(vpc_client, "vsw-g1").available_ip_address_count == 250
    assert vswitch(vpc_client, "vsw-g2").available_ip_address_count == 252

    got = one(ecs_client, a.network_interface_id)
    assert got.delete_on_release is False and got.source_dest_check is False
    assert got.description == "interface create by podnet"

    delete(ecs_client, a.network_interface_id)
    assert vswitch(vpc_client, "vsw-g1").available_ip_address_count == 251
    assert describe(ecs_client, network_interface_id=[a.network_interface_id]).total_count == 0
    c = create(ecs_client)
    assert c.private_ip_address == "10.0.1.1"  # the freed address is the lowest free one again
    err = error_of(delete, ecs_client, a.network_interface_id)
    assert (err.status_code, err.code) == (404, "InvalidEniId.NotFound")


def test_create_parameters_and_errors(ecs_client: Any) -> None:
    single = ecs_client.create_network_interface(
        em.CreateNetworkInterfaceRequest(region_id=REGION, v_switch_id="vsw-h1", security_group_id="sg-only")
    ).body
    assert single.security_group_ids.security_group_id == ["sg-only"] and single.zone_id == ZONE_H
    trunk = create(ecs_client, instance_type="Trunk", network_interface_name="trunk-x")
    assert trunk.type == "Trunk" and trunk.network_interface_name == "trunk-x"

    err = error_of(create, ecs_client, vsw="vsw-nope")
    assert (err.status_code, err.code) == (404, "InvalidVSwitchId.NotFound")
    err = error_of(create, ecs_client, security_group_ids=None)
    assert (err.status_code, err.code) == (400, "MissingParameter")
    err = error_of(create, ecs_client, instance_type="Weird")
    assert (err.status_code, err.code) == (400, "InvalidParameter")


def test_ip_exhaustion(ecs_client: Any, vpc_client: Any, cloud_backend: CloudBackend) -> None:
    cloud_backend.set_available_ips("vsw-g1", 0)
    err = error_of(create, ecs_client)
    assert (err.status_code, err.code) == (403, "InvalidVSwitchId.IpNotEnough")
    assert err.request_id and err.data["HostId"] == "ecs.aliyuncs.com" and "Recommend" in err.data

    cloud_backend.add_vswitch("vsw-tiny", ZONE_G, "10.9.0.0/24", available_ips=2)
    assert vswitch(vpc_client, "vsw-tiny").available_ip_address_count == 2
    first = create(ecs_client, vsw="vsw-tiny")
    create(ecs_client, vsw="vsw-tiny")
    assert error_of(create, ecs_client, vsw="vsw-tiny").code == "InvalidVSwitchId.IpNotEnough"
    delete(ecs_client, first.network_interface_id)
    assert create(ecs_client, vsw="vsw-tiny").private_ip_address == first.private_ip_address

    cloud_backend.add_vswitch("vsw-29", ZONE_G, "10.9.1.0/29")  # 8 addresses, 4 usable: .1 .. .4
    ips = [create(ecs_client, vsw="vsw-29").private_ip_address for _ in range(4)]
    assert ips == ["10.9.1.1", "10.9.1.2", "10.9.1.3", "10.9.1.4"]
    assert error_of(create, ecs_client, vsw="vsw-29").code == "InvalidVSwitchId.IpNotEnough"
    assert cloud_backend.calls["CreateNetworkInterface"] == 10
    assert cloud_backend.calls_ok["CreateNetworkInterface"] == 7


def test_client_token_replay_and_mismatch(
    ecs_client: Any, vpc_client: Any, cloud_backend: CloudBackend
) -> None:
    first = create(ecs_client, client_token="tok-1")
    again = create(ecs_client, client_token="tok-1")
    assert again.network_interface_id == first.network_interface_id
    assert again.private_ip_address == first.private_ip_address and again.request_id != first.request_id
    assert len([e for e in cloud_backend.enis.values() if e.type == "Secondary"]) == 1
    assert vswitch(vpc_client, "vsw-g1").available_ip_address_count == 251  # only one IP taken

    err = error_of(create, ecs_client, client_token="tok-1", tags={"other": "x"})
    assert (err.status_code, err.code) == (400, "IdempotentParameterMismatch")
    err = error_of(create, ecs_client, vsw="vsw-g2", client_token="tok-1")
    assert err.code == "IdempotentParameterMismatch"

    # ECS remembers the token after the ENI is gone: the original result comes back, nothing new is made
    delete(ecs_client, first.network_interface_id)
    replay = create(ecs_client, client_token="tok-1")
    assert replay.network_interface_id == first.network_interface_id
    assert first.network_interface_id not in cloud_backend.enis

    other = create(ecs_client, client_token="tok-2")
    assert other.network_interface_id != first.network_interface_id

    # a failed create does not consume its token
    cloud_backend.set_available_ips("vsw-h1", 0)
    assert (
        error_of(create, ecs_client, vsw="vsw-h1", client_token="tok-3").code
        == "InvalidVSwitchId.IpNotEnough"
    )
    cloud_backend.set_available_ips("vsw-h1", 5)
    assert create(ecs_client, vsw="vsw-h1", client_token="tok-3").zone_id == ZONE_H


# --- Attach / Detach ----------------------------------------------------------------------------------
def test_attach_detach_secondary_async(
    ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance
) -> None:
    eni = create(ecs_client).network_interface_id
    attach(ecs_client, eni, trunk_node.instance_id)
    seen = one(ecs_client, eni)
    assert seen.status == "Attaching" and seen.instance_id == trunk_node.instance_id
    err = error_of(attach, ecs_client, eni, trunk_node.instance_id)
    assert (err.status_code, err.code) == (403, "InvalidOperation.InvalidEniState")
    err = error_of(delete, ecs_client, eni)
    assert (err.status_code, err.code) == (403, "InvalidOperation.InvalidEniState")
    seen = one(ecs_client, eni)
    assert seen.status == "InUse" and seen.type == "Secondary"
    assert seen.attachment.instance_id == trunk_node.instance_id
    assert seen.attachment.device_index == 2  # 1 is the node's trunk ENI
    assert seen.attachment.trunk_network_interface_id is None
    assert error_of(delete, ecs_client, eni).code == "InvalidOperation.InvalidEniState"

    detach(ecs_client, eni, trunk_node.instance_id)
    detach(ecs_client, eni, trunk_node.instance_id)  # re-initiating a detach in progress is allowed
    assert one(ecs_client, eni).status == "Detaching"
    seen = one(ecs_client, eni)
    assert seen.status == "Available" and seen.attachment is None and seen.instance_id == ""
    err = error_of(detach, ecs_client, eni, trunk_node.instance_id)
    assert err.code == "InvalidOperation.InvalidEniState"
    delete(ecs_client, eni)
    assert eni not in cloud_backend.enis


def test_trunk_members_get_vlan_ids(
    ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance
) -> None:
    cloud_backend.attach_delay = 0  # InUse at once
    trunk = trunk_node.trunk_eni_id
    assert trunk is not None
    t = one(ecs_client, trunk)
    assert (t.type, t.status, t.instance_id, t.zone_id) == ("Trunk", "InUse", trunk_node.instance_id, ZONE_G)
    assert not t.private_ip_address.startswith("10.0.")  # trunk IPs come from the internal node vSwitch

    members = [create(ecs_client).network_interface_id for _ in range(3)]
    for m in members:
        attach(ecs_client, m, trunk_node.instance_id, trunk)
    got = [one(ecs_client, m) for m in members]
    assert [g.attachment.device_index for g in got] == [1, 2, 3]
    assert {
        (g.type, g.status, g.attachment.trunk_network_interface_id, g.attachment.instance_id) for g in got
    } == {("Member", "InUse", trunk, trunk_node.instance_id)}
    members_listed = describe(
        ecs_client, type="Member", status="InUse"
    ).network_interface_sets.network_interface_set
    assert sorted(m.network_interface_id for m in members_listed) == sorted(members)

    detach(ecs_client, members[0], trunk_node.instance_id, trunk)
    freed = one(ecs_client, members[0])
    assert (freed.type, freed.status, freed.attachment) == ("Secondary", "Available", None)
    fourth = create(ecs_client).network_interface_id
    attach(ecs_client, fourth, trunk_node.instance_id, trunk)
    assert one(ecs_client, fourth).attachment.device_index == 1  # the lowest free VLAN id is reused

    err = error_of(detach, ecs_client, members[1], trunk_node.instance_id, "eni-not-this-trunk")
    assert (err.status_code, err.code) == (400, "InvalidParameter")


def test_attach_errors(ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance) -> None:
    eni = create(ecs_client).network_interface_id
    err = error_of(attach, ecs_client, "eni-nope", trunk_node.instance_id)
    assert (err.status_code, err.code) == (404, "InvalidEniId.NotFound")
    err = error_of(attach, ecs_client, eni, "i-nope")
    assert (err.status_code, err.code) == (404, "InvalidInstanceId.NotFound")
    err = error_of(detach, ecs_client, eni, "i-nope")
    assert (err.status_code, err.code) == (404, "InvalidEcsId.NotFound")
    err = error_of(detach, ecs_client, "eni-nope", trunk_node.instance_id)
    assert (err.status_code, err.code) == (404, "InvalidEniId.NotFound")

    plain = cloud_backend.add_instance("node-g2", ZONE_G, trunk=False)
    assert plain.trunk_eni_id is None
    err = error_of(attach, ecs_client, eni, plain.instance_id, trunk_node.trunk_eni_id)
    assert (err.status_code, err.code) == (
        403,
        "InvalidOperation.InvalidEniState",
    )  # trunk is on another instance
    err = error_of(attach, ecs_client, eni, trunk_node.instance_id, eni)
    assert (err.status_code, err.code) == (403, "InvalidOperation.InvalidEniType")  # not a trunk ENI
    err = error_of(attach, ecs_client, eni, trunk_node.instance_id, "eni-missing-trunk")
    assert err.code == "InvalidEniId.NotFound"
    other_zone = create(ecs_client, vsw="vsw-h1").network_interface_id
    err = error_of(attach, ecs_client, other_zone, trunk_node.instance_id)
    assert (err.status_code, err.code) == (403, "InvalidOperation.ZoneMismatch")
    assert one(ecs_client, eni).status == "Available"  # failed attaches change nothing


def test_attach_delay_on_the_clock(
    ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance
) -> None:
    cloud_backend.attach_delay = timedelta(seconds=5)
    cloud_backend.detach_delay = 2.0
    clock = cloud_backend.clock
    eni = create(ecs_client).network_interface_id
    attach(ecs_client, eni, trunk_node.instance_id, trunk_node.trunk_eni_id)
    for _ in range(3):  # describes alone do not move a time-based transition
        assert one(ecs_client, eni).status == "Attaching"
    clock.advance(4.9)  # type: ignore[attr-defined]
    assert one(ecs_client, eni).status == "Attaching"
    clock.advance(0.1)  # type: ignore[attr-defined]
    assert one(ecs_client, eni).status == "InUse"
    detach(ecs_client, eni, trunk_node.instance_id, trunk_node.trunk_eni_id)
    assert one(ecs_client, eni).status == "Detaching"
    clock.advance(2)  # type: ignore[attr-defined]
    assert one(ecs_client, eni).type == "Secondary"
    assert cloud_backend.enis[eni].status == "Available"


def test_attach_delay_counts_describes(
    ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance
) -> None:
    cloud_backend.attach_delay = 3
    eni = create(ecs_client).network_interface_id
    attach(ecs_client, eni, trunk_node.instance_id)
    describe(ecs_client, network_interface_id=["eni-other"])  # does not include it: does not count
    assert [one(ecs_client, eni).status for _ in range(4)] == ["Attaching"] * 3 + ["InUse"]


# --- DescribeNetworkInterfaces ----------------------------------------------------------------------
def test_describe_filters(ecs_client: Any, cloud_backend: CloudBackend, trunk_node: Instance) -> None:
    cloud_backend.attach_delay = 0
    a = create(ecs_client, tags={"ack.aliyun.com": "c1", "creator": "podnet", "pod": "web-0"})
    cloud_backend.clock.advance(3600)  # type: ignore[attr-defined]
    b = create(ecs_client, vsw="vsw-g2", tags={"ack.aliyun.com": "c1", "creator": "other"})
    c = create(ecs_client, vsw="vsw-h1", tags={"ack.aliyun.com": "c2"})
    attach(ecs_client, b.network_interface_id, trunk_node.instance_id, trunk_node.trunk_eni_id)

    def ids(**kw: Any) -> set[str]:
        return {
            e.network_interface_id
            for e in describe(ecs_client, **kw).network_interface_sets.network_interface_set
        }

    A, B, C, T = (
        a.network_interface_id,
        b.network_interface_id,
        c.network_interface_id,
        trunk_node.trunk_eni_id,
    )
    assert ids(max_results=100) == {A, B, C, T}
    assert ids(tags={"ack.aliyun.com": "c1"}) == {A, B}
    assert ids(tags={"ack.aliyun.com": "c1", "creator": "podnet"}) == {A}  # tags AND together
    assert ids(tags={"creator": None}) == {A, B}  # a key without value matches any value
    assert ids(instance_id=trunk_node.instance_id) == {B, T}
    assert ids(v_switch_id="vsw-h1") == {C}
    assert ids(status="Available") == {A, C}
    assert ids(type="Trunk") == {T}
    assert ids(type="Member") == {B}
    assert ids(private_ip_address=[a.private_ip_address, c.private_ip_address]) == {A, C}
    assert ids(network_interface_id=[A, C, "eni-gone"]) == {A, C}  # unknown ids are just absent
    assert ids(network_interface_id=[A], status="InUse") == set()
    assert ids(vpc_id="vpc-podnet", type="Secondary") == {A, C}

    item = one(ecs_client, A)
    assert item.creation_time == "2025-01-01T00:00:00Z"
    assert one(ecs_client, B).creation_time == "2025-01-01T01:00:00Z"
    assert item.v_switch_id == "vsw-g1" and item.vpc_id == "vpc-podnet" and item.zone_id == ZONE_G
    assert item.mac_address == a.mac_address and item.private_ip_address == a.private_ip_address
    assert {(t.tag_key, t.tag_value) for t in item.tags.tag} == {
        ("ack.aliyun.com", "c1"),
        ("creator", "podnet"),
        ("pod", "web-0"),
    }
    assert item.security_group_ids.security_group_id == SG and item.delete_on_release is True

    err = error_of(describe, ecs_client, network_interface_id=[f"eni-{i}" for i in range(101)])
    assert (err.status_code, err.code) == (400, "InvalidParameter")


def test_describe_paging(ecs_client: Any, cloud_backend: CloudBackend) -> None:
    made = [create(ecs_client).network_interface_id for _ in range(24)]
    everything = [cloud_backend.add_instance("node-g1", ZONE_G, trunk=True).trunk_eni_id, *made]
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        body = describe(ecs_client, max_results=10, next_token=token)
        assert body.total_count == 25
        pages.append([e.network_interface_id for e in body.network_interface_sets.network_interface_set])
        token = body.next_token
        if token == "":
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == everything

    # a default describe answers 10 and a token for the rest
    first = describe(ecs_client)
    assert len(first.network_interface_sets.network_interface_set) == 10 and first.next_token

    # a token stays valid when items are deleted between pages
    body = describe(ecs_client, max_results=5)
    delete(ecs_client, made[4])
    rest = describe(ecs_client, max_results=500, next_token=body.next_token)
    assert [e.network_interface_id for e in rest.network_interface_sets.network_interface_set] == made[5:]
    assert rest.next_token == ""

    legacy = describe(ecs_client, page_number=3, page_size=10)
    assert (legacy.page_number, legacy.page_size, legacy.total_count) == (3, 10, 24)
    assert len(legacy.network_interface_sets.network_interface_set) == 4
    assert error_of(describe, ecs_client, next_token="not-hex").code == "InvalidParameter"
    assert error_of(describe, ecs_client, max_results=501).code == "InvalidParameter"


def test_describe_instances(ecs_client: Any, trunk_node: Instance) -> None:
    req = em.DescribeInstancesRequest(region_id=REGION, instance_ids=f'["{trunk_node.instance_id}"]')
    body = ecs_client.describe_instances(req).body
    (inst,) = body.instances.instance
    assert (inst.instance_id, inst.zone_id, inst.status) == (trunk_node.instance_id, ZONE_G, "Running")
    assert body.total_count == 1
    none = ecs_client.describe_instances(
        em.DescribeInstancesRequest(region_id=REGION, instance_ids='["i-x"]')
    ).body
    assert none.total_count == 0
