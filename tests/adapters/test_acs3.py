"""The signed transport (``podnet.adapters.acs3``): the same wire request and the same error handling as Tea.

Parity is checked against the installed Tea generic client itself: its Authorization header, its
whole request byte for byte, its flattening and signing functions, and its exceptions for the same
canned answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podnet.adapters import acs3
from podnet.adapters.cloud import ECS_VERSION, CloudCredentials, OpenApiCloud
from podnet.adapters.retry import RetryPolicy
from podnet.clock import SimClock
from podnet.errors import CloudError, CloudTransportError, RetryableError
from podnet.metrics import Metrics

TAGS = {"ack.aliyun.com": "c1", "creator": "podnet", "k y": "v/a l~ü+"}
STS = CloudCredentials("STS.ak-id", "sk-secret", "sts-token/with+chars=")
OK_BODY = {"RequestId": "r-ok", "NetworkInterfaceId": "eni-1", "Status": "Available", "Type": "Secondary"}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_cloud(endpoint: str, transport: str, credentials: CloudCredentials = STS, **kw: Any) -> OpenApiCloud:
    args: dict[str, Any] = {
        "region": "cn-hangzhou",
        "ecs_endpoint": endpoint,
        "vpc_endpoint": endpoint,
        "credentials": credentials,
        "protocol": "http",
        "clock": SimClock(),
        "metrics": Metrics(),
        "timeout_s": 5,
        "transport": transport,
    }
    args.update(kw)
    return OpenApiCloud(**args)


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


# --- (1) the signature: Tea's request, re-signed with sign_request ---------------------------------------------
def test_signature_parity_with_the_tea_generic_client() -> None:
    import responses

    cloud = make_cloud("127.0.0.1:9", "tea")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, "http://127.0.0.1:9/", json=OK_BODY)
        create(cloud, token="tok-parity")
        assert len(rsps.calls) == 1
        sent = rsps.calls[0].request
    tea_headers = {k.lower(): v for k, v in sent.headers.items()}
    query = dict(parse_qsl(urlsplit(sent.url).query, keep_blank_values=True))
    assert query["SecurityGroupIds.2"] == "sg-2" and query["Tag.3.Value"] == "v/a l~ü+"
    assert tea_headers["x-acs-security-token"] == STS.security_token

    ours = acs3.rpc_headers(
        host="127.0.0.1:9",
        action="CreateNetworkInterface",
        version=ECS_VERSION,
        access_key_id=STS.access_key_id,
        access_key_secret=STS.access_key_secret,
        security_token=STS.security_token,
        user_agent="podnet",
        date=tea_headers["x-acs-date"],
        nonce=tea_headers["x-acs-signature-nonce"],
        query=query,
    )
    ours_lower = {k.lower(): v for k, v in ours.items()}
    acs_names = sorted(k for k in tea_headers if k.startswith("x-acs-"))
    assert acs_names == sorted(k for k in ours_lower if k.startswith("x-acs-"))
    for name in acs_names:
        assert ours_lower[name] == tea_headers[name], name
    assert ours["Authorization"] == sent.headers["Authorization"]
    assert ours["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=STS.ak-id,SignedHeaders=accept;host;")
    # every header Tea sends is ours too (Content-Length is added at send time, after signing)
    assert {k: v for k, v in tea_headers.items() if k != "content-length"} == ours_lower

    # the pure function on Tea's own headers gives Tea's Authorization
    unsigned = {k: v for k, v in sent.headers.items() if k.lower() not in ("authorization", "content-length")}
    again = acs3.sign_request("POST", "/", query, unsigned, b"", STS.access_key_id, STS.access_key_secret)
    assert again["Authorization"] == sent.headers["Authorization"]
    # and a different secret, date or parameter changes it
    assert acs3.sign_request("POST", "/", query, unsigned, b"", STS.access_key_id, "other")["Authorization"] != again["Authorization"]
    assert acs3.sign_request("POST", "/", {**query, "VSwitchId": "x"}, unsigned, b"", STS.access_key_id,
                             STS.access_key_secret)["Authorization"] != again["Authorization"]


def test_the_query_is_flattened_and_encoded_as_tea_does() -> None:
    from alibabacloud_tea_openapi.utils import Utils

    nested = {
        "RegionId": "cn-hangzhou",
        "SecurityGroupIds": ["sg-1", "sg-2"],
        "Tag": [{"Key": "a b", "Value": "ü/~*"}, {"Key": "k", "Value": ""}],
        "DeleteOnRelease": True,
        "SourceDestCheck": False,
        "MaxResults": 500,
        "Skipped": None,
    }
    flat = acs3.flatten_query(nested)
    assert flat == Utils.query(nested)
    assert list(flat) == list(Utils.query(nested))  # the same order, so the same URL
    assert flat["DeleteOnRelease"] == "True" and "Skipped" not in flat


# hypothesis: the signature equals Tea's get_authorization for any parameters and headers
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=12)
_name = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,10}", fullmatch=True)
_header_name = st.from_regex(r"x-acs-[a-z0-9-]{1,8}|X-Acs-[A-Za-z]{1,6}|[a-z]{1,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    query=st.dictionaries(_name, _text, max_size=6),
    headers=st.dictionaries(_header_name, _text, max_size=6),
    secret=st.text(min_size=1, max_size=20),
)
def test_sign_request_matches_tea_get_authorization(query: dict[str, str], headers: dict[str, str], secret: str) -> None:
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    headers = {**headers, "host": "ecs.cn-hangzhou.aliyuncs.com", "x-acs-date": "2025-01-01T00:00:00Z"}
    payload = acs3.sign_request("POST", "/", query, headers, b"", "AK", secret)["x-acs-content-sha256"]
    req = DaraRequest()
    req.method, req.pathname, req.query = "POST", "/", dict(query)
    req.headers = {**headers, "x-acs-content-sha256": payload}
    expected = Utils.get_authorization(req, "ACS3-HMAC-SHA256", payload, "AK", secret)
    assert acs3.sign_request("POST", "/", query, headers, b"", "AK", secret)["Authorization"] == expected


def test_payload_hash_and_date_format() -> None:
    signed = acs3.sign_request("POST", "/", {}, {"host": "h"}, b"", "AK", "SK")
    assert signed["x-acs-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert acs3.timestamp(0) == "1970-01-01T00:00:00Z"
    assert acs3.timestamp(1735689600.9) == "2025-01-01T00:00:00Z"
    n1, n2 = acs3.signature_nonce(), acs3.signature_nonce()
    assert n1 != n2 and len(n1) == 32 and int(n1, 16) >= 0


# --- a loopback server that records raw requests and answers from a script ------------------------------------
Answer = Callable[[socket.socket], None]


def http_answer(status: int, body: bytes, content_type: str = "application/json;charset=utf-8",
                extra: dict[str, str] | None = None) -> Answer:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    for k, v in (extra or {}).items():
        head += f"{k}: {v}\r\n"
    raw = head.encode() + b"\r\n" + body
    return lambda conn: conn.sendall(raw)


def json_answer(status: int, obj: Any, extra: dict[str, str] | None = None) -> Answer:
    return http_answer(status, json.dumps(obj).encode(), extra=extra)


def close_answer(conn: socket.socket) -> None:
    """The request is read, then the connection closes: a lost answer."""


def stall_answer(seconds: float) -> Answer:
    return lambda conn: time.sleep(seconds)


class RawServer:
    """Records each request's bytes; answers with the scripted answers in turn (then 200 OK_BODY)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.endpoint = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.script: list[Answer] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    continue
                self.requests.append(data)
                answer = self.script.pop(0) if self.script else json_answer(200, OK_BODY)
                try:
                    answer(conn)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.mark.parametrize("credentials", [STS, CloudCredentials("LTAI-static", "static-secret")], ids=["sts", "static"])
