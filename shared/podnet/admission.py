"""The validate step: Kubernetes admission (admission.k8s.io/v1 AdmissionReview) for podnet-fc.

Layers, from pure to wired:

* ``parse_review`` turns a request body into a :class:`ReviewRequest` (or raises :class:`MalformedReview`).
* ``decide`` is the pure core: a request plus the referenced PodNetworkings (as data) plus the previous
  PodENI zone give a :class:`Decision` (allow / deny with every reason / a JSON patch).
* ``review`` = parse + decide + ``review_response``: AdmissionReview in, AdmissionReview out, no I/O.
* ``lookup`` / ``review_with_kube`` read the PodNetworkings and the PodENI through a ``KubeApi``.
* ``handle_http`` is what the HTTPS server (``podnet webhook``) and the FC HTTP trigger both call.
* ``local_admission_hook`` plugs the same path into the fake kube backend for ``podnet local``.
* ``validate_before_allocate`` is the safety net for pods admitted while the webhook was down.

Choices (see also deploy/webhook.yaml):
* Pod CREATE is handled by the *mutating* webhook (path ``/mutate``): guard, validation and patch in one
  answer. The validating webhook (``/validate``) never sees our own snapshot annotation as a user write.
* PodNetworking UPDATE is validated only when the spec changes and the object is not being deleted, so a
  metadata edit (finalizers, labels) of an object that predates a rule is never blocked.
* PodENI: CREATE and UPDATE (any subresource) only by the system identity; DELETE stays open because
  releasing a ``Never`` fixed IP is done by deleting the PodENI (the finalizer makes the system release it).
* DaemonSet pods get the snapshot but no zone affinity (as Terway): a DaemonSet runs on every node.
* A pod without ``k8s.aliyun.com/pod-networks-request`` (every hostNetwork pod, normally) is left alone
  apart from the guard. A hostNetwork pod that *does* carry the request is denied (HostNetworkPod), the
  same verdict as ``podnet validate``, rather than admitted with interfaces that can never come.
* Pod CREATE by anyone but the system carrying a system-owned annotation is denied (as AWS's guard does),
  so a snapshot or status can never be forged; recreating a pod from a dump means dropping them first.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podnet.domain.findings import Finding, ValidationFailed
from podnet.domain.models import (
    NETWORK_STATUS,
    POD_ENI,
    POD_NETWORKS,
    POD_NETWORKS_REQUEST,
    ZONE_LABEL,
    PodNetworks,
)
from podnet.domain.validation import (
    MAX_REQUEST_BYTES,
    allowed_zones,
    is_fixed_name_pod,
    parse_pod_networks_request,
    resolve_pod_networks,
    validate_pod,
    validate_pod_networking,
)
from podnet.errors import PodnetError
from podnet.ports import PODENIS, PODNETWORKINGS, KubeApi

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SYSTEM_USER",
    "SYSTEM_OWNED_ANNOTATIONS",
    "AdmissionConfig",
    "Decision",
    "MalformedReview",
    "ReviewRequest",
    "decide",
    "format_findings",
    "handle_fc_event",
    "handle_http",
    "local_admission_hook",
    "lookup",
    "parse_review",
    "reasons_of",
    "review",
    "review_response",
    "review_with_kube",
    "validate_before_allocate",
]

DEFAULT_SYSTEM_USER = "system:serviceaccount:kube-system:podnet"
# Annotations only the control plane writes: the admission snapshot and the Multus-style status.
SYSTEM_OWNED_ANNOTATIONS: tuple[str, ...] = (POD_NETWORKS, NETWORK_STATUS)

REVIEW_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
POD_GROUP = ""
CRD_GROUP = PODNETWORKINGS.group

# Reason codes this module adds on top of the foundation's validation codes.
CODE_SYSTEM_ANNOTATION = "SystemOwnedAnnotation"
CODE_SYSTEM_OBJECT = "SystemOwnedObject"
CODE_SYSTEM_STATUS = "SystemOwnedStatus"
CODE_NOT_READY = "NetworkNotReady"  # the foundation's code, also for "no status yet"
CODE_NO_COMMON_ZONE = "NoCommonZone"
CODE_PREVIOUS_ZONE = "PreviousZoneNotAllowed"
CODE_INVALID_SNAPSHOT = "InvalidSnapshot"
CODE_LOOKUP_FAILED = "LookupFailed"

MAX_BODY_BYTES = 8 * 1024 * 1024  # AdmissionReviews carry at most two objects of ~1.5 MiB each


class MalformedReview(ValueError):
    """The body is not a usable AdmissionReview; the message names the problem (answered with HTTP 400)."""


@dataclass(frozen=True)
class AdmissionConfig:
    """Knobs of the admission step."""

    system_user: str = DEFAULT_SYSTEM_USER
    platform: str = "ack"
    max_interfaces: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdmissionConfig:
        """PODNET_SYSTEM_USER plus PODNET_PLATFORM and PODNET_MAX_INTERFACES as ``Settings`` reads them."""
        from podnet.adapters.config import Settings

        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        return cls(
            system_user=(env.get("PODNET_SYSTEM_USER") or "").strip() or DEFAULT_SYSTEM_USER,
            platform=settings.platform,
            max_interfaces=settings.max_interfaces,
        )


@dataclass(frozen=True)
class ReviewRequest:
    """The parts of ``AdmissionReview.request`` the decision needs."""

    api_version: str
    uid: str
    group: str
    version: str
    resource: str
    subresource: str
    kind: str
    operation: str
    namespace: str
    name: str
    username: str
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    dry_run: bool = False

    def is_(self, group: str, resource: str) -> bool:
        return self.group == group and self.resource == resource

    @property
    def display_name(self) -> str:
        """``namespace/name`` (or ``name``), falling back to generateName for not-yet-named pods."""
        meta = (self.object or self.old_object or {}).get("metadata") or {}
        name = self.name or meta.get("name") or (meta.get("generateName", "") + "<generated>")
        ns = self.namespace or meta.get("namespace") or ""
        return f"{ns}/{name}" if ns else name


@dataclass
class Decision:
    """What admission answers: allowed or not, every reason, warnings, and a JSON patch."""

    allowed: bool = True
    findings: list[Finding] = field(default_factory=list)  # the errors behind a denial
    warnings: list[str] = field(default_factory=list)
    patch: list[dict[str, Any]] = field(default_factory=list)
    code: int = 200
    message: str = ""

    @property
    def codes(self) -> list[str]:
        """The distinct reason codes, in order of first appearance."""
        seen: dict[str, None] = {}
        for f in self.findings:
            seen.setdefault(f.code, None)
        return list(seen)


# --- parsing ---------------------------------------------------------------------------------------
def _load_json(body: bytes | str | Mapping[str, Any]) -> Any:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes):
        if len(body) > MAX_BODY_BYTES:
            raise MalformedReview(f"request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedReview(f"request body is not UTF-8: {e}") from None
    if not body.strip():
        raise MalformedReview("request body is empty; expected an AdmissionReview")
    try:
        return json.loads(body)
    except json.JSONDecodeError as e:
        raise MalformedReview(f"request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def _opt_obj(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedReview(f"{where} must be an object, got {type(value).__name__}")
    meta = value.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise MalformedReview(f"{where}.metadata must be an object, got {type(meta).__name__}")
    ann = (meta or {}).get("annotations")
    if ann is not None and not isinstance(ann, dict):
        raise MalformedReview(f"{where}.metadata.annotations must be an object, got {type(ann).__name__}")
    return value


def _str(value: Any, where: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise MalformedReview(f"{where} is missing")
        return ""
    if not isinstance(value, str):
        raise MalformedReview(f"{where} must be a string, got {type(value).__name__}")
    return value


def parse_review(body: bytes | str | Mapping[str, Any]) -> ReviewRequest:
    """Parse an AdmissionReview (v1, or v1beta1 which has the same request shape) into a ReviewRequest."""
    doc = _load_json(body)
    if not isinstance(doc, Mapping):
        raise MalformedReview(f"an AdmissionReview must be a JSON object, got {type(doc).__name__}")
    kind = doc.get("kind")
    if kind != "AdmissionReview":
        raise MalformedReview(f"kind must be AdmissionReview, got {kind!r}")
    api_version = doc.get("apiVersion")
    if api_version not in REVIEW_VERSIONS:
        raise MalformedReview(f"apiVersion must be one of {', '.join(REVIEW_VERSIONS)}, got {api_version!r}")
    req = doc.get("request")
    if not isinstance(req, Mapping):
        raise MalformedReview("request is missing or not an object")
    uid = _str(req.get("uid"), "request.uid", required=True)
    operation = _str(req.get("operation"), "request.operation", required=True)
    if operation not in OPERATIONS:
        raise MalformedReview(f"request.operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    resource = req.get("resource")
    if not isinstance(resource, Mapping):
        raise MalformedReview("request.resource is missing or not an object")
    kind_obj = req.get("kind") if isinstance(req.get("kind"), Mapping) else {}
    user = req.get("userInfo") or {}
    if not isinstance(user, Mapping):
        raise MalformedReview("request.userInfo must be an object")
    obj = _opt_obj(req.get("object"), "request.object")
    old = _opt_obj(req.get("oldObject"), "request.oldObject")
    if operation in ("CREATE", "UPDATE") and obj is None:
        raise MalformedReview(f"request.object is missing for a {operation}")
    if operation == "UPDATE" and old is None:
        raise MalformedReview("request.oldObject is missing for an UPDATE")
    return ReviewRequest(
        api_version=api_version,
        uid=uid,
        group=_str(resource.get("group"), "request.resource.group"),
        version=_str(resource.get("version"), "request.resource.version"),
        resource=_str(resource.get("resource"), "request.resource.resource", required=True),
        subresource=_str(req.get("subResource"), "request.subResource"),
        kind=_str(kind_obj.get("kind"), "request.kind.kind"),
        operation=operation,
        namespace=_str(req.get("namespace"), "request.namespace"),
        name=_str(req.get("name"), "request.name"),
        username=_str(user.get("username"), "request.userInfo.username"),
        object=obj,
        old_object=old,
        dry_run=bool(req.get("dryRun")),
    )


# --- findings helpers ------------------------------------------------------------------------------
def _ann_field(key: str, suffix: str = "") -> str:
    return f"metadata.annotations[{key}]{suffix}"


def _finding(req: ReviewRequest, code: str, fld: str, message: str) -> Finding:
    """An error about the object of ``req``."""
    meta = (req.object or req.old_object or {}).get("metadata") or {}
    kind = req.kind or (req.object or req.old_object or {}).get("kind", "")
    return Finding("error", code, fld, message, kind, req.namespace or meta.get("namespace", ""),
                   req.name or meta.get("name", ""))


def _is_error(f: Finding) -> bool:
    return f.severity == "error"


def _dedup(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.code, f.field, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _line(f: Finding) -> str:
    """``FIELD: MESSAGE (CODE)`` (the same form as ``podnet validate``)."""
    return f"{f.field}: {f.message} ({f.code})" if f.field else f"{f.message} ({f.code})"


def format_findings(kind: str, display_name: str, findings: list[Finding]) -> str:
    """One message naming the object and listing every reason, e.g. for a denial or a Pod Event."""
    lines = "; ".join(_line(f) for f in findings)
    return f"{kind} {display_name}: {lines}" if kind else lines


def _deny(req: ReviewRequest, findings: list[Finding], warnings: list[str] | None = None) -> Decision:
    findings = _dedup(findings)
    kind = req.kind or (req.object or req.old_object or {}).get("kind", "")
    return Decision(allowed=False, findings=findings, warnings=warnings or [], code=403,
                    message=format_findings(kind, req.display_name, findings))


def _split(findings: list[Finding]) -> tuple[list[Finding], list[str]]:
    errors = [f for f in findings if _is_error(f)]
    warnings = [f"warning: {_line(f)}" for f in findings if not _is_error(f)]
    return errors, warnings


# --- the pure core ---------------------------------------------------------------------------------
def decide(
    req: ReviewRequest,
    *,
    networks: Mapping[str, dict[str, Any]] | None = None,
    prev_zone: str | None = None,
    config: AdmissionConfig | None = None,
    mutate: bool = True,
) -> Decision:
    """Decide one admission request. ``networks`` holds the referenced PodNetworkings by name (absent =
    does not exist); ``prev_zone`` is the zone of the pod's live PodENI (fixed-IP pods only)."""
    config = config or AdmissionConfig()
    networks = networks or {}
    if req.is_(POD_GROUP, "pods") and not req.subresource:
        if req.operation == "CREATE":
            return _pod_create(req, networks, prev_zone, config) if mutate else Decision()
        if req.operation == "UPDATE":
            return _pod_update(req, config)
        return Decision()
    if req.is_(CRD_GROUP, PODNETWORKINGS.plural):
        return _podnetworking(req, config)
    if req.is_(CRD_GROUP, PODENIS.plural):
        return _podeni(req, config)
    return Decision()  # not ours: allow unchanged


