"""Admission rules for PodNetworkings and multi-network Pods (product spec section 2). Pure: no I/O.

Every problem becomes a ``Finding`` with a stable reason code (``REASON_CODES``), the field path inside
the object and a message saying what to do. Every problem is reported, not just the first, and
warnings are kept apart from errors. Input is plain Kubernetes JSON (dicts), checked as the user wrote
it, before anything is modelled, so a wrong type is a finding rather than a crash.

Choices where Terway and the spec leave room (also in the README):
- interface names follow Linux (1-15 bytes, no ``/``, ``:``, whitespace or control characters, not
  ``.``/``..``/``lo``), not Terway's 1-5 characters;
- "status known" means the PodNetworking has a non-empty ``status``: then it must be ``Ready``, and its
  ``status.vSwitches`` zones count for the zone intersection;
- allowed zones are intersected over the networks whose zones are known (``None`` when none are);
- a Fixed PodNetworking without ``releaseStrategy`` keeps IPs until the PodENI is deleted (as Never);
- unknown keys are errors, because the API server would drop them without a word.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podnet.domain.duration import format_go_duration_ns, parse_go_duration_ns
from podnet.domain.findings import Finding, Severity, ValidationFailed, errors_of, has_errors
from podnet.domain.models import (
    API_VERSION,
    POD_NETWORKING,
    POD_NETWORKS,
    POD_NETWORKS_REQUEST,
    AllocationType,
    ENIOptions,
    PodNetworkConfig,
    PodNetworking,
    PodNetworkRequest,
    PodNetworks,
    Route,
    VSwitchSelectOptions,
)

__all__ = [
    "REASON_CODES",
    "PLATFORMS",
    "MAX_REQUEST_BYTES",
    "MAX_INTERFACES",
    "MAX_SECURITY_GROUPS",
    "MIN_RELEASE_AFTER_NS",
    "WORKLOAD_KINDS",
    "validate_pod_networking",
    "parse_pod_networks_request",
    "validate_pod",
    "validate_workload",
    "resolve_pod_networks",
    "allowed_zones",
    "is_fixed_name_pod",
    "pod_template_of",
    "pod_template_field",
    "pod_from_workload",
]

PLATFORMS = ("ack", "acs")
MAX_REQUEST_BYTES = 16 * 1024
MAX_INTERFACES = 8
MAX_SECURITY_GROUPS = 10
MIN_RELEASE_AFTER_NS = 5 * 60 * 1_000_000_000

# Every reason code this module can report, with what it means. Codes are part of the contract.
REASON_CODES: dict[str, str] = {
    # shape
    "InvalidFieldType": "a field has the wrong JSON type",
    "UnknownField": "a key this object does not have (typo?)",
    "DuplicateKey": "a JSON object repeats a key",
    # PodNetworking
    "UnsupportedAPIVersion": f"PodNetworking apiVersion is not {API_VERSION}",
    "MissingName": "metadata.name is missing",
    "MissingVSwitchOptions": "spec.vSwitchOptions is empty",
    "InvalidVSwitchID": "a vSwitch id is not vsw-...",
    "DuplicateVSwitchID": "a vSwitch id is listed twice",
    "MissingSecurityGroupIDs": "spec.securityGroupIDs is empty",
    "InvalidSecurityGroupID": "a security group id is not sg-...",
    "DuplicateSecurityGroupID": "a security group id is listed twice",
    "TooManySecurityGroups": "more than 10 security groups",
    "InvalidENIType": "eniType is not Default, ENI or Trunk",
    "ENITypeNotSupportedOnACS": "on ACS eniType must be Default",
    "InvalidAllocationType": "allocationType.type is not Elastic or Fixed",
    "InvalidReleaseStrategy": "releaseStrategy is not TTL or Never",
    "InvalidSelectionPolicy": "vSwitchSelectionPolicy is not ordered, most or random",
    "MissingReleaseAfter": "releaseStrategy TTL without releaseAfter",
    "InvalidReleaseAfter": "releaseAfter is not a Go duration",
    "ReleaseAfterTooShort": "releaseAfter is under 5m",
    "ReleaseAfterWithNever": "releaseAfter set with releaseStrategy Never",
    "ReleaseAfterWithoutTTL": "releaseAfter set on Fixed without releaseStrategy TTL",
    "ReleaseStrategyWithElastic": "(warning) releaseStrategy has no effect with Elastic",
    "ReleaseAfterWithElastic": "(warning) releaseAfter has no effect with Elastic",
    # Pod annotation
    "ConflictingAnnotations": "pod-networks-request together with pod-networks or pod-networking",
    "InvalidPodNetworks": "the k8s.aliyun.com/pod-networks annotation is malformed",
    "HostNetworkPod": "a hostNetwork pod cannot have extra interfaces",
    "AnnotationTooLarge": "the annotation is over 16 KiB",
    "InvalidJSON": "the annotation is not valid JSON",
    "NotAList": "the annotation is not a JSON list",
    "EmptyRequest": "the annotation is an empty list",
    "EntryNotAnObject": "a list entry is not a JSON object",
    "MissingInterfaceName": "interfaceName is missing",
    "InvalidInterfaceName": "interfaceName is not a valid Linux interface name",
    "DuplicateInterfaceName": "two entries use the same interfaceName",
    "MissingNetwork": "network is missing",
    "NetworkNotFound": "network names no PodNetworking",
    "NetworkInvalid": "the referenced PodNetworking itself has errors",
    "NetworkNotReady": "the referenced PodNetworking is not Ready",
    "NetworkHasSelector": "the referenced PodNetworking has a pod or namespace selector",
    "MultipleDefaultRoutes": "more than one entry has defaultRoute: true",
    "NoDefaultRoute": "no entry has defaultRoute: true and there is no eth0",
    "InvalidRouteDst": "a route dst is not a CIDR",
    "DuplicateRoute": "the same destination is routed twice (or is the default route)",
    "ENITypeMismatch": "the referenced networks differ in eniType",
    "FixedIPRequiresFixedName": "a Fixed network on a pod without a fixed name",
    "NoCommonZone": "the networks' vSwitch zones have no zone in common",
    "DefaultRouteNotSupportedOnACS": "defaultRoute is not supported on ACS",
    "RoutesNotSupportedOnACS": "routes are not supported on ACS",
    "TooManyInterfaces": "more interfaces than the limit (default 8)",
    # podnet validate (across documents)
    "DuplicateObject": "(warning) the same object is defined twice in the input; the later one wins",
}

# Kinds with a pod template -> where the template is, and the owner kind of the pods they create.
WORKLOAD_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "Deployment": (("spec", "template"), "ReplicaSet"),
    "ReplicaSet": (("spec", "template"), "ReplicaSet"),
    "StatefulSet": (("spec", "template"), "StatefulSet"),
    "DaemonSet": (("spec", "template"), "DaemonSet"),
    "Job": (("spec", "template"), "Job"),
    "CronJob": (("spec", "jobTemplate", "spec", "template"), "Job"),
    "ReplicationController": (("spec", "template"), "ReplicationController"),
}

_ENI_TYPES = ("Default", "ENI", "Trunk")
_ALLOCATION_TYPES = ("Elastic", "Fixed")
_RELEASE_STRATEGIES = ("TTL", "Never")
_SELECTION_POLICIES = ("ordered", "most", "random")

_PN_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_SPEC_KEYS = ("eniOptions", "allocationType", "selector", "securityGroupIDs", "vSwitchOptions", "vSwitchSelectOptions")
_ALLOC_KEYS = ("type", "releaseStrategy", "releaseAfter")
_ENI_OPTION_KEYS = ("eniType",)
_VSW_SELECT_KEYS = ("vSwitchSelectionPolicy",)
_SELECTOR_KEYS = ("podSelector", "namespaceSelector")
_LABEL_SELECTOR_KEYS = ("matchLabels", "matchExpressions")
_REQUEST_KEYS = ("interfaceName", "network", "defaultRoute", "routes")
_ROUTE_KEYS = ("dst",)

# Real ids are lowercase letters and digits after the prefix; hyphens inside are tolerated because
# documentation examples use them (vsw-primary-a).
_ID_BODY = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_VSW_RE = re.compile(rf"vsw-{_ID_BODY}")
_SG_RE = re.compile(rf"sg-{_ID_BODY}")
_MAX_ID_LEN = 64
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _ann(key: str) -> str:
    return f"metadata.annotations[{key}]"


_REQUEST_FIELD = _ann(POD_NETWORKS_REQUEST)


# --- helpers ---------------------------------------------------------------------------------------
class _Collector:
    """Accumulates findings (without object identity; ``_finish`` attributes them)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, severity: Severity, code: str, field_path: str, message: str) -> None:
        assert code in REASON_CODES, code
        self.findings.append(Finding(severity=severity, code=code, field=field_path, message=message))

    def error(self, code: str, field_path: str, message: str) -> None:
        self.add("error", code, field_path, message)

    def warning(self, code: str, field_path: str, message: str) -> None:
        self.add("warning", code, field_path, message)

    def finish(self, kind: str, namespace: str, name: str) -> list[Finding]:
        return [f.about(kind, namespace, name) for f in self.findings]


