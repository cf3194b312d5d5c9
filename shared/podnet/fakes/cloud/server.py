"""HTTP layer of the fake ECS + VPC: Tea RPC requests in, Aliyun JSON (or error JSON) out.

The Tea V2 SDKs send ``POST /`` with every parameter in the query string (lists flattened as
``SecurityGroupIds.1``, ``Tag.1.Key``) and the action in the ``x-acs-action`` header. Form bodies and
``Action=`` in the query are accepted too. Errors are ``{"Code","Message","RequestId","HostId","Recommend"}``
with a 4xx/5xx status, which alibabacloud_tea_openapi turns into ClientException/ServerException.

Control routes (for ``podnet fake cloud``): ``GET /_fake/state``, ``POST /_fake/reset``,
``GET|POST|DELETE /_fake/faults`` (POST takes one FaultRule as JSON, or a list),
``POST /_fake/available-ips`` ({"vSwitchId", "availableIPs"}).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from podnet.clock import Clock, SystemClock
from podnet.fakes.cloud.backend import (
    TIME_FORMAT,
    CloudApiError,
    CloudBackend,
    Eni,
    IncompleteSignature,
    InternalError,
    InvalidActionNotFound,
    InvalidParameter,
    MissingParameter,
    ServiceUnavailable,
    Throttling,
    VSwitch,
)
from podnet.fakes.faults import FaultRule
from podnet.fakes.http import FakeHTTPServer, QuietHandler

log = logging.getLogger(__name__)

Params = dict[str, str]
JSON_TYPE = "application/json;charset=utf-8"
SERVICE_HOST = {"ecs": "ecs.aliyuncs.com", "vpc": "vpc.aliyuncs.com"}
SERVICE_PRODUCT = {"ecs": "Ecs", "vpc": "Vpc"}


# --- parameter reading (shape validation lives here, state validation in the backend) ---------------
def p_str(params: Params, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise MissingParameter(name)
        return None
    return value


def p_int(params: Params, name: str) -> int | None:
    value = p_str(params, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(name, f"{value!r} is not an integer.") from None


def p_bool(params: Params, name: str) -> bool | None:
    value = p_str(params, name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidParameter(name, f"{value!r} is not a boolean.")


def p_list(params: Params, name: str) -> list[str]:
    """``Name.1``, ``Name.2``... in index order; or ``Name`` as a JSON list or a single value."""
    indexed: dict[int, str] = {}
    pattern = re.compile(re.escape(name) + r"\.(\d+)$")
    for key, value in params.items():
        m = pattern.match(key)
        if m and value != "":
            indexed[int(m.group(1))] = value
    if indexed:
        return [indexed[i] for i in sorted(indexed)]
    raw = p_str(params, name)
    if raw is None:
        return []
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except ValueError:
            raise InvalidParameter(name, "Not a JSON list.") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InvalidParameter(name, "Not a JSON list of strings.")
        return items
    return [raw]


def p_tags(params: Params, name: str = "Tag") -> list[tuple[str, str | None]]:
    """``Tag.N.Key`` / ``Tag.N.Value`` pairs in index order (a missing Value is None)."""
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    pattern = re.compile(re.escape(name) + r"\.(\d+)\.(Key|Value)$")
    for key, value in params.items():
        m = pattern.match(key)
        if m:
            (keys if m.group(2) == "Key" else values)[int(m.group(1))] = value
    for i in values:
        if not keys.get(i):
            raise MissingParameter(f"{name}.{i}.Key")
    return [(keys[i], values.get(i)) for i in sorted(keys) if keys[i]]


# --- serialisation -------------------------------------------------------------------------------------
def eni_wire(eni: Eni, describe: bool = False) -> dict[str, Any]:
    """An ENI as CreateNetworkInterface (or, with ``describe``, DescribeNetworkInterfaces) returns it."""
    out: dict[str, Any] = {
        "NetworkInterfaceId": eni.id,
        "Status": eni.status,
        "Type": eni.type,
        "VpcId": eni.vpc_id,
        "VSwitchId": eni.vswitch_id,
        "ZoneId": eni.zone,
        "PrivateIpAddress": eni.ip,
        "MacAddress": eni.mac,
        "Description": eni.description,
        "NetworkInterfaceName": eni.name,
        "ResourceGroupId": "",
        "SourceDestCheck": eni.source_dest_check,
        "ServiceManaged": False,
        "SecurityGroupIds": {"SecurityGroupId": list(eni.security_group_ids)},
        # both Create and Describe answer tags as TagKey/TagValue (requests send Key/Value)
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in eni.tags.items()]},
        "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": eni.ip, "Primary": True}]},
    }
    if describe:
        out["InstanceId"] = eni.instance_id
        out["CreationTime"] = eni.created_at.strftime(TIME_FORMAT)
        out["DeleteOnRelease"] = eni.delete_on_release
        out["NetworkInterfaceTrafficMode"] = "Standard"
        if eni.instance_id:
            attachment: dict[str, Any] = {"InstanceId": eni.instance_id, "DeviceIndex": eni.device_index}
            if eni.trunk_eni_id:
                attachment["TrunkNetworkInterfaceId"] = eni.trunk_eni_id
            out["Attachment"] = attachment
    return out


def vswitch_wire(v: VSwitch) -> dict[str, Any]:
    return {
        "VSwitchId": v.id,
        "VpcId": v.vpc_id,
        "ZoneId": v.zone,
        "CidrBlock": v.cidr,
        "AvailableIpAddressCount": v.available_ips,
        "Status": "Available",
        "IsDefault": False,
        "VSwitchName": v.id,
        "Description": "",
        "CreationTime": v.created_at.strftime(TIME_FORMAT),
        "Tags": {"Tag": []},
    }


# --- the actions: parse → backend → serialise ------------------------------------------------------------
class CloudWire:
    """One method per OpenAPI action, each ``(params) -> response dict`` (no state of its own)."""

    def __init__(self, backend: CloudBackend) -> None:
        self.backend = backend
        self.actions: dict[str, tuple[str, Callable[[Params], dict[str, Any]]]] = {
            "DescribeVSwitches": ("vpc", self.describe_vswitches),
            "CreateNetworkInterface": ("ecs", self.create_network_interface),
            "AttachNetworkInterface": ("ecs", self.attach_network_interface),
            "DetachNetworkInterface": ("ecs", self.detach_network_interface),
            "DeleteNetworkInterface": ("ecs", self.delete_network_interface),
            "DescribeNetworkInterfaces": ("ecs", self.describe_network_interfaces),
            "DescribeInstances": ("ecs", self.describe_instances),
        }

    def describe_vswitches(self, p: Params) -> dict[str, Any]:
        page = self.backend.describe_vswitches(
            vswitch_id=p_str(p, "VSwitchId"),
            zone_id=p_str(p, "ZoneId"),
            vpc_id=p_str(p, "VpcId"),
            page_number=p_int(p, "PageNumber") or 1,
            page_size=p_int(p, "PageSize") or 10,
        )
        return {
            "VSwitches": {"VSwitch": [vswitch_wire(v) for v in page.items]},
            "TotalCount": page.total,
            "PageNumber": page.page_number,
            "PageSize": page.page_size,
        }

    def create_network_interface(self, p: Params) -> dict[str, Any]:
        sgs = p_list(p, "SecurityGroupIds")
        single = p_str(p, "SecurityGroupId")
        if single and single not in sgs:
            sgs.insert(0, single)
        eni = self.backend.create_network_interface(
            vswitch_id=p_str(p, "VSwitchId", required=True) or "",
            security_group_ids=sgs,
            instance_type=p_str(p, "InstanceType") or "Secondary",
            tags=[(k, v or "") for k, v in p_tags(p)],
            delete_on_release=p_bool(p, "DeleteOnRelease"),
            source_dest_check=p_bool(p, "SourceDestCheck"),
            description=p_str(p, "Description") or "",
            name=p_str(p, "NetworkInterfaceName") or "",
            client_token=p_str(p, "ClientToken"),
        )
        return eni_wire(eni)

    def attach_network_interface(self, p: Params) -> dict[str, Any]:
        self.backend.attach_network_interface(
            p_str(p, "NetworkInterfaceId", required=True) or "",
            p_str(p, "InstanceId", required=True) or "",
            p_str(p, "TrunkNetworkInstanceId"),
        )
        return {}

    def detach_network_interface(self, p: Params) -> dict[str, Any]:
        self.backend.detach_network_interface(
            p_str(p, "NetworkInterfaceId", required=True) or "",
            p_str(p, "InstanceId", required=True) or "",
            p_str(p, "TrunkNetworkInstanceId"),
        )
        return {}

    def delete_network_interface(self, p: Params) -> dict[str, Any]:
        self.backend.delete_network_interface(p_str(p, "NetworkInterfaceId", required=True) or "")
        return {}

    def describe_network_interfaces(self, p: Params) -> dict[str, Any]:
        page = self.backend.describe_network_interfaces(
            eni_ids=p_list(p, "NetworkInterfaceId") or None,
            tags=dict(p_tags(p)) or None,
            instance_id=p_str(p, "InstanceId"),
            vswitch_id=p_str(p, "VSwitchId"),
            vpc_id=p_str(p, "VpcId"),
            status=p_str(p, "Status"),
            eni_type=p_str(p, "Type"),
            private_ips=p_list(p, "PrivateIpAddress") or None,
            next_token=p_str(p, "NextToken"),
            max_results=p_int(p, "MaxResults"),
            page_number=p_int(p, "PageNumber"),
            page_size=p_int(p, "PageSize"),
        )
        out: dict[str, Any] = {
            "NetworkInterfaceSets": {"NetworkInterfaceSet": [eni_wire(e, describe=True) for e in page.items]},
            "TotalCount": page.total,
        }
        if page.next_token is not None:
            out["NextToken"] = page.next_token
        else:
            out["PageNumber"], out["PageSize"] = page.page_number, page.page_size
        return out

    def describe_instances(self, p: Params) -> dict[str, Any]:
        ids = p_list(p, "InstanceIds")
        instances = self.backend.describe_instances(instance_ids=ids or None, zone_id=p_str(p, "ZoneId"))
        with self.backend.lock:
            enis = {
                i.instance_id: [
                    e
                    for e in self.backend.enis.values()
                    if e.instance_id == i.instance_id and not e.trunk_eni_id
                ]
                for i in instances
            }
            items = [
                {
                    "InstanceId": i.instance_id,
                    "InstanceName": i.node_name,
                    "HostName": i.node_name,
                    "RegionId": self.backend.region,
                    "ZoneId": i.zone,
                    "Status": i.status,
                    "VpcAttributes": {"VpcId": self.backend.vpc_id},
                    "NetworkInterfaces": {
                        "NetworkInterface": [
                            {
                                "NetworkInterfaceId": e.id,
                                "Type": e.type,
                                "MacAddress": e.mac,
                                "PrimaryIpAddress": e.ip,
                            }
                            for e in enis[i.instance_id]
                        ]
                    },
                }
                for i in instances
            ]
        return {
            "Instances": {"Instance": items},
            "TotalCount": len(items),
            "PageNumber": 1,
            "PageSize": max(10, len(items)),
            "NextToken": "",
        }


# --- HTTP --------------------------------------------------------------------------------------------------
class CloudHandler(QuietHandler):
    """Routes ``/`` to the OpenAPI actions and ``/_fake/*`` to the control plane."""

    server_version = "podnet-fake-cloud"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without NODELAY, Nagle + the client's delayed ACK
        # add ~40 ms to every call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def fake(self) -> FakeCloudServer:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._route()

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def do_DELETE(self) -> None:  # noqa: N802
        self._route()

    def _route(self) -> None:
        try:
            path = urlsplit(self.path).path
            if path.startswith("/_fake/"):
                self._control(path)
            else:
                self._api()
        except Exception:  # never a traceback on the wire
            log.exception("fake cloud: unexpected error")
            self._send_error(InternalError(), str(uuid.uuid4()).upper(), "ecs")

    # --- OpenAPI -----------------------------------------------------------------------------------
    def _params(self, body: bytes) -> Params:
        params: Params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").lower()
        if body and ("form" in ctype or not ctype):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def _send_json(self, status: int, obj: Any) -> None:
        self.send_bytes(status, json.dumps(obj).encode(), JSON_TYPE)

    def _send_error(self, err: CloudApiError, request_id: str, service: str) -> None:
        self._send_json(
            err.status,
            {
                "Code": err.code,
                "Message": err.message,
                "RequestId": request_id,
                "HostId": SERVICE_HOST.get(service, SERVICE_HOST["ecs"]),
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product={SERVICE_PRODUCT.get(service, 'Ecs')}&requestId={request_id}",
            },
        )

    def _api(self) -> None:
        body = self.read_body()
        request_id = str(uuid.uuid4()).upper()
        backend = self.fake.backend
        params = self._params(body)
        action = self.headers.get("x-acs-action") or params.get("Action") or ""
        if not action:
            self._send_error(MissingParameter("Action"), request_id, "ecs")
            return
        entry = self.fake.wire.actions.get(action)
        if entry is None:
            backend.record_call(action, ok=False)
            self._send_error(InvalidActionNotFound(), request_id, "ecs")
            return
        service, method = entry
        if self.fake.require_auth and not (self.headers.get("Authorization") or params.get("Signature")):
            backend.record_call(action, ok=False)
            self._send_error(IncompleteSignature(), request_id, service)
            return
        rules = backend.faults.decide(service, action)
        delay = sum(r.latency_s for r in rules if r.kind == "latency")
        if delay > 0:
            time.sleep(delay)
        for rule in rules:
            err: CloudApiError | None = None
            if rule.kind == "throttle":
                err = Throttling()
            elif rule.kind == "unavailable":
                err = ServiceUnavailable()
            elif rule.kind == "error":
                err = CloudApiError(
                    rule.message or "Injected fault.", code=rule.code or "InternalError", status=rule.status
                )
            if err is not None:
                backend.record_call(action, ok=False)
                self._send_error(err, request_id, service)
                return
        try:
            result = method(params)
        except CloudApiError as e:
            backend.record_call(action, ok=False)
            self._send_error(e, request_id, service)
            return
        backend.record_call(action, ok=True)
        if any(r.kind == "lose_response" for r in rules):
            self.drop_connection()  # the action happened; the client never hears of it
            return
        result["RequestId"] = request_id
        self._send_json(200, result)

    # --- control plane -----------------------------------------------------------------------------
    def _control(self, path: str) -> None:
        body = self.read_body()
        backend = self.fake.backend
        route = (self.command, path.rstrip("/"))
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            self._send_json(400, {"error": "body is not JSON"})
            return
        if route == ("GET", "/_fake/state"):
            self._send_json(200, backend.state(include_internal=True))
        elif route == ("POST", "/_fake/reset"):
            self.fake.reset()
            self._send_json(200, {"ok": True})
        elif route == ("GET", "/_fake/faults"):
            self._send_json(200, {"rules": [asdict(r) for r in backend.faults.rules]})
        elif route == ("DELETE", "/_fake/faults"):
            backend.faults.clear()
            self._send_json(200, {"rules": []})
        elif route == ("POST", "/_fake/faults"):
            names = {f.name for f in fields(FaultRule)} - {"fired"}
            items = data if isinstance(data, list) else [data]
            try:
                rules = []
                for item in items:
                    if not isinstance(item, dict) or set(item) - names:
                        raise ValueError(f"a fault rule is an object with fields {sorted(names)}")
                    rules.append(FaultRule(**item))
            except (TypeError, ValueError) as e:
                self._send_json(400, {"error": str(e)})
                return
            for rule in rules:
                backend.faults.add(rule)
            self._send_json(200, {"rules": [asdict(r) for r in backend.faults.rules]})
        elif route == ("POST", "/_fake/available-ips"):
            try:
                assert isinstance(data, dict)
                backend.set_available_ips(str(data["vSwitchId"]), int(data["availableIPs"]))
            except (AssertionError, KeyError, TypeError, ValueError) as e:
                self._send_json(
                    400, {"error": f"expected {{vSwitchId, availableIPs}} of a known vSwitch: {e!r}"}
                )
                return
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": f"no control route {self.command} {path}"})


class FakeCloudServer(FakeHTTPServer):
    """The fake ECS + VPC endpoint on loopback; use as a context manager.

    ``require_auth``: answer 400 IncompleteSignature to requests without an Authorization header
    (or a V1 ``Signature`` parameter). Signatures are never checked.
    """

    handler_class = CloudHandler

    def __init__(
        self,
        backend: CloudBackend | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        scenario: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.backend = backend or CloudBackend()
        self.wire = CloudWire(self.backend)
        self.require_auth = require_auth
        self.scenario = scenario  # re-applied after POST /_fake/reset

    @property
    def endpoint(self) -> str:
        """``host:port``, what Tea's ``Config(endpoint=..., protocol="http")`` wants."""
        return f"{self._host}:{self.port}"

    def reset(self) -> None:
        """Reset the backend and re-seed the scenario this server was started with."""
        with self.backend.lock:
            self.backend.reset()
            if self.scenario:
                self.backend.seed_from_scenario(self.scenario.get("cloud"), self.scenario.get("nodes"))

    def start(self) -> FakeCloudServer:
        super().start()
        return self

    def stop(self) -> None:
        """Stop at once: serve_forever polls every 0.5 s, so poke it with connections while it shuts down."""
        httpd = self._httpd
        if httpd is not None:
            stopper = threading.Thread(target=httpd.shutdown, daemon=True)
            stopper.start()
            while stopper.is_alive():
                try:
                    socket.create_connection(httpd.server_address[:2], timeout=0.2).close()
                except OSError:
                    pass
                stopper.join(0.01)
        super().stop()


def serve(
    port: int, scenario: dict[str, Any] | None = None, host: str = "127.0.0.1", clock: Clock | None = None
) -> None:
    """Run the fake cloud in the foreground (``podnet fake cloud --port N [--scenario FILE]``).

    ``scenario`` is a loaded Scenario document; its ``cloud`` and ``nodes`` sections seed the state.
    """
    backend = CloudBackend(
        clock or SystemClock(),
        region=str(((scenario or {}).get("cloud") or {}).get("region") or "cn-hangzhou"),
    )
    server = FakeCloudServer(backend, host=host, port=port, scenario=scenario)
    server.reset()
    server.start()
    print(f"fake cloud (ECS + VPC) listening on {server.url}", file=sys.stderr, flush=True)
    server.serve_forever()