def _annotations(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def _pod_with_namespace(req: ReviewRequest) -> dict[str, Any]:
    """The pod as the foundation expects it: on CREATE the namespace may only be in the request."""
    pod = copy.deepcopy(req.object or {})
    meta = pod.setdefault("metadata", {})
    if req.namespace and not meta.get("namespace"):
        meta["namespace"] = req.namespace
    if req.name and not meta.get("name"):
        meta["name"] = req.name
    pod.setdefault("kind", "Pod")
    return pod


def _requested(raw: str) -> tuple[list[tuple[int, str]], bool]:
    """The ``(entry index, network name)`` pairs of the request annotation, read leniently so that the
    networks of a request with other errors are still looked up (and reported precisely), plus whether the
    request passes the foundation's strict parse."""
    try:
        parse_pod_networks_request(raw)
        strict = True
    except ValidationFailed:
        strict = False
    pairs: list[tuple[int, str]] = []
    if len(raw.encode("utf-8", "replace")) <= MAX_REQUEST_BYTES:
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, list):
            for i, entry in enumerate(doc):
                name = entry.get("network") if isinstance(entry, dict) else None
                if isinstance(name, str) and name:
                    pairs.append((i, name))
    return pairs, strict


def _request_networks(raw: str) -> list[str]:
    """The distinct network names the request annotation refers to."""
    return list(dict.fromkeys(name for _, name in _requested(raw)[0]))