def _q(value: Any) -> str:
    """A value quoted for a message: JSON string syntax, so odd characters stay visible."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _child(path: str, key: str) -> str:
    if _IDENT_RE.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_q(key)}]"


def _suggest(key: str, known: Iterable[str]) -> str | None:
    known = list(known)
    for k in known:
        if k.lower() == key.lower():
            return k
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _check_keys(c: _Collector, obj: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    """UnknownField for keys outside ``known``; DuplicateKey for keys a JSON object repeated."""
    for dup in getattr(obj, "duplicates", ()):
        c.error("DuplicateKey", _child(path, dup), f"key {_q(dup)} appears more than once; keep one")
    for key in obj:
        if key in known:
            continue
        key_text = key if isinstance(key, str) else str(key)
        hint = _suggest(key_text, known)
        did_you_mean = f"; did you mean {_q(hint)}?" if hint else ""
        c.error(
            "UnknownField",
            _child(path, key_text),
            f"unknown key {_q(key_text)}{did_you_mean} (known keys: {', '.join(known)})",
        )


def _mapping(c: _Collector, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    """``parent[key]`` when it is an object; None when absent/null; InvalidFieldType otherwise."""
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    c.error("InvalidFieldType", path, f"must be an object, not a {_type_name(value)}")
    return None


def _enum(c: _Collector, value: Any, allowed: tuple[str, ...], code: str, path: str) -> str | None:
    """The value when it is one of ``allowed``; None (after a finding) otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        c.error("InvalidFieldType", path, f"must be a string, one of {', '.join(allowed)}; got a {_type_name(value)}")
        return None
    if value in allowed:
        return value
    hint = _suggest(value, allowed)
    did_you_mean = f"; did you mean {_q(hint)}?" if hint else ""
    c.error(code, path, f"{_q(value)} is not one of {', '.join(allowed)}{did_you_mean}")
    return None


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _identity(obj: Any, default_kind: str, namespaced: bool) -> tuple[str, str, str]:
    """(kind, namespace, name) for findings; a namespaced object without a namespace is in ``default``."""
    if not isinstance(obj, Mapping):
        return default_kind, "default" if namespaced else "", ""
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) and obj.get("kind") else default_kind
    meta = _metadata(obj)
    name = meta.get("name") or meta.get("generateName") or ""
    namespace = (meta.get("namespace") or "default") if namespaced else ""
    return str(kind), str(namespace), str(name)


