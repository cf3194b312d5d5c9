"""PodNetworking rules (product spec section 2): one passing and one failing case per rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podnet.domain.validation import REASON_CODES, validate_pod_networking


def good(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "network.alibabacloud.com/v1beta1",
        "kind": "PodNetworking",
        "metadata": {"name": "net"},
        "spec": {"securityGroupIDs": ["sg-bp1aaaa"], "vSwitchOptions": ["vsw-bp1aaaa", "vsw-bp1bbbb"]},
    }
    obj["spec"].update(spec)
    return obj


def found(obj: Any, platform: str = "ack") -> list[tuple[str, str, str]]:
    """(severity, code, field) of each finding."""
    return [(f.severity, f.code, f.field) for f in validate_pod_networking(obj, platform=platform)]


def test_a_plain_network_is_clean() -> None:
    assert found(good()) == []


def test_a_full_network_with_status_is_clean() -> None:
    obj = good(
        eniOptions={"eniType": "Trunk"},
        allocationType={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "5m0s"},
        vSwitchSelectOptions={"vSwitchSelectionPolicy": "random"},
        selector={},
    )
    obj["status"] = {"status": "Ready", "vSwitches": [{"id": "vsw-bp1aaaa", "zone": "z"}]}
    assert found(obj) == []


def test_findings_name_the_object() -> None:
    f = validate_pod_networking(good(vSwitchOptions=[]))[0]
    assert (f.kind, f.namespace, f.name) == ("PodNetworking", "", "net")
    assert f.line().startswith("PodNetworking net: spec.vSwitchOptions: ")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"vSwitchOptions": []}, [("error", "MissingVSwitchOptions", "spec.vSwitchOptions")]),
        ({"vSwitchOptions": None}, [("error", "MissingVSwitchOptions", "spec.vSwitchOptions")]),
        ({"vSwitchOptions": "vsw-bp1aaaa"}, [("error", "InvalidFieldType", "spec.vSwitchOptions")]),
        ({"vSwitchOptions": ["vsw-a", 7]}, [("error", "InvalidFieldType", "spec.vSwitchOptions[1]")]),
        (
            {"vSwitchOptions": ["vsw-a", "vsw_b", "VSW-C", "sg-d", " vsw-e", "vsw-", "vsw-" + "a" * 70]},
            [("error", "InvalidVSwitchID", f"spec.vSwitchOptions[{i}]") for i in range(1, 7)],
        ),
        ({"vSwitchOptions": ["vsw-a", "vsw-b", "vsw-a"]}, [("error", "DuplicateVSwitchID", "spec.vSwitchOptions[2]")]),
        ({"securityGroupIDs": []}, [("error", "MissingSecurityGroupIDs", "spec.securityGroupIDs")]),
        ({"securityGroupIDs": ["sg-a", "vsw-b"]}, [("error", "InvalidSecurityGroupID", "spec.securityGroupIDs[1]")]),
        ({"securityGroupIDs": ["sg-a", "sg-a"]}, [("error", "DuplicateSecurityGroupID", "spec.securityGroupIDs[1]")]),
        (
            {"securityGroupIDs": [f"sg-{i}" for i in range(11)]},
            [("error", "TooManySecurityGroups", "spec.securityGroupIDs")],
        ),
        ({"eniOptions": {"eniType": "trunk"}}, [("error", "InvalidENIType", "spec.eniOptions.eniType")]),
        ({"eniOptions": {"eniType": 1}}, [("error", "InvalidFieldType", "spec.eniOptions.eniType")]),
        ({"eniOptions": "Trunk"}, [("error", "InvalidFieldType", "spec.eniOptions")]),
        ({"allocationType": {"type": "Static"}}, [("error", "InvalidAllocationType", "spec.allocationType.type")]),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "Always"}},
            [("error", "InvalidReleaseStrategy", "spec.allocationType.releaseStrategy")],
        ),
        (
            {"vSwitchSelectOptions": {"vSwitchSelectionPolicy": "Most"}},
            [("error", "InvalidSelectionPolicy", "spec.vSwitchSelectOptions.vSwitchSelectionPolicy")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL"}},
            [("error", "MissingReleaseAfter", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": ""}},
            [("error", "MissingReleaseAfter", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1d"}},
            [("error", "InvalidReleaseAfter", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": 3600}},
            [("error", "InvalidFieldType", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "4m59s"}},
            [("error", "ReleaseAfterTooShort", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "-1h"}},
            [("error", "ReleaseAfterTooShort", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "Never", "releaseAfter": "1h"}},
            [("error", "ReleaseAfterWithNever", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Fixed", "releaseAfter": "1h"}},
            [("error", "ReleaseAfterWithoutTTL", "spec.allocationType.releaseAfter")],
        ),
        (
            {"allocationType": {"type": "Elastic", "releaseStrategy": "TTL", "releaseAfter": "1h"}},
            [
                ("warning", "ReleaseStrategyWithElastic", "spec.allocationType.releaseStrategy"),
                ("warning", "ReleaseAfterWithElastic", "spec.allocationType.releaseAfter"),
            ],
        ),
        (
            {"allocationType": {"releaseStrategy": "Never"}},  # type defaults to Elastic
            [("warning", "ReleaseStrategyWithElastic", "spec.allocationType.releaseStrategy")],
        ),
        ({"vswitchOptions": ["vsw-a"], "vSwitchOptions": ["vsw-a"]}, [("error", "UnknownField", "spec.vswitchOptions")]),
        (
            {"allocationType": {"type": "Fixed", "releaseStrategy": "TTL", "releaseafter": "1h"}},
            [
                ("error", "UnknownField", "spec.allocationType.releaseafter"),
                ("error", "MissingReleaseAfter", "spec.allocationType.releaseAfter"),
            ],
        ),
        ({"selector": {"podSelector": "app=web"}}, [("error", "InvalidFieldType", "spec.selector.podSelector")]),
        ({"selector": {"podselector": {}}}, [("error", "UnknownField", "spec.selector.podselector")]),
    ],
)
def test_each_rule_reports_its_code_at_its_field(spec: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert found(good(**spec)) == expected


@pytest.mark.parametrize(
    "allocation",
    [
        {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "5m"},
        {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "2h45m"},
        {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1.5h"},
        {"type": "Fixed", "releaseStrategy": "Never"},
        {"type": "Fixed", "releaseStrategy": "Never", "releaseAfter": ""},
        {"type": "Fixed"},
        {"type": "Elastic"},
        {},
    ],
)
def test_valid_allocation_types_pass(allocation: dict[str, Any]) -> None:
    assert found(good(allocationType=allocation)) == []


def test_all_problems_are_reported_together() -> None:
    obj = good(
        vSwitchOptions=[],
        securityGroupIDs=["bad"],
        eniOptions={"eniType": "X"},
        allocationType={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1m"},
    )
    assert [c for _, c, _ in found(obj)] == [
        "InvalidENIType",
        "MissingVSwitchOptions",
        "InvalidSecurityGroupID",
        "ReleaseAfterTooShort",
    ]


def test_messages_are_actionable() -> None:
    (f,) = validate_pod_networking(good(eniOptions={"eniType": "trunk"}))
    assert 'did you mean "Trunk"' in f.message
    (f,) = validate_pod_networking(good(vSwitchOptions=["sg-bp1aaaa"]))
    assert "looks like a security group id" in f.message
    (f,) = validate_pod_networking(good(allocationType={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1d"}))
    assert "'d'" in f.message and "24h" in f.message


def test_acs_allows_only_default_eni_type() -> None:
    assert found(good(eniOptions={"eniType": "Default"}), platform="acs") == []
    assert found(good(), platform="acs") == []
    assert found(good(eniOptions={"eniType": "Trunk"}), platform="acs") == [
        ("error", "ENITypeNotSupportedOnACS", "spec.eniOptions.eniType")
    ]
    assert found(good(eniOptions={"eniType": "Trunk"}), platform="ack") == []


def test_object_level_rules() -> None:
    obj = good()
    obj["apiVersion"] = "network.alibabacloud.com/v1alpha1"
    assert found(obj) == [("error", "UnsupportedAPIVersion", "apiVersion")]
    obj = good()
    del obj["metadata"]["name"]
    assert found(obj) == [("error", "MissingName", "metadata.name")]
    obj = good()
    obj["specs"] = obj.pop("spec")
    codes = [(c, f) for _, c, f in found(obj)]
    assert ("UnknownField", "specs") in codes and ("MissingVSwitchOptions", "spec.vSwitchOptions") in codes
    obj = good()
    obj["spec"] = ["x"]
    assert found(obj) == [("error", "InvalidFieldType", "spec")]
    assert found("nope") == [("error", "InvalidFieldType", "")]


def test_input_is_not_modified() -> None:
    obj = good(allocationType={"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1m"})
    before = copy.deepcopy(obj)
    validate_pod_networking(obj)
    assert obj == before


def test_unknown_platform_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_pod_networking(good(), platform="gke")


def test_every_reported_code_is_registered() -> None:
    assert all(code[0].isupper() and " " not in code for code in REASON_CODES)