def check_pod(
    pod: dict[str, Any],
    networks: Mapping[str, dict[str, Any]],
    *,
    prev_zone: str | None = None,
    platform: str = "ack",
    max_interfaces: int = 8,
) -> tuple[dict[str, dict[str, Any]] | None, list[Finding]]:
    """Everything admission checks about a pod's network request against the live PodNetworkings.

    Returns the referenced networks by name (None when the request does not parse or names an unknown
    network) and every finding: the foundation's ``validate_pod`` plus what only admission can judge
    (a network that has no status yet is not Ready; the zone intersection must not be empty; a fixed-IP
    pod's previous zone must still be allowed)."""
    meta = pod.get("metadata") or {}
    kind, ns, name = "Pod", meta.get("namespace", ""), meta.get("name", "") or meta.get("generateName", "")
    raw = (meta.get("annotations") or {}).get(POD_NETWORKS_REQUEST)
    if raw is None:
        return None, []
    if not isinstance(raw, str):  # the API server only sends strings; a hand-made review might not
        findings = [f for f in validate_pod(pod, networks, platform=platform, max_interfaces=max_interfaces)
                    if _is_error(f)]
        return None, findings or [Finding("error", "InvalidFieldType", _ann_field(POD_NETWORKS_REQUEST),
                                          "must be a string holding a JSON list", kind, ns, name)]
    pairs, strict = _requested(raw)
    findings = list(validate_pod(pod, networks, platform=platform, max_interfaces=max_interfaces))
    request_field = _ann_field(POD_NETWORKS_REQUEST)
    for i, net_name in pairs:
        net = networks.get(net_name)
        if net is None or (net.get("status") or {}).get("status"):
            continue  # unknown (NetworkNotFound) or a known status (validate_pod judged it)
        fld = _ann_field(POD_NETWORKS_REQUEST, f"[{i}].network")
        if not any(f.field == fld and f.code == CODE_NOT_READY for f in findings):
            findings.append(Finding("error", CODE_NOT_READY, fld,
                                    f"PodNetworking {json.dumps(net_name)} has no status yet; wait until its status is Ready",
                                    kind, ns, name))
    names = list(dict.fromkeys(n for _, n in pairs))
    if not strict:
        if not any(_is_error(f) for f in findings):  # cannot happen: validate_pod parses the same way
            findings.append(Finding("error", "InvalidJSON", request_field, "cannot be parsed", kind, ns, name))
        return None, _dedup(findings)
    if any(n not in networks for n in names):
        return None, _dedup(findings)
    referenced = {n: dict(networks[n]) for n in names}
    zones = allowed_zones(referenced.values())
    if zones is not None and not zones and not any(f.code == CODE_NO_COMMON_ZONE for f in findings):
        findings.append(Finding("error", CODE_NO_COMMON_ZONE, request_field,
                                "the referenced PodNetworkings' vSwitches share no zone ("
                                + _zones_by_network(referenced) + ")", kind, ns, name))
    if prev_zone and zones and prev_zone not in zones:
        findings.append(Finding("error", CODE_PREVIOUS_ZONE, request_field,
                                f"this fixed-IP pod's PodENI is in zone {prev_zone}, which the networks' vSwitches "
                                f"no longer cover ({', '.join(sorted(zones))}); add a vSwitch in {prev_zone} or "
                                "delete the PodENI to release the fixed IPs", kind, ns, name))
    return referenced, _dedup(findings)


