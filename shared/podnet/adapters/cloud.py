"""``CloudApi`` on the real Alibaba Cloud ECS/VPC OpenAPI: the Tea *generic* client, or our own signer.

Two transports put the same request on the wire (``transport=``):
- ``"tea"`` (the default): the Tea generic client, described below;
- ``"signed"``: ``podnet.adapters.acs3``, our ACS3-HMAC-SHA256 signing over urllib3. It exists for
  cold start: Tea costs ~160 ms to import, urllib3 ~35 ms (and ``HttpKube`` already pays for it),
  which is what keeps the Function Compute handlers under their 300 ms budget. The Function Compute
  handlers (``podnet.fc``) and ``podnet local`` use it; it never imports Tea, darabonba or aiohttp.
  Its answers go through the same mapping as Tea's (``_send_signed`` mirrors what Tea raises and
  ``_send_tea`` turns into ``_Failure``), so everything below holds for both.

Why the generic ``alibabacloud_tea_openapi`` client and not the typed ``alibabacloud_ecs20140526`` /
``alibabacloud_vpc20160428`` clients: cold start. Function Compute handlers import this module, and
(``benchmarks/imports.py``, median of 5 fresh interpreters) the typed ECS client costs ~310 ms to
import (its models module alone ~100 ms) and the typed VPC client ~310 ms more of its own, while
the generic client that both typed clients are built on costs ~185 ms and serves ECS and VPC
alike. Most of that is aiohttp (~130 ms), which Tea's core imports even for synchronous calls; an FC
function can move it out of the first invocation by calling ``warm_up()`` from its initializer. We only make six RPC calls, so we build them the way the typed
clients do (``Params(action, version, "POST", "/", style="RPC", req_body_type="formData",
body_type="json")`` plus ``OpenApiRequest(query=Utils.query(...))``): the request on the wire is the
same (every parameter in the query, lists flattened as ``SecurityGroupIds.1``, ``Tag.1.Key``; ACS3
signature; ``x-acs-action``/``x-acs-version`` headers); ``tests/adapters`` checks this against the
typed client. Tea itself is imported on the first call, not at module import, so handlers that never
touch the cloud (validate, webhook) do not pay for it at all.

Behaviour (product spec §4, Terway §4):
- Vendor error codes are kept verbatim in ``CloudError``.
- Throttling/transient codes (``errors.TRANSIENT_CODES``, any ``Throttling*``, HTTP 5xx) and
  connection errors are retried inside the call with exponential backoff + jitter, bounded by
  ``RetryPolicy`` (a few seconds in total); then ``RetryableError(delay_s, code)`` so the step
  re-enqueues itself.
- A transport failure after the request went out (reset, read timeout, lost response) on a call
  that changes something raises ``CloudTransportError`` at once: the side effect may have happened,
  so the caller re-runs the step (CreateNetworkInterface with the same ClientToken returns the same
  ENI; attach/detach confirm with Describe). Describe calls are simply retried.
- ``InvalidEniId.NotFound`` (and the other ``ENI_NOT_FOUND_CODES``) on detach/delete means done;
  detach of an ENI that is already Available also counts as done.
- Every HTTP request first takes a token from the per-API ``RateLimiter``; a long wait becomes
  ``RetryableError(delay, code="RateLimited")`` instead of sleeping inside the function.
- Credentials rotate under FC (``context.credentials`` is a short-lived STS triple): call
  ``set_credentials(CloudCredentials.from_fc_context(context))`` on every invocation; the Tea clients
  are rebuilt only when the triple changed.
- Long-running processes (``podnet run``, the forwarder) pass a ``credentials_provider`` instead,
  usually ``default_credentials_provider()`` (the standard Alibaba Cloud credential chain: env vars,
  RRSA/OIDC, CLI profile, credentials file, ECS RAM role). It is asked before every HTTP attempt (the
  chain caches and refreshes expiring STS triples itself) and ``set_credentials`` runs when the triple
  changed, so both transports sign with the current one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from time import perf_counter
from types import SimpleNamespace
from typing import Any

from podnet.adapters.ratelimit import RateLimiter
from podnet.adapters.retry import RetriesExhausted, RetryPolicy
from podnet.clock import Clock
from podnet.errors import (
    ENI_NOT_FOUND_CODES,
    THROTTLING_CODES,
    TRANSIENT_CODES,
    CloudError,
    CloudTransportError,
    PermanentError,
    RetryableError,
)
from podnet.log import fields, get_logger
from podnet.metrics import Metrics, get_metrics
from podnet.ports import EniInfo, VSwitchInfo

__all__ = [
    "CloudCredentials",
    "CredentialsProvider",
    "default_credentials_provider",
    "OpenApiCloud",
    "ECS_VERSION",
    "VPC_VERSION",
    "TRANSPORTS",
    "warm_up",
]

ECS_VERSION = "2014-05-26"
VPC_VERSION = "2016-04-28"
TRANSPORTS = ("tea", "signed")
DESCRIBE_MAX_RESULTS = 500  # DescribeNetworkInterfaces MaxResults ceiling (Terway uses 500)
ENI_IDS_PER_CALL = 100  # NetworkInterfaceId.N accepts at most 100
VSWITCH_PAGE_SIZE = 50  # DescribeVSwitches PageSize ceiling
MAX_PAGES = 10_000  # a guard against a server that never ends paging
# Calls safe to repeat after a lost response: they change nothing.
READ_ACTIONS = frozenset({"DescribeNetworkInterfaces", "DescribeVSwitches"})
# Exception class names (anywhere in the chain) that mean the request never left this host.
_UNSENT_NAMES = frozenset(
    {"NewConnectionError", "ConnectTimeout", "ConnectTimeoutError", "NameResolutionError", "ConnectionRefusedError"}
)
_TEA_TRANSPORT_NAMES = frozenset({"UnretryableException", "RetryError"})
_UNSENT_TEXT = ("Connection refused", "NewConnectionError", "Failed to resolve", "Name or service not known")

log = get_logger("cloud")


@dataclass(frozen=True)
class CloudCredentials:
    """An AccessKey pair, plus the STS token when the pair is temporary."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CloudCredentials:
        """``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` / ``_SECURITY_TOKEN``."""
        e = os.environ if env is None else env
        ak, sk = e.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), e.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        if not ak or not sk:
            raise PermanentError("ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET are not set", code="ConfigError")
        return cls(ak, sk, e.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None)

    @classmethod
    def from_fc_context(cls, context: Any) -> CloudCredentials:
        """The function role's STS triple from an FC handler ``context`` (read it on every invocation)."""
        c = context.credentials
        return cls(c.access_key_id, c.access_key_secret, getattr(c, "security_token", None) or None)