# --- PodNetworking ---------------------------------------------------------------------------------
def _check_ids(
    c: _Collector,
    spec: Mapping[str, Any],
    key: str,
    *,
    what: str,
    pattern: re.Pattern[str],
    example: str,
    missing_code: str,
    invalid_code: str,
    dup_code: str,
    other: tuple[str, str] | None,
    max_items: int | None = None,
    too_many_code: str = "",
) -> None:
    path = f"spec.{key}"
    value = spec.get(key)
    if value is None or (isinstance(value, list) and not value):
        c.error(missing_code, path, f"at least one {what} id is required, e.g. [{example}]")
        return
    if not isinstance(value, list):
        c.error("InvalidFieldType", path, f"must be a list of {what} ids, e.g. [{example}]; got a {_type_name(value)}")
        return
    if max_items is not None and len(value) > max_items:
        c.error(too_many_code, path, f"{len(value)} {what}s listed; at most {max_items} are allowed")
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if not isinstance(item, str):
            c.error("InvalidFieldType", item_path, f"must be a string {what} id; got a {_type_name(item)}")
            continue
        if len(item) > _MAX_ID_LEN or not pattern.fullmatch(item):
            hint = ""
            if other and item.startswith(other[0]):
                hint = f"; it looks like a {other[1]} id"
            elif item != item.strip():
                hint = "; remove the surrounding whitespace"
            c.error(
                invalid_code,
                item_path,
                f"{_q(item)} is not a {what} id (expected lowercase letters and digits after "
                f"{_q(example.split('-')[0] + '-')}, e.g. {example}){hint}",
            )
        if item in seen:
            c.error(dup_code, item_path, f"duplicate {what} id {_q(item)} (already at index {seen[item]}); list it once")
        else:
            seen[item] = i


def _check_label_selector(c: _Collector, selector: Mapping[str, Any], key: str, path: str) -> None:
    sel = _mapping(c, selector, key, path)
    if sel is None:
        return
    _check_keys(c, sel, _LABEL_SELECTOR_KEYS, path)
    labels = sel.get("matchLabels")
    if labels is not None and not isinstance(labels, Mapping):
        c.error("InvalidFieldType", f"{path}.matchLabels", f"must be an object of label: value; got a {_type_name(labels)}")
    exprs = sel.get("matchExpressions")
    if exprs is not None and not isinstance(exprs, list):
        c.error("InvalidFieldType", f"{path}.matchExpressions", f"must be a list; got a {_type_name(exprs)}")


def _check_allocation(c: _Collector, spec: Mapping[str, Any]) -> None:
    path = "spec.allocationType"
    alloc = _mapping(c, spec, "allocationType", path)
    if alloc is None:
        return
    _check_keys(c, alloc, _ALLOC_KEYS, path)
    raw_type = alloc.get("type")
    alloc_type = "Elastic" if raw_type is None else _enum(c, raw_type, _ALLOCATION_TYPES, "InvalidAllocationType", f"{path}.type")
    strategy_raw = alloc.get("releaseStrategy")
    strategy = _enum(c, strategy_raw, _RELEASE_STRATEGIES, "InvalidReleaseStrategy", f"{path}.releaseStrategy")
    after_path = f"{path}.releaseAfter"
    after_raw = alloc.get("releaseAfter")
    after_ns: int | None = None
    after_set = False
    if after_raw is not None:
        if not isinstance(after_raw, str):
            c.error("InvalidFieldType", after_path, f"must be a Go duration string such as \"1h\"; got a {_type_name(after_raw)}")
            after_set = True
        elif after_raw != "":
            after_set = True
            try:
                after_ns = parse_go_duration_ns(after_raw)
            except ValueError as exc:
                c.error("InvalidReleaseAfter", after_path, str(exc))

    if alloc_type == "Elastic":
        if strategy_raw is not None:
            c.warning(
                "ReleaseStrategyWithElastic",
                f"{path}.releaseStrategy",
                "has no effect with type Elastic (IPs are released with the pod); set type: Fixed or remove it",
            )
        if after_set:
            c.warning(
                "ReleaseAfterWithElastic",
                after_path,
                "has no effect with type Elastic (IPs are released with the pod); set type: Fixed "
                "with releaseStrategy: TTL, or remove it",
            )
    elif alloc_type == "Fixed":
        if strategy == "TTL":
            if not after_set:
                c.error("MissingReleaseAfter", after_path, 'releaseStrategy TTL needs releaseAfter, a Go duration of at least 5m such as "1h"')
            elif after_ns is not None and after_ns < MIN_RELEASE_AFTER_NS:
                c.error(
                    "ReleaseAfterTooShort",
                    after_path,
                    f"{_q(after_raw)} ({format_go_duration_ns(after_ns)}) is under the minimum of 5m0s",
                )
        elif strategy == "Never":
            if after_set:
                c.error(
                    "ReleaseAfterWithNever",
                    after_path,
                    "must be empty when releaseStrategy is Never; remove it, or use releaseStrategy: TTL",
                )
        elif strategy_raw is None and after_set:
            c.error(
                "ReleaseAfterWithoutTTL",
                after_path,
                "only applies with releaseStrategy: TTL; without a releaseStrategy, Fixed IPs are kept until "
                "the PodENI is deleted. Add releaseStrategy: TTL or remove releaseAfter",
            )