def _is_daemonset_pod(pod: Mapping[str, Any]) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, Mapping) and r.get("kind") == "DaemonSet" and r.get("controller") for r in refs)


def _pod_create(req: ReviewRequest, networks: Mapping[str, dict[str, Any]], prev_zone: str | None,
                config: AdmissionConfig) -> Decision:
    pod = _pod_with_namespace(req)
    ann = _annotations(pod)
    findings: list[Finding] = []
    if req.username != config.system_user:
        for key in SYSTEM_OWNED_ANNOTATIONS:
            if key in ann:
                findings.append(_finding(req, CODE_SYSTEM_ANNOTATION, _ann_field(key),
                                         f"only the podnet control plane ({config.system_user}) may set this "
                                         "annotation; use k8s.aliyun.com/pod-networks-request instead"))
    if POD_NETWORKS_REQUEST not in ann:
        # nothing requested (hostNetwork pods included): leave the pod alone unless the guard objects,
        # and then say everything else that is wrong too (e.g. a malformed hand-written snapshot)
        if not findings:
            return Decision()
        extra = validate_pod(pod, networks, platform=config.platform, max_interfaces=config.max_interfaces)
        return _deny(req, findings + [f for f in extra if _is_error(f)])
    referenced, checks = check_pod(pod, networks, prev_zone=prev_zone, platform=config.platform,
                                   max_interfaces=config.max_interfaces)
    errors, warnings = _split(findings + checks)
    if errors or referenced is None:
        return _deny(req, errors, warnings)

    try:
        snapshot = resolve_pod_networks(pod, referenced, platform=config.platform,
                                        max_interfaces=config.max_interfaces)
    except ValidationFailed as e:  # cannot happen after check_pod; never admit on a surprise
        return _deny(req, e.errors, warnings)
    patch = _annotation_ops(req.object or {}, {POD_NETWORKS: _snapshot_json(snapshot), POD_ENI: "true"})
    if not _is_daemonset_pod(pod):  # a DaemonSet runs on every node; pinning it would strand pods (Terway)
        zones = allowed_zones(referenced.values())
        requirements = []
        if prev_zone:
            requirements.append(_zone_requirement([prev_zone]))
        if zones:
            requirements.append(_zone_requirement(sorted(zones)))
        patch.extend(node_affinity_ops(req.object or {}, requirements))
    return Decision(patch=patch, warnings=warnings)


