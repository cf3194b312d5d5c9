"""The guard (system-owned annotations, PodENI objects, PodNetworking status) and PodNetworking
CREATE/UPDATE validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podnet import admission
from tests.admission.helpers import (
    REQ,
    SNAP,
    STATUS,
    SYSTEM,
    MemKube,
    pn,
    pod,
    podeni,
    reasons,
    response_of,
    review,
)


def decide(req: dict[str, Any], *, mutate: bool = False, config: admission.AdmissionConfig | None = None
           ) -> dict[str, Any]:
    return response_of(admission.review_with_kube(req, MemKube(), mutate=mutate, config=config), req)


def admitted_pod() -> dict[str, Any]:
    obj = pod(request=[{"interfaceName": "eth0", "network": "primary"}],
              annotations={SNAP: '{"podNetworks":[]}', STATUS: "[]"})
    obj["metadata"].update(uid="a1b2", resourceVersion="7")
    return obj


# --- pods: UPDATE ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, change", [
    (SNAP, "change"), (SNAP, "remove"), (STATUS, "change"), (STATUS, "remove"),
])
def test_users_cannot_touch_system_annotations(key: str, change: str) -> None:
    old = admitted_pod()
    new = copy.deepcopy(old)
    if change == "remove":
        del new["metadata"]["annotations"][key]
    else:
        new["metadata"]["annotations"][key] = '{"podNetworks":[{"interface":"eth9"}]}'
    req = review(new, operation="UPDATE", old=old)
    resp = decide(req)
    assert reasons(resp) == ["SystemOwnedAnnotation"]
    assert f"metadata.annotations[{key}]: only the podnet control plane ({SYSTEM}) may {change}" in resp["status"]["message"]
    assert decide(review(new, operation="UPDATE", old=old, user=SYSTEM))["allowed"] is True


def test_users_cannot_add_a_status_annotation_later() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {STATUS: "[]"}
    assert reasons(decide(review(new, operation="UPDATE", old=old))) == ["SystemOwnedAnnotation"]


def test_other_pod_updates_pass_and_request_edits_warn() -> None:
    old = admitted_pod()
    relabel = copy.deepcopy(old)
    relabel["metadata"]["labels"]["tier"] = "frontend"
    resp = decide(review(relabel, operation="UPDATE", old=old))
    assert resp == {"uid": resp["uid"], "allowed": True}

    edit = copy.deepcopy(old)
    edit["metadata"]["annotations"][REQ] = '[{"interfaceName":"eth0","network":"other"}]'
    resp = decide(review(edit, operation="UPDATE", old=old))
    assert resp["allowed"] is True and "no effect until the pod is recreated" in resp["warnings"][0]


def test_configured_system_identity_is_the_one_trusted() -> None:
    old, new = admitted_pod(), admitted_pod()
    new["metadata"]["annotations"][SNAP] = "{}"
    config = admission.AdmissionConfig(system_user="system:serviceaccount:podnet:controller")
    assert decide(review(new, operation="UPDATE", old=old, user=SYSTEM), config=config)["allowed"] is False
    assert decide(review(new, operation="UPDATE", old=old, user="system:serviceaccount:podnet:controller"),
                  config=config)["allowed"] is True


# --- PodENI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("operation, subresource", [("CREATE", ""), ("UPDATE", ""), ("UPDATE", "status")])
def test_only_the_system_writes_podenis(operation: str, subresource: str) -> None:
    eni = podeni("web-0")
    old = copy.deepcopy(eni) if operation == "UPDATE" else None
    req = review(eni, resource="podenis", operation=operation, old=old, subresource=subresource)
    resp = decide(req)
    assert reasons(resp) == ["SystemOwnedObject"] and resp["status"]["code"] == 403
    assert resp["status"]["message"].startswith("PodENI default/web-0: ")
    assert decide(review(eni, resource="podenis", operation=operation, old=old, subresource=subresource,
                         user=SYSTEM))["allowed"] is True


def test_users_may_delete_a_podeni_to_release_fixed_ips() -> None:
    eni = podeni("db-0")
    assert decide(review(None, resource="podenis", operation="DELETE", old=eni))["allowed"] is True


# --- PodNetworking -----------------------------------------------------------------------------------
def test_invalid_podnetworking_is_denied_with_every_reason() -> None:
    bad = pn("bad", allocation={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1m"},
             sgs=tuple(f"sg-{i}" for i in range(11)), status=None)
    bad["spec"]["vSwitchOptions"] = []
    bad["spec"]["eniOptions"] = {"eniType": "Exclusive"}
    resp = decide(review(bad, resource="podnetworkings"))
    assert set(reasons(resp)) == {"MissingVSwitchOptions", "TooManySecurityGroups", "ReleaseAfterTooShort",
                                  "InvalidENIType"}
    msg = resp["status"]["message"]
    assert msg.startswith("PodNetworking bad: ")
    assert "spec.allocationType.releaseAfter: " in msg and "(ReleaseAfterTooShort)" in msg


def test_acs_allows_only_default_eni_type() -> None:
    trunk = pn("t", eni_type="Trunk", status=None)
    assert decide(review(trunk, resource="podnetworkings"))["allowed"] is True
    acs = admission.AdmissionConfig(platform="acs")
    assert reasons(decide(review(trunk, resource="podnetworkings"), config=acs)) == ["ENITypeNotSupportedOnACS"]


def test_warnings_are_passed_back_without_denying() -> None:
    net = pn("elastic", allocation={"type": "Elastic", "releaseStrategy": "TTL", "releaseAfter": "1h"}, status=None)
    resp = decide(review(net, resource="podnetworkings"))
    assert resp["allowed"] is True
    assert any("(ReleaseStrategyWithElastic)" in w for w in resp["warnings"])
    assert all(w.startswith("warning: ") for w in resp["warnings"])


def test_update_is_judged_only_when_the_spec_changes() -> None:
    legacy = pn("legacy", sgs=(), status=None)  # predates a rule: no security groups
    relabel = copy.deepcopy(legacy)
    relabel["metadata"]["labels"] = {"team": "net"}
    assert decide(review(relabel, resource="podnetworkings", operation="UPDATE", old=legacy))["allowed"] is True

    leaving = copy.deepcopy(legacy)
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    leaving["spec"]["vSwitchOptions"] = []
    assert decide(review(leaving, resource="podnetworkings", operation="UPDATE", old=legacy))["allowed"] is True

    edited = copy.deepcopy(legacy)
    edited["spec"]["vSwitchOptions"].append("not-a-vswitch")
    codes = reasons(decide(review(edited, resource="podnetworkings", operation="UPDATE", old=legacy)))
    assert "MissingSecurityGroupIDs" in codes and "InvalidVSwitchID" in codes


def test_only_the_system_writes_podnetworking_status() -> None:
    net = pn("primary")
    forged = copy.deepcopy(net)
    forged["status"]["vSwitches"][0]["zone"] = "cn-hangzhou-z"
    req = review(forged, resource="podnetworkings", operation="UPDATE", old=net, subresource="status")
    assert reasons(decide(req)) == ["SystemOwnedStatus"]
    req = review(forged, resource="podnetworkings", operation="UPDATE", old=net, subresource="status", user=SYSTEM)
    assert decide(req)["allowed"] is True


def test_unrelated_resources_are_allowed_untouched() -> None:
    req = review(pod(), resource="pods", operation="DELETE", old=pod())
    req["request"]["object"] = None
    assert decide(req) == {"uid": req["request"]["uid"], "allowed": True}
    other = review(pod())
    other["request"]["resource"] = {"group": "apps", "version": "v1", "resource": "deployments"}
    assert decide(other, mutate=True) == {"uid": other["request"]["uid"], "allowed": True}

