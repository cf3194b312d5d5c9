"""OpenApiCloud against the fake ECS/VPC over HTTP, through both transports (Tea's generic client and
our own ACS3 signer, ``podnet.adapters.acs3``): the ``transport`` fixture runs each test with each."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from podnet.adapters.cloud import CloudCredentials, OpenApiCloud
from podnet.adapters.ratelimit import RateLimiter
from podnet.adapters.retry import RetryPolicy
from podnet.clock import SimClock
from podnet.errors import CloudError, CloudTransportError, PermanentError, RetryableError
from podnet.metrics import Metrics

TAGS = {"ack.aliyun.com": "c1", "creator": "podnet"}


class Sleeps(list[float]):
    """Records the sleeps the adapter asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=["tea", "signed"])
def transport(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def cloud(cloud_server: Any, sleeps: Sleeps, transport: str) -> OpenApiCloud:
    return OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint=cloud_server.endpoint,
        vpc_endpoint=cloud_server.endpoint,
        credentials=CloudCredentials("ak", "sk"),
        protocol="http",
        clock=SimClock(),
        retry=RetryPolicy(sleep=sleeps, jitter=0.0),
        metrics=Metrics(),
        timeout_s=5,
        transport=transport,
    )


def create(cloud: OpenApiCloud, token: str = "tok-1", vsw: str = "vsw-g1", **kw: Any) -> Any:
    args: dict[str, Any] = {
        "vswitch_id": vsw,
        "security_group_ids": ["sg-1", "sg-2"],
        "client_token": token,
        "tags": TAGS,
        "delete_on_release": True,
        "description": "podnet test",
    }
    args.update(kw)
    return cloud.create_network_interface(**args)


