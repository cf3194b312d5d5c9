"""Pod CREATE through admission: AdmissionReview round trips (accept with a JSON patch, deny with every
reason), the snapshot annotation, and the pods admission leaves alone."""

from __future__ import annotations

import copy
import json

import pytest

from podnet import admission
from podnet.domain.models import PodNetworks
from podnet.domain.validation import resolve_pod_networks
from tests.admission.helpers import (
    REQ,
    SNAP,
    STATUS,
    SYSTEM,
    ZONE,
    MemKube,
    apply,
    patch_of,
    pn,
    pod,
    reasons,
    response_of,
    review,
)

G, H, ZI = "cn-hangzhou-g", "cn-hangzhou-h", "cn-hangzhou-i"


@pytest.fixture
def kube() -> MemKube:
    return MemKube(
        pn("primary", (G, H)),
        pn("secondary", (H, ZI)),
        pn("trunk", (G, H), eni_type="Trunk"),
        pn("pending", (G,), status=None),
        pn("broken", (G,), status="Fail"),
        pn("selected", (G,), selector={"podSelector": {"matchLabels": {"app": "web"}}}),
        pn("fixed", (G, H), allocation={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1h"}),
    )


def admit(kube: MemKube, obj: dict, **kw: object) -> dict:
    req = review(obj, **kw)  # type: ignore[arg-type]
    return response_of(admission.review_with_kube(req, kube), req)


def test_accepted_pod_patch_gives_the_expected_pod(kube: MemKube) -> None:
    original = pod(request=[{"interfaceName": "eth0", "network": "primary"},
                            {"interfaceName": "eth1", "network": "secondary", "routes": [{"dst": "10.8.0.0/16"}]}])
    resp = admit(kube, original)
    assert resp["allowed"] is True and "status" not in resp
    patched = apply(original, resp)

    # the snapshot is exactly the foundation's resolution of the live networks
    networks = {n: kube.get(admission.PODNETWORKINGS, n) for n in ("primary", "secondary")}
    snapshot = json.loads(patched["metadata"]["annotations"][SNAP])
    assert snapshot == resolve_pod_networks(copy.deepcopy(original), networks).to_k8s()
    eth0, eth1 = snapshot["podNetworks"]
    assert (eth0["interface"], eth0["defaultRoute"], eth0["vSwitchOptions"]) == ("eth0", True, ["vsw-primary-0", "vsw-primary-1"])
    assert (eth1["interface"], eth1["defaultRoute"], eth1["extraRoutes"]) == ("eth1", False, [{"dst": "10.8.0.0/16"}])

    expected = copy.deepcopy(original)
    expected["metadata"]["annotations"][SNAP] = patched["metadata"]["annotations"][SNAP]
    expected["metadata"]["annotations"]["k8s.aliyun.com/pod-eni"] = "true"
    expected["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": [H]}]}]}}}
    assert patched == expected


def test_snapshot_does_not_follow_later_edits_of_the_network(kube: MemKube) -> None:
    original = pod(request=[{"interfaceName": "eth0", "network": "primary"}])
    patched = apply(original, admit(kube, original))
    edited = pn("primary", (G, H), sgs=("sg-bp1other",))
    kube.put(edited)
    snap = PodNetworks.from_annotation(patched["metadata"]["annotations"][SNAP])
    assert snap.pod_networks[0].security_group_ids == ["sg-bp1aaaa"]


def test_denied_with_every_reason_and_code(kube: MemKube) -> None:
    obj = pod(request=[
        {"interfaceName": "eth0", "network": "primary"},
        {"interfaceName": "eth0", "network": "trunk"},          # duplicate name + eniType mismatch
        {"interfaceName": "eth2", "network": "nope"},           # unknown network
        {"interfaceName": "eth3", "network": "pending"},        # no status yet
        {"interfaceName": "eth4", "network": "broken"},         # status Fail
        {"interfaceName": "eth5", "network": "selected"},       # has a selector
    ])
    resp = admit(kube, obj)
    codes = reasons(resp)
    assert resp["status"]["code"] == 403
    for code in ("DuplicateInterfaceName", "ENITypeMismatch", "NetworkNotFound", "NetworkNotReady",
                 "NetworkHasSelector"):
        assert code in codes
    message = resp["status"]["message"]
    assert message.startswith("Pod default/web-0: ")
    field = f"metadata.annotations[{REQ}]"
    assert f'{field}[1].interfaceName: duplicate interface name "eth0"' in message
    assert f"{field}[2].network: " in message and "(NetworkNotFound)" in message
    assert f'{field}[3].network: PodNetworking "pending" has no status yet' in message
    assert f"{field}[4].network: " in message  # Fail is not Ready either
    assert message.count("(NetworkNotReady)") == 2
    assert "patch" not in resp