def _zones_by_network(networks: Mapping[str, dict[str, Any]]) -> str:
    parts = []
    for name, net in networks.items():
        zones = sorted({vs.get("zone", "") for vs in ((net.get("status") or {}).get("vSwitches") or [])
                        if isinstance(vs, Mapping)} - {""})
        parts.append(f"{name}: {', '.join(zones) or 'none'}")
    return "; ".join(parts)


def _snapshot_json(snapshot: Any) -> str:
    value = snapshot.to_k8s() if hasattr(snapshot, "to_k8s") else snapshot
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=False)


def _pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901): ``~`` and ``/`` inside a part are escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _annotation_ops(obj: Mapping[str, Any], values: Mapping[str, str]) -> list[dict[str, Any]]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return [{"op": "add", "path": "/metadata", "value": {"annotations": dict(values)}}]
    if not isinstance(meta.get("annotations"), Mapping):
        return [{"op": "add", "path": "/metadata/annotations", "value": dict(values)}]
    # "add" on an existing member replaces it (RFC 6902 4.1)
    return [{"op": "add", "path": _pointer("metadata", "annotations", k), "value": v} for k, v in values.items()]


def _zone_requirement(zones: list[str]) -> dict[str, Any]:
    return {"key": ZONE_LABEL, "operator": "In", "values": list(zones)}