def validate_pod_networking(obj: dict[str, Any], *, platform: str = "ack") -> list[Finding]:
    """Every problem with a PodNetworking object (errors and warnings), attributed to it."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
    kind, namespace, name = _identity(obj, "PodNetworking", namespaced=False)
    c = _Collector()
    if not isinstance(obj, Mapping):
        c.error("InvalidFieldType", "", f"a PodNetworking must be an object, not a {_type_name(obj)}")
        return c.finish(kind, namespace, name)
    _check_keys(c, obj, _PN_KEYS, "")
    api_version = obj.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        c.error("UnsupportedAPIVersion", "apiVersion", f"{_q(api_version)} is not supported; use {API_VERSION}")
    if obj.get("metadata") is not None and not isinstance(obj.get("metadata"), Mapping):
        c.error("InvalidFieldType", "metadata", f"must be an object, not a {_type_name(obj.get('metadata'))}")
    if not _metadata(obj).get("name"):
        c.error("MissingName", "metadata.name", "a PodNetworking needs a name (pods refer to it by name)")
    spec_raw = obj.get("spec")
    if spec_raw is not None and not isinstance(spec_raw, Mapping):
        c.error("InvalidFieldType", "spec", f"must be an object, not a {_type_name(spec_raw)}")
        return c.finish(kind, namespace, name)
    spec: Mapping[str, Any] = spec_raw or {}
    _check_keys(c, spec, _SPEC_KEYS, "spec")

    eni_options = _mapping(c, spec, "eniOptions", "spec.eniOptions")
    if eni_options is not None:
        _check_keys(c, eni_options, _ENI_OPTION_KEYS, "spec.eniOptions")
        eni_type = _enum(c, eni_options.get("eniType"), _ENI_TYPES, "InvalidENIType", "spec.eniOptions.eniType")
        if platform == "acs" and eni_type not in (None, "Default"):
            c.error(
                "ENITypeNotSupportedOnACS",
                "spec.eniOptions.eniType",
                f"ACS supports only eniType Default, not {_q(eni_type)}; set Default or remove eniOptions",
            )

    _check_ids(
        c, spec, "vSwitchOptions", what="vSwitch", pattern=_VSW_RE, example="vsw-bp1a2b3c4d5e6f",
        missing_code="MissingVSwitchOptions", invalid_code="InvalidVSwitchID", dup_code="DuplicateVSwitchID",
        other=("sg-", "security group"),
    )
    _check_ids(
        c, spec, "securityGroupIDs", what="security group", pattern=_SG_RE, example="sg-bp1a2b3c4d5e6f",
        missing_code="MissingSecurityGroupIDs", invalid_code="InvalidSecurityGroupID",
        dup_code="DuplicateSecurityGroupID", other=("vsw-", "vSwitch"),
        max_items=MAX_SECURITY_GROUPS, too_many_code="TooManySecurityGroups",
    )

    select = _mapping(c, spec, "vSwitchSelectOptions", "spec.vSwitchSelectOptions")
    if select is not None:
        _check_keys(c, select, _VSW_SELECT_KEYS, "spec.vSwitchSelectOptions")
        _enum(
            c, select.get("vSwitchSelectionPolicy"), _SELECTION_POLICIES, "InvalidSelectionPolicy",
            "spec.vSwitchSelectOptions.vSwitchSelectionPolicy",
        )

    _check_allocation(c, spec)

    selector = _mapping(c, spec, "selector", "spec.selector")
    if selector is not None:
        _check_keys(c, selector, _SELECTOR_KEYS, "spec.selector")
        for key in _SELECTOR_KEYS:
            _check_label_selector(c, selector, key, f"spec.selector.{key}")
    return c.finish(kind, namespace, name)


# --- the pod-networks-request annotation ---------------------------------------------------------------
class _JSONObject(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers repeated keys (json keeps only the last one)."""

    duplicates: tuple[str, ...] = ()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _JSONObject:
    obj = _JSONObject()
    dups: list[str] = []
    for key, value in pairs:
        if key in obj and key not in dups:
            dups.append(key)
        obj[key] = value
    if dups:
        obj.duplicates = tuple(dups)
    return obj


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; JSON (and Go) do not.
    raise ValueError(f"{name} is not valid JSON")


@dataclass
class _Entry:
    """One well-typed entry of the request (fields None when missing or invalid)."""

    index: int
    interface: str | None = None
    network: str | None = None
    default_route: bool | None = None
    routes: list[str] = field(default_factory=list)


def _interface_name_problem(name: str) -> str | None:
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > 15:
        return f"is {size} bytes long; Linux allows at most 15"
    if name in (".", ".."):
        return "is reserved"
    if name == "lo":
        return "is the loopback interface every pod already has"
    if any(ch in "/:" or ch.isspace() for ch in name):
        return "must not contain '/', ':' or whitespace"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "must not contain control characters"
    return None