def test_fixed_network_only_for_fixed_name_pods(kube: MemKube) -> None:
    request = [{"interfaceName": "eth0", "network": "fixed"}]
    assert reasons(admit(kube, pod(request=request, owner="ReplicaSet"))) == ["FixedIPRequiresFixedName"]
    assert admit(kube, pod(request=request, owner="StatefulSet"))["allowed"] is True
    assert admit(kube, pod(request=request))["allowed"] is True  # a bare pod keeps its name


def test_malformed_request_annotation_is_denied_with_position(kube: MemKube) -> None:
    resp = admit(kube, pod(request='[{"interfaceName": "eth0", "network": "primary"'))
    assert reasons(resp) == ["InvalidJSON"]
    assert "line 1" in resp["status"]["message"] or "column" in resp["status"]["message"]


def test_generate_name_pod_is_named_by_its_prefix(kube: MemKube) -> None:
    obj = pod(generate_name="web-7d9c-", request=[{"interfaceName": "eth0", "network": "nope"}], owner="ReplicaSet")
    resp = admit(kube, obj)
    assert resp["status"]["message"].startswith("Pod default/web-7d9c-")


def test_pods_without_the_request_are_untouched(kube: MemKube) -> None:
    resp = admit(kube, pod())
    assert resp == {"uid": resp["uid"], "allowed": True}
    host = pod(spec={"hostNetwork": True, "containers": [{"name": "a", "image": "x"}]})
    resp = admit(kube, host)
    assert resp == {"uid": resp["uid"], "allowed": True}
    assert kube.calls == []  # nothing to look up


def test_hostnetwork_pod_with_a_request_is_denied_like_podnet_validate(kube: MemKube) -> None:
    host = pod(request=[{"interfaceName": "eth0", "network": "primary"}],
               spec={"hostNetwork": True, "containers": [{"name": "a", "image": "x"}]})
    assert "HostNetworkPod" in reasons(admit(kube, host))


def test_daemonset_pods_get_the_snapshot_but_no_zone_affinity(kube: MemKube) -> None:
    obj = pod(request=[{"interfaceName": "eth0", "network": "primary"}], owner="DaemonSet")
    patched = apply(obj, admit(kube, obj))
    assert SNAP in patched["metadata"]["annotations"]
    assert "affinity" not in patched["spec"]


def test_guard_denies_user_supplied_system_annotations_on_create(kube: MemKube) -> None:
    forged = json.dumps({"podNetworks": [{"interface": "eth0", "vSwitchOptions": ["vsw-evil"],
                                          "securityGroupIDs": ["sg-evil"]}]})
    obj = pod(annotations={SNAP: forged, STATUS: "[]"})
    resp = admit(kube, obj)
    assert reasons(resp) == ["SystemOwnedAnnotation"]
    assert f"metadata.annotations[{SNAP}]" in resp["status"]["message"]
    assert f"metadata.annotations[{STATUS}]" in resp["status"]["message"]
    # the control plane itself is not stopped by its own guard
    assert admit(kube, obj, user=SYSTEM)["allowed"] is True


def test_validate_path_never_patches_pods(kube: MemKube) -> None:
    req = review(pod(request=[{"interfaceName": "eth0", "network": "primary"}]))
    resp = admission.review_with_kube(req, kube, mutate=False)["response"]
    assert resp == {"uid": req["request"]["uid"], "allowed": True}


def test_v1beta1_review_is_answered_in_kind(kube: MemKube) -> None:
    req = review(pod(request=[{"interfaceName": "eth0", "network": "primary"}]), api_version="admission.k8s.io/v1beta1")
    answer = admission.review_with_kube(req, kube)
    assert answer["apiVersion"] == "admission.k8s.io/v1beta1"
    assert patch_of(answer["response"])


def test_api_server_errors_deny_with_500_and_no_guess() -> None:
    from podnet.errors import KubeError

    class Failing(MemKube):
        def get(self, res, name, namespace=None):  # type: ignore[no-untyped-def]
            raise KubeError(503, "ServiceUnavailable", "etcd is sad")

    resp = admit(Failing(), pod(request=[{"interfaceName": "eth0", "network": "primary"}]))
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 500
    assert "LookupFailed" in resp["status"]["message"] and "etcd is sad" in resp["status"]["message"]


def test_pure_review_needs_no_kube() -> None:
    obj = pod(request=[{"interfaceName": "eth0", "network": "primary"}])
    answer = admission.review(review(obj), networks={"primary": pn("primary", (G,))})
    assert apply(obj, answer["response"])["spec"]["affinity"]
    denied = admission.review(review(obj), networks={})
    assert reasons(denied["response"]) == ["NetworkNotFound"]


def test_hand_made_review_with_a_non_string_annotation_is_denied_with_a_reason(kube: MemKube) -> None:
    obj = pod()
    obj["metadata"]["annotations"] = {REQ: [{"interfaceName": "eth0", "network": "primary"}]}
    resp = admit(kube, obj)
    assert reasons(resp) == ["InvalidFieldType"]
    assert f"metadata.annotations[{REQ}]" in resp["status"]["message"]