def node_affinity_ops(pod: Mapping[str, Any], requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-patch ops that AND ``requirements`` into every required nodeSelectorTerm (creating one term
    when there is none), touching only the deepest part of ``spec.affinity`` that already exists. Empty
    terms match no node and stay empty."""
    if not requirements:
        return []
    spec = pod.get("spec") if isinstance(pod.get("spec"), Mapping) else None
    if spec is None:
        return [{"op": "add", "path": "/spec", "value": {"affinity": _affinity_value(requirements)}}]
    affinity = spec.get("affinity")
    if not isinstance(affinity, Mapping):
        return [{"op": "add", "path": "/spec/affinity", "value": _affinity_value(requirements)}]
    node = affinity.get("nodeAffinity")
    if not isinstance(node, Mapping):
        return [{"op": "add", "path": "/spec/affinity/nodeAffinity", "value": _node_affinity_value(requirements)}]
    base = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, Mapping):
        return [{"op": "add", "path": base, "value": _selector_value(requirements)}]
    terms = required.get("nodeSelectorTerms")
    if not isinstance(terms, list) or not terms:
        # an empty term list matches nothing; one term holding our requirements is what the user meant
        return [{"op": "add", "path": f"{base}/nodeSelectorTerms", "value": [{"matchExpressions": list(requirements)}]}]
    ops: list[dict[str, Any]] = []
    for i, term in enumerate(terms):
        if not isinstance(term, Mapping) or not (term.get("matchExpressions") or term.get("matchFields")):
            continue  # an empty term matches no node; ANDing into it would widen it to a whole zone
        if not isinstance(term.get("matchExpressions"), list):
            ops.append({"op": "add", "path": f"{base}/nodeSelectorTerms/{i}/matchExpressions",
                        "value": list(requirements)})
        else:
            ops.extend({"op": "add", "path": f"{base}/nodeSelectorTerms/{i}/matchExpressions/-", "value": r}
                       for r in requirements)
    return ops


def _selector_value(requirements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeSelectorTerms": [{"matchExpressions": list(requirements)}]}


def _node_affinity_value(requirements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"requiredDuringSchedulingIgnoredDuringExecution": _selector_value(requirements)}


def _affinity_value(requirements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": _node_affinity_value(requirements)}


def _pod_update(req: ReviewRequest, config: AdmissionConfig) -> Decision:
    if req.username == config.system_user:
        return Decision()
    old, new = _annotations(req.old_object), _annotations(req.object)
    findings = []
    for key in SYSTEM_OWNED_ANNOTATIONS:
        if old.get(key) != new.get(key):
            what = "remove" if key not in new else ("set" if key not in old else "change")
            findings.append(_finding(req, CODE_SYSTEM_ANNOTATION, _ann_field(key),
                                     f"only the podnet control plane ({config.system_user}) may {what} this "
                                     "annotation"))
    if findings:
        return _deny(req, findings)
    warnings = []
    if old.get(POD_NETWORKS_REQUEST) != new.get(POD_NETWORKS_REQUEST):
        warnings.append(f"warning: {_ann_field(POD_NETWORKS_REQUEST)}: networks are fixed when a pod is created; "
                        "this change has no effect until the pod is recreated")
    return Decision(warnings=warnings)


def _podnetworking(req: ReviewRequest, config: AdmissionConfig) -> Decision:
    if req.subresource == "status":
        if req.username == config.system_user:
            return Decision()
        return _deny(req, [_finding(req, CODE_SYSTEM_STATUS, "status",
                                    f"only the podnet control plane ({config.system_user}) may write a "
                                    "PodNetworking's status")])
    if req.subresource or req.operation not in ("CREATE", "UPDATE"):
        return Decision()
    obj = req.object or {}
    if req.operation == "UPDATE":
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return Decision()  # never block finalizer removal on the way out
        if (obj.get("spec") or {}) == ((req.old_object or {}).get("spec") or {}):
            return Decision()  # metadata-only edits are not re-judged against newer rules
    findings = validate_pod_networking(obj, platform=config.platform)
    errors, warnings = _split(findings)
    return _deny(req, errors, warnings) if errors else Decision(warnings=warnings)


def _podeni(req: ReviewRequest, config: AdmissionConfig) -> Decision:
    if req.username == config.system_user or req.operation not in ("CREATE", "UPDATE"):
        return Decision()
    where = f"the {req.subresource} of " if req.subresource else ""
    return _deny(req, [_finding(req, CODE_SYSTEM_OBJECT, req.subresource or "",
                                f"only the podnet control plane ({config.system_user}) may {req.operation.lower()} "
                                f"{where}PodENI objects (deleting a PodENI releases its fixed IPs)")])


# --- AdmissionReview out ---------------------------------------------------------------------------
def review_response(req: ReviewRequest, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview answer for ``decision`` (same apiVersion as the request)."""
    resp: dict[str, Any] = {"uid": req.uid, "allowed": decision.allowed}
    if not decision.allowed:
        resp["status"] = {
            "code": decision.code,
            "reason": ",".join(decision.codes) or ("InternalError" if decision.code >= 500 else "Forbidden"),
            "message": decision.message,
        }
    elif decision.patch:
        resp["patchType"] = "JSONPatch"
        resp["patch"] = base64.b64encode(json.dumps(decision.patch, separators=(",", ":")).encode()).decode()
    if decision.warnings:
        resp["warnings"] = list(decision.warnings)
    return {"apiVersion": req.api_version, "kind": "AdmissionReview", "response": resp}


def review(
    body: bytes | str | Mapping[str, Any],
    *,
    networks: Mapping[str, dict[str, Any]] | None = None,
    prev_zone: str | None = None,
    config: AdmissionConfig | None = None,
    mutate: bool = True,
) -> dict[str, Any]:
    """AdmissionReview in, AdmissionReview out, with the PodNetworkings given as data (no I/O).
    Raises MalformedReview."""
    req = parse_review(body)
    return review_response(req, decide(req, networks=networks, prev_zone=prev_zone, config=config, mutate=mutate))


# --- reading the API server ------------------------------------------------------------------------
def _needs_networks(req: ReviewRequest, mutate: bool) -> str | None:
    if not (mutate and req.is_(POD_GROUP, "pods") and req.operation == "CREATE" and not req.subresource):
        return None
    pod = req.object or {}
    raw = _annotations(pod).get(POD_NETWORKS_REQUEST)
    return raw if isinstance(raw, str) else None


def _fetch_networks(kube: KubeApi, names: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(names):
        obj = kube.get(PODNETWORKINGS, name)
        if obj is not None:
            out[name] = obj
    return out


def _previous_zone(kube: KubeApi, pod: Mapping[str, Any], networks: Mapping[str, dict[str, Any]]) -> str | None:
    """The zone of a fixed-IP pod's live PodENI (same namespace/name), as Terway's webhook does."""
    fixed = any(((n.get("spec") or {}).get("allocationType") or {}).get("type") == "Fixed" for n in networks.values())
    meta = pod.get("metadata") or {}
    if not fixed or not meta.get("name") or not is_fixed_name_pod(pod):
        return None
    eni = kube.get(PODENIS, meta["name"], meta.get("namespace") or "default")
    if not eni or (eni.get("metadata") or {}).get("deletionTimestamp"):
        return None
    spec = eni.get("spec") or {}
    if not spec.get("allocations"):
        return None  # nothing was allocated, so nothing pins the pod
    return spec.get("zone") or None


def lookup(req: ReviewRequest, kube: KubeApi, *, mutate: bool = True) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Read what ``decide`` needs for ``req``: the referenced PodNetworkings and the previous PodENI zone."""
    raw = _needs_networks(req, mutate)
    if raw is None:
        return {}, None
    names = _request_networks(raw)
    if not names:
        return {}, None
    networks = _fetch_networks(kube, names)
    return networks, _previous_zone(kube, _pod_with_namespace(req), networks)


def review_with_kube(
    body: bytes | str | Mapping[str, Any], kube: KubeApi, *, config: AdmissionConfig | None = None, mutate: bool = True
) -> dict[str, Any]:
    """Parse, read the referenced objects through ``kube``, decide, answer. Raises MalformedReview.

    An API-server error while reading is answered as a denial with code 500 (as Terway's webhook does): the
    creator retries, and nothing is admitted on a guess."""
    req = parse_review(body)
    try:
        networks, prev_zone = lookup(req, kube, mutate=mutate)
    except PodnetError as e:
        log.warning("admission lookup failed for %s %s: %s", req.kind, req.display_name, e)
        return review_response(req, Decision(allowed=False, code=500, message=(
            f"{req.kind or 'object'} {req.display_name}: podnet admission could not read the referenced "
            f"PodNetworkings/PodENI ({e}); try again ({CODE_LOOKUP_FAILED})"),
            findings=[_finding(req, CODE_LOOKUP_FAILED, "", str(e))]))
    return review_response(req, decide(req, networks=networks, prev_zone=prev_zone, config=config, mutate=mutate))


ROUTES = {"/mutate": True, "/validate": False, "/": True}


def handle_http(
    body: bytes,
    *,
    path: str,
    kube: KubeApi,
    config: AdmissionConfig | None = None,
    method: str = "POST",
    path_prefix: str = "",
) -> tuple[int, dict[str, Any]]:
    """The HTTP contract shared by ``podnet webhook`` and the FC trigger: (status, JSON body).

    ``/mutate`` (and ``/``) may answer a patch; ``/validate`` never does. With ``path_prefix`` (an unguessable
    path segment for a public FC URL) only paths under it are served. A malformed AdmissionReview is a 400
    with ``{"error", "problem"}``; an unexpected failure is a 500 with no traceback in the body."""
    route = "/" + path.split("?", 1)[0].strip("/")
    if path_prefix:
        prefix = "/" + path_prefix.strip("/")
        if route != prefix and not route.startswith(prefix + "/"):
            return 404, {"error": "not found"}
        route = "/" + route[len(prefix):].strip("/")
    if route not in ROUTES:
        return 404, {"error": f"no such path {path!r}; POST an AdmissionReview to /mutate or /validate"}
    if method.upper() != "POST":
        return 405, {"error": f"method {method} not allowed; POST an AdmissionReview"}
    try:
        return 200, review_with_kube(body, kube, config=config, mutate=ROUTES[route])
    except MalformedReview as e:
        return 400, {"error": "malformed AdmissionReview", "problem": str(e)}
    except Exception:  # noqa: BLE001 - answer with a clean 500, the traceback goes to the log only
        log.exception("admission failed")
        return 500, {"error": "internal error in podnet admission; see the webhook's log"}


def handle_fc_event(
    event: bytes | str | Mapping[str, Any], *, kube: KubeApi, config: AdmissionConfig | None = None,
    path_prefix: str = "",
) -> dict[str, Any]:
    """Function Compute 3.0 HTTP trigger: the trigger's event (``body``, ``isBase64Encoded``, ``rawPath``,
    ``requestContext.http.method``) in, the trigger's response dict ``{statusCode, headers, body}`` out."""
    try:
        ev = _load_json(event)
        if not isinstance(ev, Mapping):
            raise MalformedReview("the HTTP trigger event is not a JSON object")
        raw_body = ev.get("body") or ""
        if not isinstance(raw_body, str):
            raise MalformedReview("the HTTP trigger event's body is not a string")
        if ev.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except ValueError:
                raise MalformedReview("the body is marked isBase64Encoded but is not base64") from None
        else:
            body = raw_body.encode("utf-8")
        http = ((ev.get("requestContext") or {}).get("http") or {}) if isinstance(ev.get("requestContext"), Mapping) \
            else {}
        path = ev.get("rawPath") or http.get("path") or "/"
        method = http.get("method") or "POST"
    except MalformedReview as e:
        status, doc = 400, {"error": "malformed HTTP trigger event", "problem": str(e)}
    else:
        status, doc = handle_http(body, path=str(path), kube=kube, config=config, method=str(method),
                                  path_prefix=path_prefix)
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "isBase64Encoded": False,
            "body": json.dumps(doc)}


# --- podnet local: the fake API server's in-process hook -------------------------------------------
def request_to_review(request: Any) -> dict[str, Any]:
    """An AdmissionReview built from the fake kube backend's AdmissionRequest."""
    user = getattr(request, "user", "") or ""
    username = user if isinstance(user, str) else (user.get("username", "") if isinstance(user, Mapping) else "")
    kind = getattr(request, "kind", "") or ((getattr(request, "object", None) or {}).get("kind", ""))
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": getattr(request, "uid", "") or str(uuid.uuid4()),
            "kind": {"group": request.group, "version": request.version, "kind": kind},
            "resource": {"group": request.group, "version": request.version, "resource": request.resource},
            "subResource": getattr(request, "subresource", None) or "",
            "name": request.name or "",
            "namespace": request.namespace or "",
            "operation": request.operation,
            "userInfo": {"username": username},
            "object": request.object,
            "oldObject": request.old_object,
        },
    }