CredentialsProvider = Callable[[], CloudCredentials]
"""Returns the credentials to sign the next request with; cheap to call before every request."""

# What alibabacloud-credentials 1.0.12's default chain looks at, in order (for the error message).
CHAIN_SOURCES = (
    "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET(/ALIBABA_CLOUD_SECURITY_TOKEN)",
    "RRSA/OIDC (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE)",
    "the aliyun CLI profile (~/.aliyun/config.json, ALIBABA_CLOUD_PROFILE)",
    "the credentials file (ALIBABA_CLOUD_CREDENTIALS_FILE or ~/.alibabacloud/credentials.ini)",
    "the ECS instance RAM role (metadata service; ALIBABA_CLOUD_ECS_METADATA names the role, "
    "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true skips it)",
    "ALIBABA_CLOUD_CREDENTIALS_URI",
)


class _ChainProvider:
    """``CredentialsProvider`` over ``alibabacloud_credentials``' default chain (one client, shared).

    The SDK is imported on the first call only. Its client caches the credentials and refreshes STS
    triples before they expire, so calling this before every request costs a lock and a few attribute
    reads. Note that the SDK reads its environment variables once, when it is first imported.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._succeeded = False

    def __call__(self) -> CloudCredentials:
        with self._lock:
            try:
                if self._client is None:
                    from alibabacloud_credentials.client import Client as CredentialClient

                    self._client = CredentialClient()
                model = self._client.get_credential()
                ak, sk = getattr(model, "access_key_id", None), getattr(model, "access_key_secret", None)
                if not ak or not sk:
                    raise ValueError(f"the chain answered without an AccessKey pair ({getattr(model, 'type', '')})")
            except ImportError as e:
                raise PermanentError(
                    f"the Alibaba Cloud credential chain needs the alibabacloud-credentials package: {e}",
                    code="ConfigError",
                ) from e
            except Exception as e:
                detail = getattr(e, "message", None) or str(e) or type(e).__name__
                if self._succeeded:
                    # it worked before: an STS refresh failing now (metadata service, STS endpoint) is
                    # worth another try later, not a dead letter
                    raise RetryableError(
                        f"cannot refresh Alibaba Cloud credentials: {detail}", delay_s=10.0, code="CredentialsUnavailable"
                    ) from e
                raise PermanentError(
                    "no Alibaba Cloud credentials found; the default credential chain tried "
                    + "; ".join(CHAIN_SOURCES)
                    + f". Details: {detail}",
                    code="ConfigError",
                ) from e
            self._succeeded = True
            return CloudCredentials(str(ak), str(sk), getattr(model, "security_token", None) or None)


def default_credentials_provider() -> CredentialsProvider:
    """The standard Alibaba Cloud credential chain (``alibabacloud_credentials``, imported on first use).

    The first call raises ``PermanentError(code="ConfigError")`` naming every source tried when none
    has credentials; a failed refresh after a success raises ``RetryableError(code="CredentialsUnavailable")``.
    """
    return _ChainProvider()


class _Failure(Exception):
    """One failed HTTP attempt, classified.

    kind: "api" (an error answer that retrying will not fix), "transient" (throttling, 5xx, busy),
    "unsent" (no connection: nothing reached the server), "lost" (sent, but no usable answer).
    """

    def __init__(
        self, kind: str, code: str, message: str, status: int = 0, request_id: str = "", retry_after_s: float = 0.0
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after_s = retry_after_s


_TEA: SimpleNamespace | None = None
_TEA_LOCK = threading.Lock()


def _tea() -> SimpleNamespace:
    """Import the Tea generic client on first use (~200 ms), never at module import."""
    global _TEA
    if _TEA is None:
        with _TEA_LOCK:
            if _TEA is None:
                from alibabacloud_tea_openapi import exceptions as tea_exc
                from alibabacloud_tea_openapi.client import Client
                from alibabacloud_tea_openapi.utils import Utils
                from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
                from darabonba.runtime import RuntimeOptions

                _TEA = SimpleNamespace(
                    Client=Client,
                    Config=Config,
                    OpenApiRequest=OpenApiRequest,
                    Params=Params,
                    Utils=Utils,
                    RuntimeOptions=RuntimeOptions,
                    AlibabaCloudException=tea_exc.AlibabaCloudException,
                    ThrottlingException=tea_exc.ThrottlingException,
                )
    return _TEA


def warm_up(transport: str = "tea") -> None:
    """Import the transport's client now (for an FC ``initialize`` hook), so no invocation pays for it."""
    if transport == "signed":
        import urllib3  # noqa: F401 - the import is the point

        from podnet.adapters import acs3

        acs3.default_user_agent()
    else:
        _tea()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (Tea's inner_exception, causes, contexts, urllib3 reasons)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 32:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (getattr(e, "inner_exception", None), e.__cause__, e.__context__, getattr(e, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def _classify_transport(exc: BaseException) -> _Failure:
    """A non-HTTP failure: did the request leave this host?"""
    names = {type(e).__name__ for e in _chain(exc)}
    text = " ".join(str(e) for e in _chain(exc))
    if names & _UNSENT_NAMES or any(t in text for t in _UNSENT_TEXT):
        return _Failure("unsent", "ConnectionError", text[:500])
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError", "timeout"}:
        return _Failure("lost", "Timeout", text[:500])
    if names & {"JSONDecodeError", "ValueError"} and not names & {"ConnectionError", "ProtocolError"}:
        return _Failure("lost", "InvalidResponse", text[:500])
    return _Failure("lost", "ConnectionError", text[:500])


def _is_transient(code: str, status: int) -> bool:
    return code in TRANSIENT_CODES or code.startswith("Throttling") or status >= 500


def _parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    v = value.strip().replace("Z", "+00:00")
    for candidate in (v, v.replace("+00:00", ":00+00:00")):  # "2025-01-01T00:00+00:00" lacks seconds
        try:
            dt = datetime.fromisoformat(candidate)
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _list_of(obj: Any, *path: str) -> list[Any]:
    """``body["A"]["B"]`` as a list, tolerating missing levels and a single object instead of a list."""
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict):
            return []
        cur = cur.get(key)
    if cur is None:
        return []
    return cur if isinstance(cur, list) else [cur]


