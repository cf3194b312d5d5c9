"""ACS3-HMAC-SHA256 request signing and a tiny urllib3 sender for the ECS/VPC RPC calls.

Why: importing the Tea generic client costs ~160 ms (it pulls in aiohttp and apscheduler even for
synchronous calls), which alone put the Function Compute handlers' cold start over budget. This
module needs only the standard library at import; urllib3 (~35-50 ms, shared with ``HttpKube``)
is imported when the first sender is built.

The request is the one ``alibabacloud_tea_openapi.Client.do_request`` (0.4.x, the ACS3 path that
``call_api`` takes for the default signature algorithm) sends for ``Params(style="RPC",
method="POST", pathname="/")`` with ``OpenApiRequest(query=Utils.query(...))`` and no body:

- ``POST /?<query>``: the query is ``urllib.parse.urlencode`` of the flattened parameters
  (``flatten_query`` = Tea's ``Utils.query``: lists as ``Key.1``, dicts as ``Key.Sub``, every value
  ``str()``-ed, so booleans go as ``True``/``False``);
- headers, in this order: ``host``, ``x-acs-version``, ``x-acs-action``, ``user-agent``,
  ``x-acs-date`` (``%Y-%m-%dT%H:%M:%SZ`` in UTC), ``x-acs-signature-nonce``, ``accept:
  application/json``, ``x-acs-content-sha256`` (hex SHA-256 of the empty body),
  ``x-acs-credentials-provider`` (``static_ak``, or ``static_sts`` with an STS token, as Tea's
  credentials client reports them), with STS credentials ``x-acs-accesskey-id`` and
  ``x-acs-security-token``, then ``Authorization``, and last
  ``Content-Length: 0`` (added by requests after signing, so not signed);
- canonical request: ``METHOD\\n/\\n<canonical query>\\n<canonical headers>\\n<signed headers>\\n
  <hashed payload>``, where the canonical query is the parameters sorted by name, values
  percent-encoded with ``quote(v, safe="~")`` (names as they are), and every header present at
  signing time is signed: names lowercased and sorted, values stripped, ``name:value\\n`` each;
- string to sign: ``ACS3-HMAC-SHA256\\n<hex SHA-256 of the canonical request>``; the signature is
  the hex HMAC-SHA256 of it keyed with the AccessKey secret;
- ``Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<a;b;c>,Signature=<hex>``.

``tests/adapters/test_acs3.py`` checks this against the Tea client byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "ALGORITHM",
    "AcsResponse",
    "AcsSender",
    "AcsTransportError",
    "canonical_headers",
    "canonical_query_string",
    "default_user_agent",
    "flatten_query",
    "parse_error_body",
    "rpc_headers",
    "sign_request",
    "signature_nonce",
    "throttling_time_left_ms",
    "timestamp",
]

ALGORITHM = "ACS3-HMAC-SHA256"


# --- pure functions ----------------------------------------------------------------------------------
def flatten_query(params: Mapping[str, Any]) -> dict[str, str]:
    """Tea's ``Utils.query``: nested lists/dicts to ``Key.1.Sub`` names, values ``str()``-ed, None dropped."""
    out: dict[str, str] = {}

    def walk(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{key}.{k}", v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value, start=1):
                walk(f"{key}.{i}", v)
        else:
            out[key[1:] if key.startswith(".") else key] = (
                value.decode("utf-8") if isinstance(value, bytes) else str(value)
            )

    for k, v in params.items():
        walk(f".{k}", v)
    return out


def canonical_query_string(query: Mapping[str, str | None]) -> str:
    """Parameters sorted by name, ``name=quote(value, safe="~")`` joined with ``&`` (None values skipped)."""
    return "&".join(f"{k}={quote(query[k] or '', safe='~')}" for k in sorted(k for k, v in query.items() if v is not None))


def canonical_headers(headers: Mapping[str, Any]) -> tuple[str, str]:
    """``(canonical headers, signed headers)``: every non-None header, lowercased and sorted."""
    values: dict[str, list[str]] = {}
    for k, v in headers.items():
        if v is not None:
            values.setdefault(k.lower(), []).append((v.decode("utf-8") if isinstance(v, bytes) else str(v)).strip())
    names = sorted(values)
    return "".join(f"{n}:{','.join(sorted(values[n]))}\n" for n in names), ";".join(names)


def sign_request(
    method: str,
    pathname: str,
    query: Mapping[str, str | None],
    headers: Mapping[str, str],
    body: bytes | None,
    access_key_id: str,
    access_key_secret: str,
) -> dict[str, str]:
    """``headers`` plus ``x-acs-content-sha256`` (kept in place when present) and ``Authorization``.

    Every header given is signed, so pass exactly the headers that will be sent (``host``,
    ``x-acs-date``, ``x-acs-signature-nonce``, ... and the STS headers) and nothing added later.
    """
    out = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    payload = hashlib.sha256(body or b"").hexdigest()
    out["x-acs-content-sha256"] = payload
    canon_headers, signed = canonical_headers(out)
    canonical_request = (
        f"{method.upper()}\n{pathname or '/'}\n{canonical_query_string(query)}\n{canon_headers}\n{signed}\n{payload}"
    )
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"
    signature = hmac.new(access_key_secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={signature}"
    return out


def timestamp(now: float | None = None) -> str:
    """``x-acs-date``: UTC, second precision, ``2025-01-01T00:00:00Z`` (wall time, as the server checks it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


def signature_nonce() -> str:
    """``x-acs-signature-nonce``: 32 random hex digits (Tea's is an MD5 hex digest: same shape)."""
    return os.urandom(16).hex()


_UA: str | None = None


def default_user_agent() -> str:
    """Tea's default ``user-agent`` (``AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2``).

    The same string as the Tea client sends, so the server sees one client whichever transport is in
    use. The Tea core version is read from its source file, not imported (importing is what we avoid).
    """
    global _UA
    if _UA is None:
        import platform

        core = "unknown"
        try:
            import importlib.util

            spec = importlib.util.find_spec("Tea")  # locates the package without executing it
            if spec is not None and spec.origin:
                with open(spec.origin, encoding="utf-8") as f:
                    m = re.search(r"""__version__\s*=\s*['"]([^'"]+)['"]""", f.read())
                if m:
                    core = m.group(1)
        except (ImportError, OSError, ValueError):
            pass
        _UA = f"AlibabaCloud ({platform.system()}; {platform.machine()}) Python/{platform.python_version()} Core/{core} TeaDSL/2"
    return _UA


def rpc_headers(
    *,
    host: str,
    action: str,
    version: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None = None,
    user_agent: str = "",
    date: str | None = None,
    nonce: str | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The signed headers of one RPC call (``POST /``, empty body), in the order Tea sends them."""
    headers = {
        "host": host,
        "x-acs-version": version,
        "x-acs-action": action,
        "user-agent": f"{default_user_agent()} {user_agent}" if user_agent else default_user_agent(),
        "x-acs-date": date or timestamp(),
        "x-acs-signature-nonce": nonce or signature_nonce(),
        "accept": "application/json",
        "x-acs-content-sha256": "",  # filled in by sign_request; here for Tea's header order
        # what alibabacloud_credentials reports for a static key pair / STS triple
        "x-acs-credentials-provider": "static_sts" if security_token else "static_ak",
    }
    if security_token:
        headers["x-acs-accesskey-id"] = access_key_id
        headers["x-acs-security-token"] = security_token
    return sign_request("POST", "/", query or {}, headers, b"", access_key_id, access_key_secret)


# --- the sender --------------------------------------------------------------------------------------
class AcsTransportError(Exception):
    """No HTTP answer: the urllib3/socket error is the ``__cause__`` (connect failure, reset, timeout)."""


@dataclass(frozen=True)
class AcsResponse:
    """One HTTP answer: status, lowercased headers, the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class AcsSender:
    """Sends signed RPC calls over one urllib3 pool manager (keep-alive per host; thread-safe)."""

    def __init__(self, *, protocol: str = "https", timeout_s: float = 10.0, connect_timeout_s: float = 3.0) -> None:
        import urllib3  # paid by whoever builds a sender, not by importing this module

        self.protocol = protocol.lower()
        self._urllib3 = urllib3
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=timeout_s)
        pool_kw: dict[str, Any] = {"maxsize": 8, "block": False}
        if self.protocol == "https":
            pool_kw["cert_reqs"] = "CERT_REQUIRED"
            try:
                import certifi  # the CA bundle Tea (requests) verifies with, when it is installed

                pool_kw["ca_certs"] = certifi.where()
            except ImportError:
                pass  # the system's default trust store
        # Tea passes HTTP(S)_PROXY from the environment to requests; do the same.
        proxy = _proxy_from_env(self.protocol)
        self._http = urllib3.ProxyManager(proxy, **pool_kw) if proxy else urllib3.PoolManager(**pool_kw)

    def send(
        self,
        *,
        endpoint: str,
        action: str,
        version: str,
        query: Mapping[str, str],
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        user_agent: str = "",
    ) -> AcsResponse:
        """One signed ``POST /?<query>``; an answer of any status is returned, no answer raises ``AcsTransportError``."""
        headers = rpc_headers(
            host=endpoint,
            action=action,
            version=version,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            security_token=security_token,
            user_agent=user_agent,
            query=query,
        )
        headers["Content-Length"] = "0"  # requests adds it after signing; unsigned, as there
        url = f"{self.protocol}://{endpoint}/"
        if query:
            url += "?" + urlencode(query)
        u3 = self._urllib3
        try:
            # retries=False: no hidden retries (OpenApiCloud decides), errors come out unwrapped so
            # the caller can tell "never connected" from "sent, then lost".
            resp = self._http.request(
                "POST", url, body=None, headers=headers, timeout=self._timeout, retries=False, redirect=False,
                preload_content=True,
            )
        except (u3.exceptions.HTTPError, OSError) as e:
            raise AcsTransportError(f"{action}: {type(e).__name__}: {e}") from e
        return AcsResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.data or b"")

    def clear(self) -> None:
        """Close the pooled connections."""
        self._http.clear()


def _proxy_from_env(protocol: str) -> str | None:
    name = "HTTPS_PROXY" if protocol == "https" else "HTTP_PROXY"
    return os.environ.get(name) or os.environ.get(name.lower()) or None


def throttling_time_left_ms(headers: Mapping[str, str]) -> int | None:
    """Tea's ``get_throttling_time_left``: a positive ``x-acs-retry-after`` (ms), else None."""
    raw = headers.get("x-acs-retry-after")
    try:
        left = int(raw) if raw not in (None, "") else 0
    except (TypeError, ValueError):
        return None
    return left if left > 0 else None


def parse_error_body(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The error object of a 4xx/5xx answer, as Tea reads it (XML ``<Error>`` or JSON); ``ValueError`` if unreadable."""
    text = body.decode("utf-8")
    if headers.get("content-type") == "text/xml;charset=utf-8":
        from xml.etree import ElementTree  # only for gateway-style XML errors

        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as e:
            raise ValueError(f"error body is not XML: {e}") from e
        node = root if root.tag == "Error" else root.find("Error")
        if node is None:
            raise ValueError("XML error body has no <Error>")
        return {child.tag: (child.text or "") for child in node}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("error body is not a JSON object")
    return data