def reasons_of(decision: Decision) -> list[dict[str, str]]:
    """The denial's reasons as ``{field, code, message}`` dicts (what ``podnet local`` reports)."""
    return [{"field": f.field, "code": f.code, "message": f.message} for f in decision.findings]


def local_admission_hook(
    kube: KubeApi, *, system_user: str = DEFAULT_SYSTEM_USER, platform: str = "ack"
) -> Callable[[Any], Any]:
    """Adapt admission to ``KubeBackend.add_admission_hook``: every object ``podnet local`` applies goes
    through the same path as the real webhook (both webhooks at once: guard, validation and patch).

    A denial's answer also carries ``reasons`` (a list of ``{field, code, message}``), so the caller need
    not parse the message back (messages may themselves contain ``"); "``)."""
    from podnet.fakes.kube.backend import AdmissionResponse

    @dataclass
    class LocalAdmissionResponse(AdmissionResponse):
        reasons: list[dict[str, str]] = field(default_factory=list)

    config = AdmissionConfig(system_user=system_user, platform=platform)

    def hook(request: Any) -> Any:
        req = parse_review(request_to_review(request))
        try:
            networks, prev_zone = lookup(req, kube)
        except PodnetError as e:
            return LocalAdmissionResponse(allowed=False, code=500, reason=CODE_LOOKUP_FAILED,
                                          message=f"podnet admission could not read the referenced objects: {e}")
        decision = decide(req, networks=networks, prev_zone=prev_zone, config=config, mutate=True)
        if decision.allowed:
            return LocalAdmissionResponse(allowed=True, code=200, reason="", patch=decision.patch or None) \
                if decision.patch else None
        return LocalAdmissionResponse(allowed=False, message=decision.message, code=decision.code,
                                      reason=",".join(decision.codes), reasons=reasons_of(decision))

    return hook