def _tags(obj: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in _list_of(obj, "Tags", "Tag"):
        if isinstance(t, dict):
            k = t.get("TagKey", t.get("Key"))
            if k is not None:
                out[str(k)] = str(t.get("TagValue", t.get("Value", "")))
    return out


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def eni_from_api(d: Mapping[str, Any]) -> EniInfo:
    """Map one ``NetworkInterfaceSet`` item (or a CreateNetworkInterface response) to ``EniInfo``."""
    att = d.get("Attachment") if isinstance(d.get("Attachment"), dict) else {}
    ip = d.get("PrivateIpAddress") or ""
    if not ip:
        for s in _list_of(d, "PrivateIpSets", "PrivateIpSet"):
            if isinstance(s, dict) and (s.get("Primary") in (True, "true", "True") or not ip):
                ip = s.get("PrivateIpAddress") or ip
    return EniInfo(
        id=str(d.get("NetworkInterfaceId", "")),
        status=str(d.get("Status", "")),
        type=str(d.get("Type", "")),
        vswitch_id=str(d.get("VSwitchId", "")),
        zone=str(d.get("ZoneId", "")),
        ip=str(ip),
        mac=str(d.get("MacAddress", "")),
        instance_id=str(d.get("InstanceId") or att.get("InstanceId") or ""),
        trunk_eni_id=str(att.get("TrunkNetworkInterfaceId") or ""),
        device_index=_int_or_none(att.get("DeviceIndex")),
        security_group_ids=tuple(str(s) for s in _list_of(d, "SecurityGroupIds", "SecurityGroupId")),
        tags=_tags(d),
        created_at=_parse_time(d.get("CreationTime")),
    )


def vswitch_from_api(d: Mapping[str, Any]) -> VSwitchInfo:
    """Map one ``VSwitches.VSwitch`` item to ``VSwitchInfo``."""
    return VSwitchInfo(
        id=str(d.get("VSwitchId", "")),
        zone=str(d.get("ZoneId", "")),
        cidr=str(d.get("CidrBlock", "")),
        available_ips=_int_or_none(d.get("AvailableIpAddressCount")) or 0,
    )


class OpenApiCloud:
    """``CloudApi`` for ECS (ENIs) and VPC (vSwitches) in one region."""

    def __init__(
        self,
        *,
        region: str,
        ecs_endpoint: str,
        vpc_endpoint: str,
        credentials: CloudCredentials | None = None,
        credentials_provider: CredentialsProvider | None = None,
        protocol: str = "https",
        clock: Clock,
        rate_limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        timeout_s: float = 10,
        max_rate_wait_s: float = 2.0,
        user_agent: str = "podnet",
        transport: str = "tea",
    ) -> None:
        if protocol.lower() not in ("http", "https"):
            raise PermanentError(f"protocol must be http or https, not {protocol!r}", code="ConfigError")
        if transport not in TRANSPORTS:
            raise PermanentError(f"transport must be tea or signed, not {transport!r}", code="ConfigError")
        if credentials is None and credentials_provider is None:
            raise PermanentError("OpenApiCloud needs credentials or a credentials_provider", code="ConfigError")
        self.transport = transport
        self.region = region
        self.endpoints = {"ecs": _strip_scheme(ecs_endpoint), "vpc": _strip_scheme(vpc_endpoint)}
        self.protocol = protocol.lower()
        self.clock = clock
        self.rate_limiter = rate_limiter
        self.retry = retry or RetryPolicy()
        self.metrics = metrics or get_metrics()
        self.timeout_s = float(timeout_s)
        self.max_rate_wait_s = max_rate_wait_s
        self.user_agent = user_agent
        self._credentials: CloudCredentials | None = credentials
        self._credentials_provider = credentials_provider
        self._clients: dict[str, Any] = {}  # Tea clients per service (transport "tea")
        self._sender: Any = None  # one acs3.AcsSender for both services (transport "signed")
        self._lock = threading.Lock()
        # who waits: the policy's sleep (tests), else the clock's (a SimClock advances), else real time
        sleep = self.retry.sleep if self.retry.sleep is not None else getattr(clock, "sleep", None)
        self._sleep: Callable[[float], None] = sleep if sleep is not None else _time_sleep

    @classmethod
    def from_env(
        cls,
        clock: Clock,
        *,
        credentials: CloudCredentials | None = None,
        env: Mapping[str, str] | None = None,
        transport: str | None = None,
        credentials_provider: CredentialsProvider | None = None,
    ) -> OpenApiCloud:
        """Build from ``PODNET_REGION``, ``PODNET_ECS_ENDPOINT``, ``PODNET_VPC_ENDPOINT``,
        ``PODNET_CLOUD_TRANSPORT`` (unless ``transport`` is given) and the ``ALIBABA_CLOUD_*``
        credentials (or ``credentials``, e.g. from an FC context, or ``credentials_provider``, asked
        before every request)."""
        from podnet.adapters.config import Settings

        e = os.environ if env is None else env
        s = Settings.from_env(e).require("region", "ecs_endpoint", "vpc_endpoint")
        return cls(
            region=s.region,
            ecs_endpoint=s.ecs_endpoint,
            vpc_endpoint=s.vpc_endpoint,
            credentials=credentials or (None if credentials_provider is not None else CloudCredentials.from_env(e)),
            credentials_provider=credentials_provider,
            protocol=s.cloud_protocol,
            clock=clock,
            rate_limiter=RateLimiter(clock, s.rate_limits, max_instances=s.max_instances),
            transport=transport or s.cloud_transport,
        )

    # --- credentials and clients ---------------------------------------------------------------
    @property
    def credentials(self) -> CloudCredentials:
        """The credentials the next request is signed with (asks the provider if it never was)."""
        if self._credentials is None:
            self.refresh_credentials()
        assert self._credentials is not None
        return self._credentials

    def refresh_credentials(self) -> None:
        """Ask the ``credentials_provider`` (if any) and switch to its triple when it changed."""
        provider = self._credentials_provider
        if provider is None:
            return
        fresh = provider()
        if fresh != self._credentials:
            self.set_credentials(fresh)

    def set_credentials(self, credentials: CloudCredentials) -> None:
        """Use new (rotated) credentials from the next call on (the signed transport reads them per call)."""
        with self._lock:
            if credentials != self._credentials:
                self._credentials = credentials
                self._clients.clear()

    def use_fc_context(self, context: Any) -> None:
        """Take the function role's current STS credentials from an FC handler ``context``."""
        self.set_credentials(CloudCredentials.from_fc_context(context))

    def _client(self, service: str) -> Any:
        c = self.credentials  # asks the provider if it never was (not under the lock: set_credentials takes it)
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                tea = _tea()
                c = self._credentials or c  # the latest, read under the lock that set_credentials holds
                cfg = tea.Config(
                    access_key_id=c.access_key_id,
                    access_key_secret=c.access_key_secret,
                    security_token=c.security_token,
                    region_id=self.region,
                    endpoint=self.endpoints[service],
                    protocol=self.protocol,
                    read_timeout=int(self.timeout_s * 1000),
                    connect_timeout=int(min(self.timeout_s, 3.0) * 1000),
                    user_agent=self.user_agent,
                )
                client = self._clients[service] = tea.Client(cfg)
            return client

    def _signed_sender(self) -> Any:
        with self._lock:
            if self._sender is None:
                from podnet.adapters.acs3 import AcsSender

                self._sender = AcsSender(
                    protocol=self.protocol, timeout_s=self.timeout_s, connect_timeout_s=min(self.timeout_s, 3.0)
                )
            return self._sender

    # --- one call ------------------------------------------------------------------------------
    def _send(self, service: str, action: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """One HTTP request; raises ``_Failure``."""
        if self.transport == "signed":
            return self._send_signed(service, action, query)
        return self._send_tea(service, action, query)

    def _send_signed(self, service: str, action: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """One request through ``acs3``, failures classified exactly as ``_send_tea`` classifies Tea's."""
        from podnet.adapters import acs3

        sender = self._signed_sender()
        c = self.credentials
        try:
            resp = sender.send(
                endpoint=self.endpoints[service],
                action=action,
                version=ECS_VERSION if service == "ecs" else VPC_VERSION,
                query=acs3.flatten_query(query),
                access_key_id=c.access_key_id,
                access_key_secret=c.access_key_secret,
                security_token=c.security_token,
                user_agent=self.user_agent,
            )
        except acs3.AcsTransportError as e:
            raise _classify_transport(e) from e
        if 400 <= resp.status < 600:
            # Tea: an error answer it cannot read is a lost answer (its JSON error surfaces wrapped in
            # UnretryableException, which _send_tea classifies as InvalidResponse).
            try:
                err = acs3.parse_error_body(resp.headers, resp.body)
            except ValueError as e:
                raise _Failure("lost", "InvalidResponse", f"{action}: HTTP {resp.status}, unreadable error body: {e}") from e
            code = str(err.get("Code") or err.get("code") or "Unknown")
            message = str(err.get("Message") or err.get("message") or f"HTTP {resp.status}")
            request_id = str(err.get("RequestId") or err.get("requestId") or "")
            retry_after_ms = acs3.throttling_time_left_ms(resp.headers)
            if retry_after_ms is not None:  # Tea's ThrottlingException, whatever the code
                raise _Failure("transient", code, message, resp.status, request_id, retry_after_ms / 1000.0)
            kind = "transient" if _is_transient(code, resp.status) else "api"
            raise _Failure(kind, code, message, resp.status, request_id)
        try:
            body = json.loads(resp.body.decode("utf-8"))
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise _Failure("lost", "InvalidResponse", f"{action}: response body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise _Failure("lost", "InvalidResponse", f"{action}: response body is not a JSON object")
        return body

    def _send_tea(self, service: str, action: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """One request through the Tea generic client."""
        tea = _tea()
        client = self._client(service)
        params = tea.Params(
            action=action,
            version=ECS_VERSION if service == "ecs" else VPC_VERSION,
            protocol="HTTPS",  # the Config's protocol wins, as in the typed clients
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        request = tea.OpenApiRequest(query=tea.Utils.query(dict(query)))
        try:
            resp = client.call_api(params, request, tea.RuntimeOptions())
        except tea.AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            code = str(e.code or data.get("Code") or "Unknown")
            message = str(data.get("Message") or e.message or "")
            status = int(e.status_code or 0)
            request_id = str(data.get("RequestId") or getattr(e, "request_id", "") or "")
            if isinstance(e, tea.ThrottlingException):
                ra = float(getattr(e, "retry_after", 0) or 0) / 1000.0  # x-acs-retry-after is in ms
                raise _Failure("transient", code, message, status, request_id, ra) from e
            kind = "transient" if _is_transient(code, status) else "api"
            raise _Failure(kind, code, message, status, request_id) from e
        except Exception as e:
            # Connection errors arrive as Tea's UnretryableException wrapping darabonba's RetryError
            # (itself raised while handling the requests/urllib3 error); anything else is a bug here.
            if not (isinstance(e, OSError) or type(e).__name__ in _TEA_TRANSPORT_NAMES):
                raise
            raise _classify_transport(e) from e
        body = resp.get("body") if isinstance(resp, dict) else None
        if not isinstance(body, dict):
            raise _Failure("lost", "InvalidResponse", f"{action}: response body is not a JSON object")
        return body

    def _attempt(self, service: str, action: str, query: Mapping[str, Any]) -> dict[str, Any]:
        if self.rate_limiter is not None:
            wait = self.rate_limiter.acquire(action, max_wait_s=self.max_rate_wait_s)
            self.metrics.record_wait(action, wait)
            if wait > self.max_rate_wait_s:
                raise RetryableError(f"{action}: client-side rate limit, retry in {wait:.1f}s", delay_s=wait, code="RateLimited")
            if wait > 0:
                self._sleep(wait)
        # every attempt (retries included) signs with the provider's current triple
        self.refresh_credentials()
        t0 = perf_counter()
        try:
            body = self._send(service, action, query)
        except _Failure as f:
            self.metrics.record_call(action, perf_counter() - t0, f.code, throttled=f.code in THROTTLING_CODES or f.code.startswith("Throttling"))
            raise
        self.metrics.record_call(action, perf_counter() - t0)
        return body

    def _call(self, service: str, action: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """One API call with the in-call retries; raises the port's errors."""
        read_only = action in READ_ACTIONS

        def classify(exc: BaseException) -> float | None:
            if not isinstance(exc, _Failure):
                return None
            if exc.kind in ("transient", "unsent") or (exc.kind == "lost" and read_only):
                return exc.retry_after_s
            return None

        def on_retry(exc: BaseException, delay: float) -> None:
            log.info("retrying %s after %s in %.2fs", action, getattr(exc, "code", exc), delay, extra=fields(api=action))

        try:
            return self.retry.run(lambda: self._attempt(service, action, query), classify, sleep=self._sleep, on_retry=on_retry)
        except RetriesExhausted as ex:
            last = ex.last
            code = getattr(last, "code", "") or type(last).__name__
            raise RetryableError(
                f"{action} failed after {ex.attempts} attempts: {last}", delay_s=ex.delay_s, code=code
            ) from last
        except _Failure as f:
            if f.kind == "lost":
                raise CloudTransportError(f"{action}: no answer ({f.code}): {f.message}") from f
            raise CloudError(f.code, f.message, f.status, f.request_id) from f

    # --- CloudApi ------------------------------------------------------------------------------
    def describe_vswitches(self, vswitch_ids: list[str]) -> list[VSwitchInfo]:
        """The vSwitches that exist among ``vswitch_ids`` (one paged call per ID; unknown IDs are absent)."""
        out: dict[str, VSwitchInfo] = {}
        for vsw_id in dict.fromkeys(vswitch_ids):
            page, seen = 1, 0
            while page <= MAX_PAGES:
                body = self._call(
                    "vpc",
                    "DescribeVSwitches",
                    {"RegionId": self.region, "VSwitchId": vsw_id, "PageNumber": page, "PageSize": VSWITCH_PAGE_SIZE},
                )
                items = [v for v in _list_of(body, "VSwitches", "VSwitch") if isinstance(v, dict)]
                for v in items:
                    info = vswitch_from_api(v)
                    if info.id == vsw_id:
                        out[info.id] = info
                seen += len(items)
                total = _int_or_none(body.get("TotalCount")) or 0
                if not items or seen >= total:
                    break
                page += 1
        return [out[i] for i in dict.fromkeys(vswitch_ids) if i in out]

    def create_network_interface(
        self,
        *,
        vswitch_id: str,
        security_group_ids: list[str],
        client_token: str,
        tags: dict[str, str],
        delete_on_release: bool,
        description: str = "",
    ) -> EniInfo:
        """CreateNetworkInterface (Secondary, SourceDestCheck off); the same ClientToken returns the same ENI."""
        if not client_token or len(client_token) > 64 or not client_token.isascii():
            raise PermanentError(f"ClientToken must be 1-64 ASCII characters: {client_token!r}", code="InvalidClientToken")
        query: dict[str, Any] = {
            "RegionId": self.region,
            "VSwitchId": vswitch_id,
            "SecurityGroupIds": list(security_group_ids),
            "ClientToken": client_token,
            "InstanceType": "Secondary",
            "DeleteOnRelease": bool(delete_on_release),
            "SourceDestCheck": False,
            "Tag": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if description:
            query["Description"] = description
        body = self._call("ecs", "CreateNetworkInterface", query)
        eni = eni_from_api(body)
        if not eni.id:
            raise CloudTransportError("CreateNetworkInterface: answer has no NetworkInterfaceId")
        return eni

    def attach_network_interface(self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None) -> None:
        """AttachNetworkInterface (asynchronous: poll Describe for InUse); to the trunk ENI when given."""
        query: dict[str, Any] = {"RegionId": self.region, "NetworkInterfaceId": eni_id, "InstanceId": instance_id}
        if trunk_eni_id:
            query["TrunkNetworkInstanceId"] = trunk_eni_id
        self._call("ecs", "AttachNetworkInterface", query)

    def detach_network_interface(self, eni_id: str, instance_id: str, trunk_eni_id: str | None = None) -> None:
        """DetachNetworkInterface; an ENI that is gone or already detached counts as done."""
        query: dict[str, Any] = {"RegionId": self.region, "NetworkInterfaceId": eni_id, "InstanceId": instance_id}
        if trunk_eni_id:
            query["TrunkNetworkInstanceId"] = trunk_eni_id
        try:
            self._call("ecs", "DetachNetworkInterface", query)
        except CloudError as e:
            if e.code in ENI_NOT_FOUND_CODES:
                log.info("detach %s: %s, counts as done", eni_id, e.code, extra=fields(eni=eni_id))
                return
            # Some codes (e.g. an invalid ENI state) mean "already detached": look before failing.
            current = self.describe_network_interfaces(eni_ids=[eni_id])
            if not current or current[0].status == "Available":
                log.info("detach %s: %s but the ENI is %s, counts as done", eni_id, e.code,
                         current[0].status if current else "gone", extra=fields(eni=eni_id))
                return
            raise

    def delete_network_interface(self, eni_id: str) -> None:
        """DeleteNetworkInterface; an ENI that is gone counts as done."""
        try:
            self._call("ecs", "DeleteNetworkInterface", {"RegionId": self.region, "NetworkInterfaceId": eni_id})
        except CloudError as e:
            if e.code in ENI_NOT_FOUND_CODES:
                log.info("delete %s: %s, counts as done", eni_id, e.code, extra=fields(eni=eni_id))
                return
            raise

    def describe_network_interfaces(
        self,
        *,
        eni_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        eni_type: str | None = None,
    ) -> list[EniInfo]:
        """Every matching ENI: IDs in chunks of 100, each chunk following NextToken pages of 500."""
        if eni_ids is not None and not eni_ids:
            return []
        base: dict[str, Any] = {"RegionId": self.region, "MaxResults": DESCRIBE_MAX_RESULTS}
        if tags:
            base["Tag"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        if instance_id:
            base["InstanceId"] = instance_id
        if status:
            base["Status"] = status
        if eni_type:
            base["Type"] = eni_type
        found: dict[str, EniInfo] = {}
        if eni_ids is None:
            self._describe_pages(base, found)
        else:
            ids = list(dict.fromkeys(eni_ids))
            for i in range(0, len(ids), ENI_IDS_PER_CALL):
                self._describe_ids(base, ids[i : i + ENI_IDS_PER_CALL], found)
        return list(found.values())

    def _describe_ids(self, base: Mapping[str, Any], ids: list[str], found: dict[str, EniInfo]) -> None:
        try:
            self._describe_pages({**base, "NetworkInterfaceId": ids}, found)
        except CloudError as e:
            if e.code not in ENI_NOT_FOUND_CODES:
                raise
            # Terway: a single-ID describe answering NotFound means "no such ENI". For several IDs,
            # split so one missing ENI does not hide the others.
            if len(ids) > 1:
                mid = len(ids) // 2
                self._describe_ids(base, ids[:mid], found)
                self._describe_ids(base, ids[mid:], found)

    def _describe_pages(self, query: Mapping[str, Any], found: dict[str, EniInfo]) -> None:
        token = ""
        tokens_seen: set[str] = set()
        for _ in range(MAX_PAGES):
            q = dict(query)
            if token:
                q["NextToken"] = token
            body = self._call("ecs", "DescribeNetworkInterfaces", q)
            for item in _list_of(body, "NetworkInterfaceSets", "NetworkInterfaceSet"):
                if isinstance(item, dict):
                    eni = eni_from_api(item)
                    found[eni.id] = eni
            token = str(body.get("NextToken") or "")
            if not token:
                return
            if token in tokens_seen:
                raise CloudError("InvalidNextToken", f"DescribeNetworkInterfaces repeated NextToken {token!r}")
            tokens_seen.add(token)
        raise CloudError("TooManyPages", "DescribeNetworkInterfaces did not finish paging")


def _strip_scheme(endpoint: str) -> str:
    for prefix in ("https://", "http://"):
        if endpoint.startswith(prefix):
            return endpoint[len(prefix) :].rstrip("/")
    return endpoint.rstrip("/")


def _time_sleep(seconds: float) -> None:
    time.sleep(max(0.0, seconds))