def _route_problem(dst: str) -> str | None:
    if "/" not in dst:
        return f"{_q(dst)} is not a CIDR: add a prefix length, e.g. {dst}/32"
    try:
        ipaddress.ip_network(dst, strict=True)
    except ValueError as exc:
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            return f"{_q(dst)} is not a CIDR ({exc})"
        return f"{_q(dst)} has host bits set; the network is {net}"
    return None


def _check_request(
    raw: Any, *, max_bytes: int, platform: str, base: str = _REQUEST_FIELD
) -> tuple[list[_Entry] | None, list[Finding]]:
    """Parse and check the annotation on its own (no networks). Entries are None when unusable."""
    c = _Collector()
    if not isinstance(raw, str):
        c.error("InvalidFieldType", base, f"must be a string holding a JSON list; got a {_type_name(raw)}")
        return None, c.findings
    # Refuse before parsing: size is checked on the length first so a huge value costs nothing.
    if len(raw) > max_bytes:
        c.error("AnnotationTooLarge", base, f"is at least {len(raw)} bytes long; the limit is {max_bytes} bytes")
        return None, c.findings
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        c.error("AnnotationTooLarge", base, f"is {size} bytes long; the limit is {max_bytes} bytes")
        return None, c.findings
    try:
        data = json.loads(raw, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        c.error(
            "InvalidJSON",
            base,
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos}) of the value",
        )
        return None, c.findings
    except RecursionError:
        c.error("InvalidJSON", base, "is not usable JSON: nested too deeply")
        return None, c.findings
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        c.error("InvalidJSON", base, f"is not valid JSON: {exc}")
        return None, c.findings
    if not isinstance(data, list):
        hint = " (wrap the object in [ ])" if isinstance(data, Mapping) else ""
        c.error(
            "NotAList",
            base,
            f'must be a JSON list like [{{"interfaceName":"eth0","network":"default"}}], not a {_type_name(data)}{hint}',
        )
        return None, c.findings
    if not data:
        c.error("EmptyRequest", base, 'is an empty list; list at least the eth0 interface, e.g. [{"interfaceName":"eth0","network":"default"}]')
        return None, c.findings

    entries: list[_Entry] = []
    complete = True  # every entry has a usable interfaceName (else the default-route rules would mislead)
    seen_names: dict[str, int] = {}
    for i, item in enumerate(data):
        path = f"{base}[{i}]"
        if not isinstance(item, Mapping):
            c.error("EntryNotAnObject", path, f'must be an object like {{"interfaceName":"eth1","network":"..."}}, not a {_type_name(item)}')
            complete = False
            continue
        entry = _Entry(index=i)
        _check_keys(c, item, _REQUEST_KEYS, path)

        name = item.get("interfaceName")
        if name is None or name == "":
            c.error("MissingInterfaceName", f"{path}.interfaceName", 'is required, e.g. "eth1"')
            complete = False
        elif not isinstance(name, str):
            c.error("InvalidFieldType", f"{path}.interfaceName", f"must be a string such as \"eth1\"; got a {_type_name(name)}")
            complete = False
        else:
            problem = _interface_name_problem(name)
            if problem:
                c.error("InvalidInterfaceName", f"{path}.interfaceName", f"{_q(name)} {problem}")
                complete = False
            elif name in seen_names:
                # Message as in the product spec's example; the entry index is already in the path.
                c.error("DuplicateInterfaceName", f"{path}.interfaceName", f"duplicate interface name {_q(name)}")
            else:
                seen_names[name] = i
                entry.interface = name

        network = item.get("network")
        if network is None or network == "":
            c.error("MissingNetwork", f"{path}.network", "is required: the name of a PodNetworking")
        elif not isinstance(network, str):
            c.error("InvalidFieldType", f"{path}.network", f"must be a string (a PodNetworking name); got a {_type_name(network)}")
        else:
            entry.network = network

        default_route = item.get("defaultRoute")
        if default_route is not None:
            if not isinstance(default_route, bool):
                c.error("InvalidFieldType", f"{path}.defaultRoute", f"must be true or false; got a {_type_name(default_route)}")
            else:
                entry.default_route = default_route
                if platform == "acs" and default_route:
                    c.error(
                        "DefaultRouteNotSupportedOnACS",
                        f"{path}.defaultRoute",
                        "ACS does not support defaultRoute; remove it (eth0 carries the default route)",
                    )

        routes = item.get("routes")
        if routes is not None:
            if not isinstance(routes, list):
                c.error("InvalidFieldType", f"{path}.routes", f'must be a list like [{{"dst":"10.0.0.0/8"}}]; got a {_type_name(routes)}')
            else:
                if platform == "acs" and routes:
                    c.error("RoutesNotSupportedOnACS", f"{path}.routes", "ACS does not support routes; remove them")
                for j, route in enumerate(routes):
                    rpath = f"{path}.routes[{j}]"
                    if not isinstance(route, Mapping):
                        c.error("InvalidFieldType", rpath, f'must be an object like {{"dst":"10.0.0.0/8"}}; got a {_type_name(route)}')
                        continue
                    _check_keys(c, route, _ROUTE_KEYS, rpath)
                    dst = route.get("dst")
                    if dst is None or dst == "":
                        c.error("InvalidRouteDst", f"{rpath}.dst", 'is required: a CIDR such as "10.0.0.0/8"')
                    elif not isinstance(dst, str):
                        c.error("InvalidFieldType", f"{rpath}.dst", f"must be a CIDR string; got a {_type_name(dst)}")
                    else:
                        problem = _route_problem(dst)
                        if problem:
                            c.error("InvalidRouteDst", f"{rpath}.dst", problem)
                        else:
                            entry.routes.append(dst)
        entries.append(entry)

    # Default route: exactly one interface; an explicit true wins, else eth0.
    defaults = [e for e in entries if e.default_route]
    for extra in defaults[1:]:
        c.error(
            "MultipleDefaultRoutes",
            f"{base}[{extra.index}].defaultRoute",
            f"only one interface may carry the default route; entry {defaults[0].index} already sets defaultRoute: true",
        )
    default_entry = defaults[0] if defaults else next((e for e in entries if e.interface == "eth0"), None)
    if default_entry is None and complete:
        c.error(
            "NoDefaultRoute",
            base,
            'no interface carries the default route: add an "eth0" entry or set "defaultRoute": true on one entry',
        )

    # Routes: a destination can be routed once per pod, and 0.0.0.0/0 (::/0) is the default route's.
    routed: dict[Any, tuple[int, int]] = {}
    if default_entry is not None:
        routed[ipaddress.ip_network("0.0.0.0/0")] = (default_entry.index, -1)
        routed[ipaddress.ip_network("::/0")] = (default_entry.index, -1)
    for e in entries:
        for j, dst in enumerate(e.routes):
            net = ipaddress.ip_network(dst)
            if net in routed:
                where, wj = routed[net]
                c.error(
                    "DuplicateRoute",
                    f"{base}[{e.index}].routes[{j}].dst",
                    (
                        f"{dst} is the default route, carried by entry {where}; to send default traffic "
                        "through this interface, set defaultRoute: true on it instead"
                    )
                    if wj < 0
                    else f"{dst} is already routed by entry {where}; route each destination once",
                )
            else:
                routed[net] = (e.index, j)
    return entries, c.findings