def test_describe_vswitches_maps_fields_and_skips_unknown(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    got = cloud.describe_vswitches(["vsw-h1", "vsw-missing", "vsw-g1", "vsw-h1"])
    assert [v.id for v in got] == ["vsw-h1", "vsw-g1"]
    h1 = got[0]
    assert (h1.zone, h1.cidr, h1.available_ips) == ("cn-hangzhou-h", "10.0.3.0/24", 252)
    assert cloud_backend.calls["DescribeVSwitches"] == 3  # one per distinct ID


def test_create_maps_response_and_sends_every_parameter(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    eni = create(cloud)
    stored = cloud_backend.enis[eni.id]
    assert eni.status == "Available" and eni.type == "Secondary"
    assert (eni.vswitch_id, eni.zone) == ("vsw-g1", "cn-hangzhou-g")
    assert eni.ip == stored.ip and eni.mac == stored.mac and eni.ip.startswith("10.0.1.")
    assert eni.security_group_ids == ("sg-1", "sg-2")
    assert eni.tags == TAGS
    assert stored.source_dest_check is False
    assert stored.delete_on_release is True
    assert stored.description == "podnet test"
    assert stored.type == "Secondary"
    create(cloud, token="tok-2", delete_on_release=False)
    assert [e.delete_on_release for e in cloud_backend.enis.values() if e.type == "Secondary"] == [True, False]


def test_client_token_replay_returns_the_same_eni(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    first = create(cloud)
    again = create(cloud)
    assert again.id == first.id and again.ip == first.ip
    ours = cloud.describe_network_interfaces(tags=TAGS)
    assert [e.id for e in ours] == [first.id]


def test_create_with_bad_client_token_is_permanent(cloud: OpenApiCloud) -> None:
    with pytest.raises(PermanentError):
        create(cloud, token="x" * 65)


def test_vendor_error_code_is_kept_verbatim(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.set_available_ips("vsw-g1", 0)
    with pytest.raises(CloudError) as ei:
        create(cloud)
    assert ei.value.code == "InvalidVSwitchId.IpNotEnough"
    assert ei.value.status == 403 and ei.value.request_id
    assert cloud_backend.calls["CreateNetworkInterface"] == 1  # not a transient code: no retry


def test_attach_to_trunk_then_describe_shows_member(cloud: OpenApiCloud, cloud_backend: Any, trunk_node: Any) -> None:
    eni = create(cloud)
    cloud.attach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    seen = [cloud.describe_network_interfaces(eni_ids=[eni.id])[0] for _ in range(2)]
    assert [e.status for e in seen] == ["Attaching", "InUse"]
    member = seen[1]
    assert member.type == "Member"
    assert member.instance_id == trunk_node.instance_id
    assert member.trunk_eni_id == trunk_node.trunk_eni_id
    assert member.device_index == 1  # the VLAN id
    assert member.created_at is not None and member.created_at.tzinfo is not None


def test_plain_attach_detach_delete(cloud: OpenApiCloud, cloud_backend: Any, trunk_node: Any) -> None:
    eni = create(cloud)
    cloud.attach_network_interface(eni.id, trunk_node.instance_id)
    cloud.describe_network_interfaces(eni_ids=[eni.id])
    (inuse,) = cloud.describe_network_interfaces(eni_ids=[eni.id])
    assert inuse.status == "InUse" and inuse.type == "Secondary" and inuse.trunk_eni_id == ""
    cloud.detach_network_interface(eni.id, trunk_node.instance_id)
    cloud.describe_network_interfaces(eni_ids=[eni.id])
    assert cloud.describe_network_interfaces(eni_ids=[eni.id])[0].status == "Available"
    cloud.delete_network_interface(eni.id)
    assert eni.id not in cloud_backend.enis
    assert cloud.describe_network_interfaces(eni_ids=[eni.id]) == []


def test_not_found_on_delete_and_detach_is_done(cloud: OpenApiCloud, cloud_backend: Any, trunk_node: Any) -> None:
    cloud.delete_network_interface("eni-gone")
    cloud.detach_network_interface("eni-gone", trunk_node.instance_id, trunk_node.trunk_eni_id)
    eni = create(cloud)
    cloud.detach_network_interface(eni.id, "i-gone")  # InvalidEcsId.NotFound
    assert cloud_backend.calls["DeleteNetworkInterface"] == 1
    assert cloud_backend.calls["DetachNetworkInterface"] == 2


def test_detach_of_an_available_eni_is_done(cloud: OpenApiCloud, cloud_backend: Any, trunk_node: Any) -> None:
    eni = create(cloud)  # never attached: the fake answers InvalidOperation.InvalidEniState
    cloud.detach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    assert cloud_backend.calls_ok["DetachNetworkInterface"] == 0


def test_delete_of_an_attached_eni_keeps_the_code(cloud: OpenApiCloud, trunk_node: Any) -> None:
    eni = create(cloud)
    cloud.attach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    with pytest.raises(CloudError) as ei:
        cloud.delete_network_interface(eni.id)
    assert ei.value.code == "InvalidOperation.InvalidEniState"


def test_throttling_is_retried_then_succeeds(cloud: OpenApiCloud, cloud_backend: Any, sleeps: Sleeps) -> None:
    cloud_backend.faults.add(service="ecs", kind="throttle", action="CreateNetworkInterface", count=2)
    eni = create(cloud)
    assert eni.id in cloud_backend.enis
    assert cloud_backend.calls["CreateNetworkInterface"] == 3
    assert cloud_backend.calls_ok["CreateNetworkInterface"] == 1
    assert sleeps == [0.2, 0.4]  # exponential backoff (no jitter in this policy)
    api = cloud.metrics.snapshot()["apis"]["CreateNetworkInterface"]
    assert api["calls"] == 3 and api["throttles"] == 2 and api["errors"] == {"Throttling.User": 2}


def test_persistent_throttling_raises_retryable(cloud: OpenApiCloud, cloud_backend: Any, sleeps: Sleeps) -> None:
    cloud_backend.faults.add(service="vpc", kind="throttle", action="DescribeVSwitches")
    with pytest.raises(RetryableError) as ei:
        cloud.describe_vswitches(["vsw-g1"])
    assert ei.value.code == "Throttling.User"
    assert ei.value.delay_s >= 5.0
    assert cloud_backend.calls["DescribeVSwitches"] == cloud.retry.attempts == 4
    assert sum(sleeps) <= cloud.retry.budget_s


def test_service_unavailable_and_internal_error_are_retried(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.faults.add(service="ecs", kind="unavailable", action="DescribeNetworkInterfaces", count=1)
    assert cloud.describe_network_interfaces(tags=TAGS) == []
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 2
    cloud_backend.faults.add(
        service="ecs", kind="error", action="DescribeNetworkInterfaces", count=1, status=500, code="InternalError"
    )
    assert cloud.describe_network_interfaces(tags=TAGS) == []
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 4
    errors = cloud.metrics.snapshot()["apis"]["DescribeNetworkInterfaces"]["errors"]
    assert errors == {"InternalError": 1, "ServiceUnavailable": 1}


def test_lost_create_response_then_replay_returns_the_single_eni(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.faults.add(service="ecs", kind="lose_response", action="CreateNetworkInterface", count=1)
    with pytest.raises(CloudTransportError):
        create(cloud, token="tok-lost")
    assert cloud_backend.calls["CreateNetworkInterface"] == 1  # a non-idempotent call is not retried blindly
    created = [e for e in cloud_backend.enis.values() if e.type == "Secondary"]
    assert len(created) == 1  # the side effect happened
    eni = create(cloud, token="tok-lost")
    assert eni.id == created[0].id
    assert len([e for e in cloud_backend.enis.values() if e.type == "Secondary"]) == 1


def test_lost_describe_response_is_retried(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    create(cloud)
    cloud_backend.faults.add(service="ecs", kind="lose_response", action="DescribeNetworkInterfaces", count=1)
    assert len(cloud.describe_network_interfaces(tags=TAGS)) == 1
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 2


def test_connection_refused_becomes_retryable(sleeps: Sleeps, transport: str) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cloud = OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint=f"127.0.0.1:{port}",
        vpc_endpoint=f"127.0.0.1:{port}",
        credentials=CloudCredentials("ak", "sk"),
        protocol="http",
        clock=SimClock(),
        retry=RetryPolicy(sleep=sleeps, attempts=2),
        metrics=Metrics(),
        transport=transport,
    )
    with pytest.raises(RetryableError) as ei:
        cloud.create_network_interface(
            vswitch_id="vsw-1", security_group_ids=["sg"], client_token="t", tags={}, delete_on_release=True
        )
    assert ei.value.code == "ConnectionError"
    assert len(sleeps) == 1  # an unsent request is safe to retry, even a create


def test_describe_pages_across_more_than_500(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.add_vswitch("vsw-big", "cn-hangzhou-g", "10.1.0.0/20")
    ids = {create(cloud, token=f"t-{i}", vsw="vsw-big").id for i in range(620)}
    cloud_backend.reset_calls()
    got = cloud.describe_network_interfaces(tags=TAGS)
    assert {e.id for e in got} == ids and len(got) == 620
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 2  # MaxResults 500 + NextToken


def test_describe_small_pages_follow_next_token(cloud: OpenApiCloud, cloud_backend: Any, monkeypatch: Any) -> None:
    import podnet.adapters.cloud as mod

    monkeypatch.setattr(mod, "DESCRIBE_MAX_RESULTS", 2)
    ids = [create(cloud, token=f"t-{i}").id for i in range(5)]
    cloud_backend.reset_calls()
    assert [e.id for e in cloud.describe_network_interfaces(tags=TAGS)] == ids
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 3


def test_describe_by_ids_goes_in_chunks_of_100(cloud: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.add_vswitch("vsw-big", "cn-hangzhou-g", "10.1.0.0/20")
    ids = [create(cloud, token=f"t-{i}", vsw="vsw-big").id for i in range(150)]
    cloud_backend.reset_calls()
    asked = ids + ["eni-unknown"]
    got = cloud.describe_network_interfaces(eni_ids=asked)
    assert sorted(e.id for e in got) == sorted(ids)
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 2
    assert cloud.describe_network_interfaces(eni_ids=[]) == []


def test_describe_filters(cloud: OpenApiCloud, trunk_node: Any) -> None:
    a = create(cloud, token="a")
    create(cloud, token="b", tags={"other": "x"})
    cloud.attach_network_interface(a.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    assert [e.id for e in cloud.describe_network_interfaces(instance_id=trunk_node.instance_id, eni_type="Member")] == [a.id]
    trunks = cloud.describe_network_interfaces(eni_type="Trunk")
    assert [e.id for e in trunks] == [trunk_node.trunk_eni_id]
    assert [e.id for e in cloud.describe_network_interfaces(tags=TAGS, status="Available")] == []


def test_rate_limiter_long_wait_raises_retryable_without_calling(cloud_server: Any, cloud_backend: Any, transport: str) -> None:
    clock = SimClock()
    limiter = RateLimiter(clock, {"DescribeVSwitches": 60}, max_instances=30)  # 2/min, burst 2
    cloud = OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint=cloud_server.endpoint,
        vpc_endpoint=cloud_server.endpoint,
        credentials=CloudCredentials("ak", "sk"),
        protocol="http",
        clock=clock,
        rate_limiter=limiter,
        retry=RetryPolicy(sleep=lambda s: None),
        metrics=Metrics(),
        transport=transport,
    )
    cloud.describe_vswitches(["vsw-g1"])
    cloud.describe_vswitches(["vsw-g1"])
    with pytest.raises(RetryableError) as ei:
        cloud.describe_vswitches(["vsw-g1"])
    assert ei.value.code == "RateLimited" and ei.value.delay_s == pytest.approx(30.0)
    assert cloud_backend.calls["DescribeVSwitches"] == 2
    clock.advance(30)
    cloud.describe_vswitches(["vsw-g1"])
    assert cloud_backend.calls["DescribeVSwitches"] == 3


def test_rotated_credentials_are_sent(cloud: OpenApiCloud, cloud_server: Any, monkeypatch: Any) -> None:
    seen: list[str] = []
    handler = type(cloud_server).handler_class
    original = handler._api

    def spy(self: Any) -> None:
        seen.append(self.headers.get("x-acs-security-token") or "")
        original(self)

    monkeypatch.setattr(handler, "_api", spy)
    cloud.describe_vswitches(["vsw-g1"])
    cloud.set_credentials(CloudCredentials("ak2", "sk2", "sts-token-2"))
    cloud.describe_vswitches(["vsw-g1"])
    assert seen == ["", "sts-token-2"]

    class Ctx:
        class credentials:  # noqa: N801 - the shape of FC's context.credentials
            access_key_id, access_key_secret, security_token = "ak3", "sk3", "sts-token-3"

    cloud.use_fc_context(Ctx())
    cloud.describe_vswitches(["vsw-g1"])
    assert seen[-1] == "sts-token-3" and cloud.credentials.access_key_id == "ak3"


def test_credentials_from_fc_context_and_env() -> None:
    class Creds:
        access_key_id, access_key_secret, security_token = "a", "s", "t"

    class Ctx:
        credentials = Creds()

    assert CloudCredentials.from_fc_context(Ctx()) == CloudCredentials("a", "s", "t")
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert CloudCredentials.from_env(env) == CloudCredentials("a", "s", None)
    with pytest.raises(PermanentError):
        CloudCredentials.from_env({})
    assert "secret-value" not in repr(CloudCredentials("a", "secret-value", "sts-value"))
    assert "sts-value" not in repr(CloudCredentials("a", "secret-value", "sts-value"))


def test_from_env_builds_a_rate_limited_client(monkeypatch: Any) -> None:
    env = {
        "PODNET_REGION": "cn-beijing",
        "PODNET_MAX_INSTANCES": "10",
        "PODNET_RATE_LIMITS": '{"DescribeVSwitches": 100}',
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "a",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
    }
    cloud = OpenApiCloud.from_env(SimClock(), env=env)
    assert cloud.endpoints == {"ecs": "ecs.cn-beijing.aliyuncs.com", "vpc": "vpc.cn-beijing.aliyuncs.com"}
    assert cloud.protocol == "https"
    assert cloud.rate_limiter is not None
    assert cloud.rate_limiter.limit_per_minute("DescribeVSwitches") == 10
    assert cloud.rate_limiter.limit_per_minute("CreateNetworkInterface") == 50
    assert cloud.transport == "tea"  # the default; podnet.fc asks for "signed"
    assert OpenApiCloud.from_env(SimClock(), env={**env, "PODNET_CLOUD_TRANSPORT": "signed"}).transport == "signed"
    assert OpenApiCloud.from_env(SimClock(), env=env, transport="signed").transport == "signed"
    with pytest.raises(PermanentError):
        OpenApiCloud.from_env(SimClock(), env={**env, "PODNET_CLOUD_TRANSPORT": "grpc"})


# --- the wire request is the typed SDK's ---------------------------------------------------------------
def _capture(fn: Any) -> dict[str, str]:
    """Run ``fn`` under ``responses`` and return the query of the one POST it made."""
    import responses

    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            "http://127.0.0.1:9/",
            json={"RequestId": "r", "NetworkInterfaceId": "eni-1", "Status": "Available", "Type": "Secondary"},
        )
        fn()
        assert len(rsps.calls) == 1
        req = rsps.calls[0].request
    query = dict(parse_qsl(urlsplit(req.url).query, keep_blank_values=True))
    query["_action"] = req.headers["x-acs-action"]
    query["_version"] = req.headers["x-acs-version"]
    query["_method"] = req.method
    return query


def test_create_wire_request_matches_the_typed_ecs_sdk() -> None:
    from alibabacloud_ecs20140526 import models as em
    from alibabacloud_ecs20140526.client import Client as Ecs
    from alibabacloud_tea_openapi.utils_models import Config

    cloud = OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint="127.0.0.1:9",
        vpc_endpoint="127.0.0.1:9",
        credentials=CloudCredentials("ak", "sk"),
        protocol="http",
        clock=SimClock(),
        metrics=Metrics(),
    )
    ours = _capture(lambda: create(cloud, token="tok-wire", delete_on_release=False))

    ecs = Ecs(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou", endpoint="127.0.0.1:9", protocol="http"))
    request = em.CreateNetworkInterfaceRequest(
        region_id="cn-hangzhou",
        v_switch_id="vsw-g1",
        security_group_ids=["sg-1", "sg-2"],
        client_token="tok-wire",
        tag=[em.CreateNetworkInterfaceRequestTag(key=k, value=v) for k, v in TAGS.items()],
        instance_type="Secondary",
        delete_on_release=False,
        source_dest_check=False,
        description="podnet test",
    )
    typed = _capture(lambda: ecs.create_network_interface(request))
    assert sorted(ours) == sorted(typed)
    assert ours == typed  # same keys and the same values
    assert ours["SecurityGroupIds.2"] == "sg-2" and ours["Tag.2.Key"] == "creator"


def test_describe_wire_request_matches_the_typed_ecs_sdk() -> None:
    from alibabacloud_ecs20140526 import models as em
    from alibabacloud_ecs20140526.client import Client as Ecs
    from alibabacloud_tea_openapi.utils_models import Config

    cloud = OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint="127.0.0.1:9",
        vpc_endpoint="127.0.0.1:9",
        credentials=CloudCredentials("ak", "sk"),
        protocol="http",
        clock=SimClock(),
        metrics=Metrics(),
    )
    ours = _capture(lambda: cloud.describe_network_interfaces(eni_ids=["eni-1", "eni-2"], tags={"k": "v"}, status="InUse"))
    ecs = Ecs(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou", endpoint="127.0.0.1:9", protocol="http"))
    request = em.DescribeNetworkInterfacesRequest(
        region_id="cn-hangzhou",
        max_results=500,
        tag=[em.DescribeNetworkInterfacesRequestTag(key="k", value="v")],
        status="InUse",
        network_interface_id=["eni-1", "eni-2"],
    )
    typed = _capture(lambda: ecs.describe_network_interfaces(request))
    assert ours == typed
