"""Admission inside the fake API server (what ``podnet local`` runs), and the webhook-down fallback the
allocate step uses (``validate_before_allocate``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from podnet.adapters.kube_http import HttpKube
from podnet.admission import local_admission_hook, validate_before_allocate
from podnet.domain.models import PodNetworks
from podnet.errors import KubeError
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer
from podnet.ports import PODENIS, PODNETWORKINGS, PODS
from tests.admission.helpers import SNAP, SYSTEM, USER, ZONE, MemKube, pn, pod, podeni, zone_exprs

G, H = "cn-hangzhou-g", "cn-hangzhou-h"


def as_created(net: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(net)
    for k in ("uid", "resourceVersion", "generation", "creationTimestamp"):
        out["metadata"].pop(k, None)
    out.pop("status", None)
    return out


@pytest.fixture
def cluster(kube_backend: KubeBackend, kube_server: FakeKubeServer) -> Iterator[tuple[HttpKube, HttpKube, KubeBackend]]:
    system = HttpKube(kube_server.url, token=SYSTEM)  # the fake server takes the bearer token as the username
    admin = HttpKube(kube_server.url, token=USER)
    yield system, admin, kube_backend


def make_ready(system: HttpKube, name: str, zones: tuple[str, ...]) -> None:
    """What the reconcile step does: write the status (allowed for the system identity only)."""
    obj = system.get(PODNETWORKINGS, name)
    assert obj is not None
    obj["status"] = pn(name, zones)["status"]
    system.replace(PODNETWORKINGS, obj, subresource="status")


def test_every_applied_object_goes_through_admission(cluster: tuple[HttpKube, HttpKube, KubeBackend]) -> None:
    system, admin, backend = cluster
    backend.add_admission_hook(local_admission_hook(system, system_user=SYSTEM, platform="ack"), name="podnet")

    bad = as_created(pn("bad"))
    bad["spec"]["vSwitchOptions"] = []
    with pytest.raises(KubeError) as denied:
        admin.create(PODNETWORKINGS, bad)
    assert denied.value.status == 403
    assert 'admission webhook "podnet" denied the request: PodNetworking bad: spec.vSwitchOptions' in str(denied.value)
    assert "(MissingVSwitchOptions)" in str(denied.value)

    admin.create(PODNETWORKINGS, as_created(pn("primary", (G, H))))
    admin.create(PODNETWORKINGS, as_created(pn("secondary", (H,))))
    forged = admin.get(PODNETWORKINGS, "primary")
    forged["status"] = {"status": "Ready", "vSwitches": [{"id": "vsw-primary-0", "zone": "cn-hangzhou-z"}]}  # type: ignore[index]
    with pytest.raises(KubeError, match="SystemOwnedStatus"):
        admin.replace(PODNETWORKINGS, forged, subresource="status")  # type: ignore[arg-type]

    # before the networks are Ready, a pod using them is refused with the reason
    request = [{"interfaceName": "eth0", "network": "primary"}, {"interfaceName": "eth1", "network": "secondary"}]
    with pytest.raises(KubeError, match=r"has no status yet.*\(NetworkNotReady\)"):
        admin.create(PODS, pod("early", request=request))

    make_ready(system, "primary", (G, H))
    make_ready(system, "secondary", (H,))
    stored = admin.create(PODS, pod("web-0", request=request))
    snap = PodNetworks.from_annotation(stored["metadata"]["annotations"][SNAP])
    assert [c.interface for c in snap.pod_networks] == ["eth0", "eth1"]
    assert zone_exprs(stored) == [[{"key": ZONE, "operator": "In", "values": [H]}]]

    with pytest.raises(KubeError, match="NetworkNotFound"):
        admin.create(PODS, pod("web-1", request=[{"interfaceName": "eth0", "network": "nope"}]))
    assert admin.get(PODS, "web-1", "default") is None

    # the guard: users cannot rewrite the snapshot or write PodENIs; the system can
    with pytest.raises(KubeError, match="SystemOwnedAnnotation"):
        admin.patch(PODS, "web-0", {"metadata": {"annotations": {SNAP: '{"podNetworks":[]}'}}}, "default")
    with pytest.raises(KubeError, match="SystemOwnedObject"):
        admin.create(PODENIS, podeni("web-0", phase=""))
    system.create(PODENIS, podeni("web-0", phase=""))
    system.patch(PODS, "web-0", {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": "[]"}}}, "default")


def test_fallback_when_the_webhook_was_down(cluster: tuple[HttpKube, HttpKube, KubeBackend]) -> None:
    system, admin, _ = cluster  # no admission hook registered: the webhook is down, failurePolicy Ignore
    admin.create(PODNETWORKINGS, as_created(pn("primary", (G, H))))
    admin.create(PODNETWORKINGS, as_created(pn("trunky", (G,), eni_type="Trunk")))
    make_ready(system, "primary", (G, H))
    make_ready(system, "trunky", (G,))

    good = admin.create(PODS, pod("ok", request=[{"interfaceName": "eth0", "network": "primary"}]))
    assert SNAP not in good["metadata"]["annotations"]  # nobody wrote a snapshot
    snapshot, findings = validate_before_allocate(good, system, platform="ack")
    assert findings == [] and snapshot is not None
    assert snapshot.pod_networks[0].v_switch_options == ["vsw-primary-0", "vsw-primary-1"]

    bad = admin.create(PODS, pod("bad", request=[{"interfaceName": "eth0", "network": "primary"},
                                                 {"interfaceName": "eth1", "network": "trunky"},
                                                 {"interfaceName": "eth2", "network": "gone"}]))
    snapshot, findings = validate_before_allocate(bad, system, platform="ack")
    assert snapshot is None
    assert {f.code for f in findings} == {"ENITypeMismatch", "NetworkNotFound"}
    assert all(f.severity == "error" and f.kind == "Pod" and f.name == "bad" for f in findings)


def test_fallback_cases_without_a_server() -> None:
    kube = MemKube(pn("primary", (G,)), pn("pending", (G,), status=None), pn("west", (H,)))
    # the snapshot, when present and readable, is the answer: live networks are not consulted
    snap = PodNetworks.model_validate({"podNetworks": [{"interface": "eth0", "vSwitchOptions": ["vsw-a"],
                                                        "securityGroupIDs": ["sg-a"], "defaultRoute": True}]})
    with_snap = pod(annotations={SNAP: snap.to_annotation()})
    assert validate_before_allocate(with_snap, kube, platform="ack") == (snap, [])
    assert kube.calls == []

    broken = pod(annotations={SNAP: '{"podNetworks": [{"vSwitchOptions": 3}]}'})
    snapshot, findings = validate_before_allocate(broken, kube, platform="ack")
    assert snapshot is None and [f.code for f in findings] == ["InvalidSnapshot"]
    assert findings[0].field == f"metadata.annotations[{SNAP}]"

    assert validate_before_allocate(pod(), kube, platform="ack") == (None, [])  # asks for nothing

    pending = pod(request=[{"interfaceName": "eth0", "network": "pending"}])
    assert [f.code for f in validate_before_allocate(pending, kube, platform="ack")[1]] == ["NetworkNotReady"]

    split = pod(request=[{"interfaceName": "eth0", "network": "primary"}, {"interfaceName": "eth1", "network": "west"}])
    assert [f.code for f in validate_before_allocate(split, kube, platform="ack")[1]] == ["NoCommonZone"]

    acs_routes = pod(request=[{"interfaceName": "eth0", "network": "primary", "routes": [{"dst": "10.0.0.0/8"}]}])
    assert validate_before_allocate(acs_routes, kube, platform="ack")[1] == []
    assert [f.code for f in validate_before_allocate(acs_routes, kube, platform="acs")[1]] == ["RoutesNotSupportedOnACS"]


def test_fallback_snapshot_matches_what_admission_would_have_written() -> None:
    from podnet import admission
    from tests.admission.helpers import apply, response_of, review

    kube = MemKube(pn("primary", (G, H)))
    obj = pod(request=[{"interfaceName": "eth0", "network": "primary", "routes": [{"dst": "192.168.0.0/16"}]}])
    req = review(obj)
    admitted = apply(obj, response_of(admission.review_with_kube(req, kube), req))
    snapshot, _ = validate_before_allocate(obj, kube, platform="ack")
    assert snapshot is not None
    assert json.loads(admitted["metadata"]["annotations"][SNAP]) == snapshot.to_k8s()


def test_local_hook_answers_carry_structured_reasons() -> None:
    from podnet.fakes.kube.backend import AdmissionRequest

    hook = local_admission_hook(MemKube(), system_user=SYSTEM, platform="ack")
    dup = as_created(pn("dup", sgs=("sg-bp1aaaa", "sg-bp1aaaa"), status=None))
    dup["spec"]["vSwitchOptions"] = []
    answer = hook(AdmissionRequest(uid="u1", operation="CREATE", resource="podnetworkings",
                                   group="network.alibabacloud.com", version="v1beta1", kind="PodNetworking",
                                   namespace=None, name="dup", object=dup, old_object=None, user=USER))
    assert answer.allowed is False and answer.code == 403
    by_code = {r["code"]: r for r in answer.reasons}
    assert set(by_code) == {"DuplicateSecurityGroupID", "MissingVSwitchOptions"}
    assert by_code["DuplicateSecurityGroupID"]["field"] == "spec.securityGroupIDs[1]"
    assert answer.reason == ",".join(r["code"] for r in answer.reasons)
    for r in answer.reasons:  # the message lists the same reasons, in the same form
        assert f"{r['field']}: {r['message']} ({r['code']})" in answer.message

    plain = hook(AdmissionRequest(uid="u2", operation="CREATE", resource="pods", group="", version="v1", kind="Pod",
                                  namespace="default", name="p", object=pod("p"), old_object=None, user=USER))
    assert plain is None  # nothing to say: the fake stores the pod unchanged


def test_guard_and_validation_reasons_come_together() -> None:
    from podnet import admission
    from tests.admission.helpers import reasons, response_of, review

    legacy = pod("legacy", annotations={SNAP: '{"podNetworks": {"interface": "eth0"}}'})
    req = review(legacy)
    assert reasons(response_of(admission.review_with_kube(req, MemKube()), req)) == [
        "SystemOwnedAnnotation", "InvalidPodNetworks"]