def parse_pod_networks_request(raw: str, *, max_bytes: int = MAX_REQUEST_BYTES) -> list[PodNetworkRequest]:
    """Parse the ``k8s.aliyun.com/pod-networks-request`` annotation value.

    Checks everything that can be checked without the PodNetworkings (JSON, shape, keys, interface
    names, default route, routes). Raises ``ValidationFailed`` with every error found; an annotation
    over ``max_bytes`` is refused before it is parsed.
    """
    entries, findings = _check_request(raw, max_bytes=max_bytes, platform="ack")
    if entries is None or has_errors(findings):
        raise ValidationFailed(findings)
    return [
        PodNetworkRequest(
            interface_name=e.interface or "",
            network=e.network or "",
            default_route=e.default_route,
            routes=[Route(dst=d) for d in e.routes] if e.routes else None,
        )
        for e in entries
    ]


# --- pods ------------------------------------------------------------------------------------------
def is_fixed_name_pod(pod: dict[str, Any]) -> bool:
    """A pod keeps its name across re-creation: it has no owner, or a StatefulSet owns it."""
    refs = _metadata(pod).get("ownerReferences") if isinstance(pod, Mapping) else None
    if not refs or not isinstance(refs, list):
        return True
    return any(isinstance(r, Mapping) and r.get("kind") == "StatefulSet" for r in refs)


def _owner_text(pod: Mapping[str, Any]) -> str:
    refs = _metadata(pod).get("ownerReferences")
    if isinstance(refs, list):
        for r in refs:
            if isinstance(r, Mapping) and r.get("kind"):
                return f"{r.get('kind')} {_q(r.get('name', ''))}".strip()
    return "a controller"