def test_the_wire_request_is_byte_for_byte_teas(raw_server: RawServer, monkeypatch: Any, credentials: CloudCredentials) -> None:
    from alibabacloud_tea_openapi.utils import Utils

    date, nonce = "2025-01-01T00:00:00Z", "0123456789abcdef0123456789abcdef"
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: date))
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    monkeypatch.setattr(acs3, "timestamp", lambda now=None: date)
    monkeypatch.setattr(acs3, "signature_nonce", lambda: nonce)
    for transport in ("tea", "signed"):
        cloud = make_cloud(raw_server.endpoint, transport, credentials)
        create(cloud, token="tok ~*/+e")
        cloud.describe_network_interfaces(eni_ids=["eni-1"], tags={"a": "b"}, status="InUse")
        cloud.describe_vswitches(["vsw-1"])
    tea, ours = raw_server.requests[:3], raw_server.requests[3:]
    assert len(ours) == 3
    for a, b in zip(tea, ours, strict=True):
        assert b == a
    assert b"\r\nAuthorization: ACS3-HMAC-SHA256 Credential=" + credentials.access_key_id.encode() in ours[0]
    assert (b"x-acs-security-token" in ours[0]) == bool(credentials.security_token)
    assert ours[0].startswith(b"POST /?RegionId=cn-hangzhou&VSwitchId=vsw-g1&SecurityGroupIds.1=sg-1")


