"""Fault injection, call counters, malformed requests, control routes and seeding of the fake cloud."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_ecs20140526 import models as em
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ClientException, ServerException
from alibabacloud_vpc20160428 import models as vm
from darabonba.exceptions import UnretryableException

from podnet.clock import SimClock
from podnet.fakes.cloud.backend import CloudBackend
from podnet.fakes.cloud.fixtures import REGION, ZONE_G, tea_config
from podnet.fakes.cloud.server import FakeCloudServer

SCENARIO: dict[str, Any] = {
    "kind": "Scenario",
    "cloud": {
        "region": "cn-beijing",
        "vSwitches": [
            {"id": "vsw-a", "zone": "cn-beijing-g", "cidr": "10.0.1.0/24", "availableIPs": 3},
            {"id": "vsw-b", "zone": "cn-beijing-h", "cidr": "10.0.2.0/25"},
        ],
    },
    "nodes": [
        {"name": "node-g1", "zone": "cn-beijing-g", "trunk": True},
        {"name": "node-h1", "zone": "cn-beijing-h", "trunk": False},
    ],
}


def create(ecs: Any, **kw: Any) -> Any:
    req = em.CreateNetworkInterfaceRequest(
        region_id=REGION, v_switch_id="vsw-g1", security_group_ids=["sg-1"], **kw
    )
    return ecs.create_network_interface(req).body


def raw(
    server: FakeCloudServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Authorization": "x", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


# --- faults --------------------------------------------------------------------------------------------
def test_throttle_then_recover(ecs_client: Any, cloud_backend: CloudBackend) -> None:
    cloud_backend.faults.add(service="ecs", kind="throttle", action="CreateNetworkInterface", count=2)
    for _ in range(2):
        with pytest.raises(ClientException) as info:
            create(ecs_client)
        err = info.value
        assert (err.status_code, err.code) == (400, "Throttling.User")
        assert err.data["Message"] == "Request was denied due to user flow control."
    assert not [e for e in cloud_backend.enis.values() if e.type == "Secondary"]  # nothing done
    assert create(ecs_client).status == "Available"
    assert cloud_backend.calls["CreateNetworkInterface"] == 3
    assert cloud_backend.calls_ok["CreateNetworkInterface"] == 1


def test_unavailable_and_custom_error(ecs_client: Any, cloud_backend: CloudBackend) -> None:
    cloud_backend.faults.add(service="ecs", kind="unavailable", action="DescribeNetworkInterfaces", count=1)
    with pytest.raises(ServerException) as info:
        ecs_client.describe_network_interfaces(em.DescribeNetworkInterfacesRequest(region_id=REGION))
    assert (info.value.status_code, info.value.code) == (503, "ServiceUnavailable")

    cloud_backend.faults.add(
        service="ecs",
        kind="error",
        action="CreateNetworkInterface",
        status=403,
        code="Operation.Conflict",
        count=1,
    )
    with pytest.raises(ClientException) as cinfo:
        create(ecs_client)
    assert (cinfo.value.status_code, cinfo.value.code) == (403, "Operation.Conflict")
    assert not [e for e in cloud_backend.enis.values() if e.type == "Secondary"]

    cloud_backend.faults.add(
        service="ecs", kind="error", action="DeleteNetworkInterface", status=500, code="InternalError"
    )
    eni = create(ecs_client).network_interface_id
    with pytest.raises(ServerException) as sinfo:
        ecs_client.delete_network_interface(
            em.DeleteNetworkInterfaceRequest(region_id=REGION, network_interface_id=eni)
        )
    assert sinfo.value.code == "InternalError"
    assert eni in cloud_backend.enis  # an error fault does nothing


def test_faults_are_scoped_by_service_and_action(
    ecs_client: Any, vpc_client: Any, cloud_backend: CloudBackend
) -> None:
    cloud_backend.faults.add(service="vpc", kind="throttle", action="DescribeVSwitches")
    with pytest.raises(ClientException) as info:
        vpc_client.describe_vswitches(vm.DescribeVSwitchesRequest(region_id=REGION))
    assert info.value.code == "Throttling.User" and info.value.data["HostId"] == "vpc.aliyuncs.com"
    assert create(ecs_client).status == "Available"  # ECS is unaffected
    assert cloud_backend.calls == {"DescribeVSwitches": 1, "CreateNetworkInterface": 1}
    assert cloud_backend.calls_ok == {"CreateNetworkInterface": 1}


def test_latency(ecs_client: Any, cloud_backend: CloudBackend) -> None:
    cloud_backend.faults.add(
        service="ecs", kind="latency", action="DescribeNetworkInterfaces", latency_s=0.3, count=1
    )
    start = time.monotonic()
    ecs_client.describe_network_interfaces(em.DescribeNetworkInterfacesRequest(region_id=REGION))
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    ecs_client.describe_network_interfaces(em.DescribeNetworkInterfacesRequest(region_id=REGION))
    assert time.monotonic() - start < 0.3


def test_lose_response_does_the_work(ecs_client: Any, cloud_backend: CloudBackend) -> None:
    cloud_backend.faults.add(service="ecs", kind="lose_response", action="CreateNetworkInterface", count=1)
    with pytest.raises(Exception) as info:
        create(ecs_client, client_token="pod-uid-1/eth1/0")
    assert isinstance(info.value, UnretryableException)  # a transport error, not a service answer
    assert not isinstance(info.value, AlibabaCloudException)
    (made,) = [e for e in cloud_backend.enis.values() if e.type == "Secondary"]  # but the ENI exists
    assert cloud_backend.calls_ok["CreateNetworkInterface"] == 1
    # the retry with the same token gets that ENI back instead of a second one
    assert create(ecs_client, client_token="pod-uid-1/eth1/0").network_interface_id == made.id
    assert len([e for e in cloud_backend.enis.values() if e.type == "Secondary"]) == 1


def test_fault_rate_is_seeded(cloud_backend: CloudBackend, ecs_client: Any) -> None:
    cloud_backend.faults.add(service="ecs", kind="throttle", action="DescribeNetworkInterfaces", rate=0.5)
    outcomes = []
    for _ in range(20):
        try:
            ecs_client.describe_network_interfaces(em.DescribeNetworkInterfacesRequest(region_id=REGION))
            outcomes.append(True)
        except ClientException:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20
    replay = CloudBackend(seed=cloud_backend.seed)
    replay.faults.add(service="ecs", kind="throttle", action="DescribeNetworkInterfaces", rate=0.5)
    assert [not replay.faults.decide("ecs", "DescribeNetworkInterfaces") for _ in range(20)] == outcomes


# --- malformed requests ----------------------------------------------------------------------------
def test_malformed_requests_get_service_errors(
    cloud_server: FakeCloudServer, cloud_backend: CloudBackend
) -> None:
    status, body = raw(cloud_server, "POST", "/?RegionId=cn-hangzhou")
    assert (status, body["Code"]) == (400, "MissingParameter") and body["RequestId"]
    status, body = raw(cloud_server, "POST", "/", headers={"x-acs-action": "RunInstances"})
    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")
    status, body = raw(cloud_server, "POST", "/?Action=AttachNetworkInterface&NetworkInterfaceId=eni-1")
    assert (status, body["Code"]) == (400, "MissingParameter") and "InstanceId" in body["Message"]
    status, body = raw(cloud_server, "POST", "/?Action=DescribeVSwitches&PageSize=ten")
    assert (status, body["Code"]) == (400, "InvalidParameter")
    status, body = raw(
        cloud_server,
        "POST",
        "/?Action=CreateNetworkInterface&VSwitchId=vsw-g1&SecurityGroupId=sg&DeleteOnRelease=maybe",
    )
    assert (status, body["Code"]) == (400, "InvalidParameter")
    status, body = raw(cloud_server, "POST", "/?Action=DescribeNetworkInterfaces&MaxResults=0")
    assert (status, body["Code"]) == (400, "InvalidParameter")
    conn = http.client.HTTPConnection("127.0.0.1", cloud_server.port, timeout=5)
    conn.request("POST", "/?Action=DescribeVSwitches")  # no Authorization header
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())["Code"]) == (400, "IncompleteSignature")
    conn.close()
    assert cloud_backend.calls["RunInstances"] == 1 and cloud_backend.calls_ok == {}


def test_form_body_and_action_in_query(cloud_server: FakeCloudServer, cloud_backend: CloudBackend) -> None:
    form = urlencode(
        {
            "VSwitchId": "vsw-h1",
            "SecurityGroupIds.1": "sg-1",
            "SecurityGroupIds.2": "sg-2",
            "Tag.1.Key": "k",
            "Tag.1.Value": "v",
        }
    ).encode()
    status, body = raw(
        cloud_server,
        "POST",
        "/?Action=CreateNetworkInterface",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and body["ZoneId"] == "cn-hangzhou-h" and body["RequestId"]
    assert body["SecurityGroupIds"]["SecurityGroupId"] == ["sg-1", "sg-2"]
    assert body["Tags"]["Tag"] == [{"TagKey": "k", "TagValue": "v"}]
    status, body = raw(cloud_server, "GET", "/?Action=DescribeNetworkInterfaces&VSwitchId=vsw-h1")
    assert status == 200 and body["TotalCount"] == 1 and body["NextToken"] == ""


# --- control routes, counters, reset -------------------------------------------------------------------
def test_control_routes() -> None:
    backend = CloudBackend(SimClock())
    with FakeCloudServer(backend, scenario=SCENARIO) as server:
        server.reset()  # seeds the scenario
        status, state = raw(server, "GET", "/_fake/state")
        assert status == 200 and state["region"] == "cn-beijing"
        assert [v["id"] for v in state["vSwitches"] if not v.get("internal")] == ["vsw-a", "vsw-b"]
        assert [e["type"] for e in state["enis"]] == ["Trunk"]

        status, rules = raw(
            server,
            "POST",
            "/_fake/faults",
            body=json.dumps({"service": "ecs", "kind": "throttle", "count": 1}).encode(),
        )
        assert status == 200 and rules["rules"][0]["kind"] == "throttle"
        status, err = raw(server, "POST", "/_fake/faults", body=b'{"service": "ecs", "knd": "throttle"}')
        assert status == 400 and "error" in err
        status, body = raw(server, "POST", "/?Action=DescribeNetworkInterfaces")
        assert (status, body["Code"]) == (400, "Throttling.User")

        status, _ = raw(
            server, "POST", "/_fake/available-ips", body=b'{"vSwitchId": "vsw-a", "availableIPs": 0}'
        )
        assert status == 200
        status, body = raw(
            server, "POST", "/?Action=CreateNetworkInterface&VSwitchId=vsw-a&SecurityGroupId=sg"
        )
        assert (status, body["Code"]) == (403, "InvalidVSwitchId.IpNotEnough")
        assert (
            raw(server, "POST", "/_fake/available-ips", body=b'{"vSwitchId": "vsw-zz", "availableIPs": 1}')[0]
            == 400
        )

        status, state = raw(server, "GET", "/_fake/state")
        assert state["apiCalls"] == {"CreateNetworkInterface": 1, "DescribeNetworkInterfaces": 1}
        assert state["apiCallsOk"] == {}

        status, _ = raw(server, "POST", "/_fake/reset")
        assert status == 200
        status, state = raw(server, "GET", "/_fake/state")
        assert state["apiCalls"] == {}
        assert [v["availableIpAddressCount"] for v in state["vSwitches"] if not v.get("internal")] == [3, 124]
        assert raw(server, "GET", "/_fake/faults")[1] == {"rules": []}
        assert raw(server, "GET", "/_fake/nothing")[0] == 404


def test_reset_and_counters(cloud_backend: CloudBackend, ecs_client: Any) -> None:
    create(ecs_client)
    assert cloud_backend.calls["CreateNetworkInterface"] == 1
    cloud_backend.reset_calls()
    assert not cloud_backend.calls and len(cloud_backend.enis) == 2
    cloud_backend.reset()
    assert not cloud_backend.enis and not cloud_backend.vswitches and not cloud_backend.instances


# --- seeding ---------------------------------------------------------------------------------------
def test_seed_from_scenario() -> None:
    backend = CloudBackend(SimClock())
    nodes = backend.seed_from_scenario(SCENARIO["cloud"], SCENARIO["nodes"])
    assert set(nodes) == {"node-g1", "node-h1"} and backend.region == "cn-beijing"
    g1, h1 = nodes["node-g1"], nodes["node-h1"]
    assert g1.instance_id.startswith("i-") and g1.zone == "cn-beijing-g" and h1.trunk_eni_id is None
    trunk = backend.enis[g1.trunk_eni_id or ""]
    assert (trunk.type, trunk.status, trunk.instance_id) == ("Trunk", "InUse", g1.instance_id)
    assert backend.vswitches[trunk.vswitch_id].internal  # not taken from the scenario vSwitch
    assert backend.vswitches["vsw-a"].available_ips == 3
    assert backend.vswitches["vsw-b"].available_ips == 124
    # ids derive from the node name: another backend (any seed) gives the same ones
    again = CloudBackend(seed=7).seed_from_scenario(SCENARIO["cloud"], SCENARIO["nodes"])
    assert (again["node-g1"].instance_id, again["node-g1"].trunk_eni_id) == (g1.instance_id, g1.trunk_eni_id)
    assert backend.add_instance("node-g1", "cn-beijing-g", trunk=True) is g1
    with pytest.raises(ValueError):
        backend.add_instance("node-g1", "cn-beijing-h", trunk=True)
    with pytest.raises(ValueError):
        backend.add_vswitch("vsw-c", "cn-beijing-g", "10.0.3.0/24", available_ips=253)
    state = backend.state()
    assert [v["id"] for v in state["vSwitches"]] == ["vsw-a", "vsw-b"]
    assert state["enis"][0]["type"] == "Trunk" and state["instances"][0]["nodeName"] == "node-g1"


def test_same_seed_same_ids() -> None:
    def run(seed: int) -> list[tuple[str, str]]:
        b = CloudBackend(SimClock(), seed=seed)
        b.add_vswitch("vsw-a", ZONE_G, "10.0.0.0/24")
        return [
            (e.id, e.mac)
            for e in (
                b.create_network_interface(vswitch_id="vsw-a", security_group_ids=["sg"]) for _ in range(3)
            )
        ]

    assert run(1) == run(1) and run(1) != run(2)


def test_parallel_creates_are_consistent(cloud_server: FakeCloudServer, cloud_backend: CloudBackend) -> None:
    from alibabacloud_ecs20140526.client import Client

    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        client = Client(tea_config(cloud_server))
        for _ in range(5):
            ip = create(client).private_ip_address
            with lock:
                results.append(ip)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 == len(set(results))
    assert cloud_backend.vswitches["vsw-g1"].available_ips == 252 - 40
    assert sorted(results, key=lambda ip: int(ip.split(".")[-1])) == [f"10.0.1.{i}" for i in range(1, 41)]