def _network_spec(net: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = net.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _network_eni_type(net: Mapping[str, Any]) -> str:
    opts = _network_spec(net).get("eniOptions")
    value = opts.get("eniType") if isinstance(opts, Mapping) else None
    return value if isinstance(value, str) and value else "Default"  # the CRD default


def _network_allocation_type(net: Mapping[str, Any]) -> str:
    alloc = _network_spec(net).get("allocationType")
    value = alloc.get("type") if isinstance(alloc, Mapping) else None
    return value if isinstance(value, str) and value else "Elastic"


def _network_status(net: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = net.get("status")
    return status if isinstance(status, Mapping) and status else None


def _network_zones(net: Any) -> list[str] | None:
    """The zones of a network's vSwitches from its status; None when unknown."""
    if not isinstance(net, Mapping):
        return None
    status = _network_status(net)
    vsws = status.get("vSwitches") if status else None
    if not isinstance(vsws, list):
        return None
    zones = [v["zone"] for v in vsws if isinstance(v, Mapping) and isinstance(v.get("zone"), str) and v["zone"]]
    return list(dict.fromkeys(zones)) or None


def allowed_zones(networks: Iterable[dict[str, Any]]) -> set[str] | None:
    """The zones a pod using all ``networks`` can run in: the intersection of their ``status.vSwitches``
    zones, over the networks whose zones are known. None when no network's zones are known."""
    result: set[str] | None = None
    for net in networks:
        zones = _network_zones(net)
        if zones is None:
            continue
        result = set(zones) if result is None else result & set(zones)
    return result


def _own_snapshot(raw: Any, entries: list[_Entry] | None) -> bool:
    """True when a pod-networks value is the snapshot podnet wrote for this very request."""
    if not entries or not isinstance(raw, str):
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    items = data.get("podNetworks") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or len(items) != len(entries):
        return False
    return all(
        isinstance(it, Mapping) and it.get("network") == e.network and it.get("interface") == e.interface
        for it, e in zip(items, entries, strict=True)
    )


def _check_pod_networks_annotation(c: _Collector, raw: Any) -> None:
    path = _ann(POD_NETWORKS)
    try:
        if not isinstance(raw, str):
            raise ValueError(f"must be a string, not a {_type_name(raw)}")
        data = json.loads(raw)
        if not isinstance(data, Mapping) or not isinstance(data.get("podNetworks"), list):
            raise ValueError('must be a JSON object {"podNetworks": [...]}')
        PodNetworks.model_validate(data)
    except (ValueError, RecursionError) as exc:  # pydantic's ValidationError is a ValueError
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        c.error("InvalidPodNetworks", path, f"cannot be read: {text}")


def validate_pod(
    pod: dict[str, Any],
    networks: Mapping[str, dict[str, Any]],
    *,
    platform: str = "ack",
    max_interfaces: int = MAX_INTERFACES,
) -> list[Finding]:
    """Every problem with a Pod's multi-network request, checked against ``networks`` (PodNetworking
    objects by name). A pod without the annotation has nothing to check but the legacy-annotation rules.
    Readiness and zones are checked only for networks whose ``status`` is present."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
    kind, namespace, name = _identity(pod, "Pod", namespaced=True)
    c = _Collector()
    if not isinstance(pod, Mapping):
        c.error("InvalidFieldType", "", f"a Pod must be an object, not a {_type_name(pod)}")
        return c.finish(kind, namespace, name)
    meta = _metadata(pod)
    annotations = meta.get("annotations")
    if annotations is None:
        annotations = {}
    elif not isinstance(annotations, Mapping):
        c.error("InvalidFieldType", "metadata.annotations", f"must be an object, not a {_type_name(annotations)}")
        return c.finish(kind, namespace, name)

    raw = annotations.get(POD_NETWORKS_REQUEST)
    entries: list[_Entry] | None = None
    if raw is not None:
        spec = pod.get("spec")
        if isinstance(spec, Mapping) and spec.get("hostNetwork") is True:
            c.error(
                "HostNetworkPod",
                "spec.hostNetwork",
                f"a hostNetwork pod uses the node's network and cannot have {POD_NETWORKS_REQUEST}; "
                "remove one or the other",
            )
        entries, findings = _check_request(raw, max_bytes=MAX_REQUEST_BYTES, platform=platform)
        c.findings.extend(findings)

    # Legacy annotations are mutually exclusive with the request (and with each other).
    present = [k for k in (POD_NETWORKS_REQUEST, POD_NETWORKS, POD_NETWORKING) if k in annotations]
    if POD_NETWORKS in present and raw is not None and _own_snapshot(annotations.get(POD_NETWORKS), entries):
        present.remove(POD_NETWORKS)  # our own snapshot of this request, written at admission
    if len(present) > 1:
        for key in present[1:]:
            c.error(
                "ConflictingAnnotations",
                _ann(key),
                f"{', '.join(present)} must not be used together; keep only {present[0]}",
            )
    elif raw is None and POD_NETWORKS in present:
        _check_pod_networks_annotation(c, annotations.get(POD_NETWORKS))

    if entries is None:
        return c.finish(kind, namespace, name)

    if len(entries) > max_interfaces:
        c.error(
            "TooManyInterfaces",
            _REQUEST_FIELD,
            f"requests {len(entries)} interfaces; at most {max_interfaces} are allowed",
        )

    fixed_name = is_fixed_name_pod(pod)
    network_errors: dict[str, list[str]] = {}
    used: list[tuple[_Entry, str, Mapping[str, Any]]] = []
    for e in entries:
        if e.network is None:
            continue
        net_path = f"{_REQUEST_FIELD}[{e.index}].network"
        net = networks.get(e.network)
        if not isinstance(net, Mapping):
            hint = _suggest(e.network, [k for k in networks if isinstance(k, str)])
            did_you_mean = f"; did you mean {_q(hint)}?" if hint else ""
            c.error("NetworkNotFound", net_path, f"no PodNetworking named {_q(e.network)}{did_you_mean}")
            continue
        used.append((e, e.network, net))
        if e.network not in network_errors:
            network_errors[e.network] = [f.code for f in errors_of(validate_pod_networking(dict(net), platform=platform))]
        if network_errors[e.network]:
            codes = ", ".join(dict.fromkeys(network_errors[e.network]))
            c.error("NetworkInvalid", net_path, f"PodNetworking {_q(e.network)} is invalid ({codes}); fix it first")
        selector = _network_spec(net).get("selector")
        if isinstance(selector, Mapping) and any(selector.get(k) is not None for k in _SELECTOR_KEYS):
            c.error(
                "NetworkHasSelector",
                net_path,
                f"PodNetworking {_q(e.network)} has a podSelector or namespaceSelector, which is only for "
                "single-network mode; use a PodNetworking without selectors",
            )
        status = _network_status(net)
        if status is not None and status.get("status") != "Ready":
            state = status.get("status")
            why = f"; its message: {status.get('message')}" if status.get("message") else ""
            shown = _q(state) if state else "not yet synced"
            c.error("NetworkNotReady", net_path, f"PodNetworking {_q(e.network)} is not Ready (status {shown}){why}")
        if _network_allocation_type(net) == "Fixed" and not fixed_name:
            c.error(
                "FixedIPRequiresFixedName",
                net_path,
                f"PodNetworking {_q(e.network)} uses Fixed IPs, which need a pod with a stable name (a bare Pod "
                f"or a StatefulSet's pod); this pod is owned by {_owner_text(pod)}",
            )

    if used:
        first_entry, first_name, first_net = used[0]
        first_type = _network_eni_type(first_net)
        for e, net_name, net in used[1:]:
            eni_type = _network_eni_type(net)
            if eni_type != first_type:
                c.error(
                    "ENITypeMismatch",
                    f"{_REQUEST_FIELD}[{e.index}].network",
                    f"PodNetworking {_q(net_name)} has eniType {eni_type} but {_q(first_name)} (entry "
                    f"{first_entry.index}) has {first_type}; all networks of a pod must use the same eniType",
                )
        known = [(n, _network_zones(net)) for _, n, net in used]
        known_zones = [(n, z) for n, z in known if z is not None]
        if known_zones and not allowed_zones(net for _, _, net in used):
            listing = "; ".join(f"{n}: {', '.join(z)}" for n, z in dict(known_zones).items())
            c.error(
                "NoCommonZone",
                _REQUEST_FIELD,
                f"the networks' vSwitches share no zone, so no node can serve them all ({listing}); "
                "add vSwitches in a common zone",
            )
    return c.finish(kind, namespace, name)


# --- workloads --------------------------------------------------------------------------------------
def pod_template_field(kind: str) -> str | None:
    """The field path prefix of the pod template in a workload kind (``spec.template.``), or None."""
    where = WORKLOAD_KINDS.get(kind)
    return ".".join(where[0]) + "." if where else None


def pod_template_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a Deployment/StatefulSet/Job/CronJob/DaemonSet/ReplicaSet, or None."""
    if not isinstance(obj, Mapping):
        return None
    where = WORKLOAD_KINDS.get(obj.get("kind"))  # type: ignore[arg-type]
    if where is None:
        return None
    node: Any = obj
    for key in where[0]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, dict) else None


def pod_from_workload(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A Pod as the workload would create it (template metadata and spec, the owner it would have), or
    None when ``obj`` has no pod template."""
    template = pod_template_of(obj)
    if template is None:
        return None
    owner_kind = WORKLOAD_KINDS[obj["kind"]][1]
    meta = dict(template.get("metadata") or {}) if isinstance(template.get("metadata"), Mapping) else {}
    wl_meta = _metadata(obj)
    if wl_meta.get("namespace"):
        meta.setdefault("namespace", wl_meta["namespace"])
    meta["ownerReferences"] = [{"kind": owner_kind, "name": str(wl_meta.get("name", "")), "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


def validate_workload(
    obj: dict[str, Any],
    networks: Mapping[str, dict[str, Any]],
    *,
    platform: str = "ack",
    max_interfaces: int = MAX_INTERFACES,
) -> list[Finding]:
    """``validate_pod`` on a workload's pod template; findings name the workload, and their field paths
    start with ``spec.template.`` (CronJob: ``spec.jobTemplate.spec.template.``)."""
    pod = pod_from_workload(obj)
    if pod is None:
        return []
    kind, namespace, name = _identity(obj, str(obj.get("kind", "")), namespaced=True)
    prefix = pod_template_field(obj["kind"]) or ""
    return [
        f.about(kind, namespace, name, field_prefix=prefix)
        for f in validate_pod(pod, networks, platform=platform, max_interfaces=max_interfaces)
    ]


# --- resolution --------------------------------------------------------------------------------------
def resolve_pod_networks(
    pod: dict[str, Any],
    networks: Mapping[str, dict[str, Any]],
    *,
    platform: str = "ack",
    max_interfaces: int = MAX_INTERFACES,
) -> PodNetworks:
    """The snapshot to write to ``k8s.aliyun.com/pod-networks``: one config per requested interface, copied
    from its PodNetworking, with the default route resolved (exactly one true). Raises ``ValidationFailed``
    when ``validate_pod`` finds errors. A pod without the request annotation resolves to no networks."""
    findings = validate_pod(pod, networks, platform=platform, max_interfaces=max_interfaces)
    if has_errors(findings):
        raise ValidationFailed(findings)
    raw = _metadata(pod).get("annotations", {}).get(POD_NETWORKS_REQUEST)
    if raw is None:
        return PodNetworks()
    entries, _ = _check_request(raw, max_bytes=MAX_REQUEST_BYTES, platform=platform)
    assert entries is not None  # validate_pod found no errors
    explicit = next((e for e in entries if e.default_route), None)
    default_entry = explicit or next(e for e in entries if e.interface == "eth0")
    configs: list[PodNetworkConfig] = []
    for e in entries:
        net = PodNetworking.from_k8s(dict(networks[e.network or ""]))
        spec = net.spec
        zones = net.status.zones() if net.status is not None else []
        configs.append(
            PodNetworkConfig(
                interface=e.interface or "",
                network=e.network,
                v_switch_options=list(spec.v_switch_options),
                security_group_ids=list(spec.security_group_ids),
                eni_options=ENIOptions(eni_type=spec.eni_options.eni_type),
                v_switch_select_options=VSwitchSelectOptions(
                    v_switch_selection_policy=spec.v_switch_select_options.v_switch_selection_policy
                ),
                allocation_type=AllocationType.model_validate(spec.allocation_type.to_k8s()),
                default_route=e is default_entry,
                extra_routes=[Route(dst=d) for d in e.routes],
                zones=zones or None,
            )
        )
    return PodNetworks(pod_networks=configs)