# --- (2) the whole CloudApi surface through the signed transport, against the fake cloud ----------------------
@pytest.fixture
def signed(cloud_server: Any) -> OpenApiCloud:
    return make_cloud(cloud_server.endpoint, "signed", retry=RetryPolicy(sleep=Sleeps(), jitter=0.0))


def test_signed_transport_covers_the_cloud_api(signed: OpenApiCloud, cloud_backend: Any, trunk_node: Any,
                                               monkeypatch: Any) -> None:
    import podnet.adapters.cloud as mod

    vsws = signed.describe_vswitches(["vsw-h1", "vsw-missing", "vsw-g1"])
    assert [(v.id, v.zone, v.cidr, v.available_ips) for v in vsws] == [
        ("vsw-h1", "cn-hangzhou-h", "10.0.3.0/24", 252), ("vsw-g1", "cn-hangzhou-g", "10.0.1.0/24", 252)]

    eni = create(signed)
    stored = cloud_backend.enis[eni.id]
    assert (eni.status, eni.type, eni.ip, eni.tags) == ("Available", "Secondary", stored.ip, TAGS)
    assert stored.security_group_ids == ["sg-1", "sg-2"]
    assert stored.delete_on_release is True and stored.source_dest_check is False
    assert create(signed).id == eni.id  # ClientToken replay: the same ENI
    assert len([e for e in cloud_backend.enis.values() if e.type == "Secondary"]) == 1

    signed.attach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    seen = [signed.describe_network_interfaces(eni_ids=[eni.id])[0] for _ in range(2)]
    assert [e.status for e in seen] == ["Attaching", "InUse"]
    assert (seen[1].type, seen[1].trunk_eni_id, seen[1].device_index) == ("Member", trunk_node.trunk_eni_id, 1)

    monkeypatch.setattr(mod, "DESCRIBE_MAX_RESULTS", 2)
    more = [create(signed, token=f"t-{i}").id for i in range(4)]
    cloud_backend.reset_calls()
    assert {e.id for e in signed.describe_network_interfaces(tags=TAGS)} == {eni.id, *more}
    assert cloud_backend.calls["DescribeNetworkInterfaces"] == 3  # NextToken pages of 2

    signed.detach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)
    signed.describe_network_interfaces(eni_ids=[eni.id])
    assert signed.describe_network_interfaces(eni_ids=[eni.id])[0].status == "Available"
    signed.delete_network_interface(eni.id)
    assert eni.id not in cloud_backend.enis
    signed.delete_network_interface(eni.id)  # NotFound: done
    signed.detach_network_interface(eni.id, trunk_node.instance_id, trunk_node.trunk_eni_id)  # NotFound: done
    assert signed.describe_network_interfaces(eni_ids=[eni.id]) == []
    assert cloud_backend.calls["DeleteNetworkInterface"] == 2


def test_signed_transport_sends_rotated_sts_credentials(signed: OpenApiCloud, cloud_server: Any, monkeypatch: Any) -> None:
    seen: list[tuple[str, str]] = []
    handler = type(cloud_server).handler_class
    original = handler._api

    def spy(self: Any) -> None:
        seen.append((self.headers.get("x-acs-security-token") or "", self.headers.get("Authorization") or ""))
        original(self)

    monkeypatch.setattr(handler, "_api", spy)
    signed.describe_vswitches(["vsw-g1"])
    signed.set_credentials(CloudCredentials("ak2", "sk2", "sts-2"))
    signed.describe_vswitches(["vsw-g1"])
    assert [s[0] for s in seen] == [STS.security_token, "sts-2"]
    assert "Credential=STS.ak-id," in seen[0][1] and "Credential=ak2," in seen[1][1]