# --- the allocate step's safety net ----------------------------------------------------------------
def validate_before_allocate(
    pod: dict[str, Any], kube: KubeApi, *, platform: str = "ack", max_interfaces: int = 8
) -> tuple[Any | None, list[Finding]]:
    """For a pod that reached the allocate step without a usable snapshot (the webhook was down and the
    webhook's failurePolicy is Ignore): resolve the request from the live PodNetworkings and validate as
    admission would. Returns ``(snapshot, [])`` when it is fine, ``(None, errors)`` when it is not, and
    ``(None, [])`` when the pod asks for no networks. Kube errors propagate (retry later)."""
    meta = pod.get("metadata") or {}
    ann = meta.get("annotations") or {}
    snapshot_raw = ann.get(POD_NETWORKS)
    if snapshot_raw is not None:
        try:
            return PodNetworks.from_annotation(snapshot_raw), []
        except Exception as e:  # noqa: BLE001 - pydantic and JSON errors alike make the snapshot unusable
            return None, [Finding("error", CODE_INVALID_SNAPSHOT, _ann_field(POD_NETWORKS),
                                  f"the network snapshot is not usable: {_first_line(e)}", "Pod",
                                  meta.get("namespace", ""), meta.get("name", ""))]
    raw = ann.get(POD_NETWORKS_REQUEST)
    if not isinstance(raw, str):
        return None, []
    names = _request_networks(raw)
    networks = _fetch_networks(kube, names or [])
    referenced, findings = check_pod(pod, networks, platform=platform, max_interfaces=max_interfaces)
    errors = [f for f in findings if _is_error(f)]
    if errors or referenced is None:
        return None, errors
    try:
        return resolve_pod_networks(pod, referenced, platform=platform, max_interfaces=max_interfaces), []
    except ValidationFailed as e:
        return None, e.errors


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