# --- (3) errors --------------------------------------------------------------------------------------------------
def test_signed_throttling_is_retried_then_succeeds(signed: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.faults.add(service="ecs", kind="throttle", action="CreateNetworkInterface", count=2)
    eni = create(signed)
    assert eni.id in cloud_backend.enis
    assert cloud_backend.calls["CreateNetworkInterface"] == 3
    assert signed.retry.sleep == [0.2, 0.4]
    api = signed.metrics.snapshot()["apis"]["CreateNetworkInterface"]
    assert api["calls"] == 3 and api["throttles"] == 2


def test_signed_persistent_throttling_raises_retryable(signed: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.faults.add(service="vpc", kind="throttle", action="DescribeVSwitches")
    with pytest.raises(RetryableError) as ei:
        signed.describe_vswitches(["vsw-g1"])
    assert ei.value.code == "Throttling.User" and ei.value.delay_s >= 5.0
    assert cloud_backend.calls["DescribeVSwitches"] == signed.retry.attempts


def test_signed_lost_create_response_is_a_transport_error(signed: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.faults.add(service="ecs", kind="lose_response", action="CreateNetworkInterface", count=1)
    with pytest.raises(CloudTransportError):
        create(signed, token="tok-lost")
    assert cloud_backend.calls["CreateNetworkInterface"] == 1  # not retried blindly
    (made,) = [e for e in cloud_backend.enis.values() if e.type == "Secondary"]
    assert create(signed, token="tok-lost").id == made.id


def test_signed_client_error_keeps_the_vendor_code(signed: OpenApiCloud, cloud_backend: Any) -> None:
    cloud_backend.set_available_ips("vsw-g1", 0)
    with pytest.raises(CloudError) as ei:
        create(signed)
    assert ei.value.code == "InvalidVSwitchId.IpNotEnough"
    assert ei.value.status == 403 and ei.value.request_id
    assert cloud_backend.calls["CreateNetworkInterface"] == 1


def test_signed_connection_refused_is_unsent_and_retried() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sleeps = Sleeps()
    cloud = make_cloud(f"127.0.0.1:{port}", "signed", retry=RetryPolicy(sleep=sleeps, attempts=2))
    with pytest.raises(RetryableError) as ei:
        create(cloud)
    assert ei.value.code == "ConnectionError" and len(sleeps) == 1  # nothing was sent: a create may retry


# The same canned answer through both transports must end in the same port error.
CASES: dict[str, tuple[str, list[Answer]]] = {
    "4xx json": ("create", [json_answer(400, {"Code": "InvalidParameter", "Message": "bad", "RequestId": "r-4"})]),
    "4xx lowercase keys": ("create", [json_answer(404, {"code": "InvalidVSwitchId.NotFound", "message": "m", "requestId": "r-l"})]),
    "5xx then ok": ("create", [json_answer(503, {"Code": "ServiceUnavailable", "RequestId": "r-5"})]),
    "5xx persistent": ("describe", [json_answer(500, {"Code": "InternalError", "RequestId": "r-5"})] * 4),
    "retry-after hint": ("create", [json_answer(400, {"Code": "Odd.Code", "RequestId": "r-t"}, {"x-acs-retry-after": "700"})]),
    "xml error": ("create", [http_answer(403, b"<?xml version='1.0'?><Error><Code>Forbidden.RAM</Code>"
                                         b"<Message>no</Message><RequestId>r-x</RequestId></Error>",
                                         content_type="text/xml;charset=utf-8")]),
    "html 502 on create": ("create", [http_answer(502, b"<html>bad gateway</html>", content_type="text/html")]),
    "html 502 on describe": ("describe", [http_answer(502, b"<html>bad gateway</html>", content_type="text/html")]),
    "200 not json": ("create", [http_answer(200, b"not json")]),
    "200 json list": ("create", [json_answer(200, [1, 2])]),
    "connection closed on create": ("create", [close_answer]),
    "connection closed on describe": ("describe", [close_answer, close_answer, close_answer, close_answer]),
    "read timeout on create": ("create", [stall_answer(0.4)]),
}


def _outcome(cloud: OpenApiCloud, op: str, sleeps: Sleeps) -> tuple[Any, ...]:
    try:
        if op == "create":
            create(cloud)
        else:
            cloud.describe_network_interfaces(tags={"a": "b"})
    except (CloudError, RetryableError, CloudTransportError) as e:
        failure = e.__cause__
        return (type(e).__name__, getattr(e, "code", ""), getattr(e, "status", None), getattr(e, "request_id", None),
                getattr(failure, "kind", None), getattr(failure, "code", None), tuple(sleeps))
    return ("ok", tuple(sleeps))


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_answer_maps_to_the_same_error_on_both_transports(raw_server: RawServer, case: str) -> None:
    op, answers = CASES[case]
    outcomes = []
    for transport in ("tea", "signed"):
        raw_server.script = list(answers)
        sleeps = Sleeps()
        cloud = make_cloud(raw_server.endpoint, transport, retry=RetryPolicy(sleep=sleeps, jitter=0.0), timeout_s=0.2)
        outcomes.append(_outcome(cloud, op, sleeps))
    assert outcomes[1] == outcomes[0]
    expected_kind = {"4xx json": "CloudError", "5xx then ok": "ok", "5xx persistent": "RetryableError",
                     "connection closed on create": "CloudTransportError", "read timeout on create": "CloudTransportError"}
    if case in expected_kind:
        assert outcomes[1][0] == expected_kind[case]
    if case == "retry-after hint":
        assert 0.7 in outcomes[1][-1]  # x-acs-retry-after (ms) raised the backoff


# --- the signed path never imports Tea ------------------------------------------------------------------------------
def test_the_signed_path_does_not_import_tea(cloud_server: Any) -> None:
    code = f"""
import json, sys
from podnet.adapters.cloud import CloudCredentials, OpenApiCloud
from podnet.clock import SystemClock
cloud = OpenApiCloud(region="cn-hangzhou", ecs_endpoint={cloud_server.endpoint!r}, vpc_endpoint={cloud_server.endpoint!r},
                     credentials=CloudCredentials("ak", "sk", "sts"), protocol="http", clock=SystemClock(), transport="signed")
vsw = cloud.describe_vswitches(["vsw-g1"])
eni = cloud.create_network_interface(vswitch_id="vsw-g1", security_group_ids=["sg-1"], client_token="t-sub",
                                     tags={{"a": "b"}}, delete_on_release=True)
heavy = ("Tea", "darabonba", "alibabacloud_tea_openapi", "alibabacloud_credentials", "aiohttp", "apscheduler", "requests")
print(json.dumps({{"vsw": [v.id for v in vsw], "eni": eni.id,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["vsw"] == ["vsw-g1"] and out["eni"].startswith("eni-")
    assert out["loaded"] == []


def test_urlencode_of_the_flat_query_is_the_url_query() -> None:
    flat = acs3.flatten_query({"A": "x y", "B": ["1", "2"]})
    assert urlencode(flat) == "A=x+y&B.1=1&B.2=2"


def test_function_compute_builds_the_signed_transport(monkeypatch: Any) -> None:
    from types import SimpleNamespace

    from podnet import fc

    for k, v in {"PODNET_REGION": "cn-hangzhou", "PODNET_KUBE_URL": "http://127.0.0.1:9", "PODNET_KUBE_TOKEN": "t",
                 "PODNET_MNS_ENDPOINT": "http://127.0.0.1:9", "ALIBABA_CLOUD_ACCESS_KEY_ID": "a",
                 "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PODNET_CLOUD_TRANSPORT", raising=False)
    context = SimpleNamespace(credentials=SimpleNamespace(access_key_id="fc-ak", access_key_secret="fc-sk",
                                                          security_token="fc-sts"))
    ctx = fc.build_context(context)
    assert ctx.cloud.transport == "signed"  # while Settings' default stays "tea"
    assert ctx.settings.cloud_transport == "tea"
    assert ctx.cloud.credentials == CloudCredentials("fc-ak", "fc-sk", "fc-sts")
