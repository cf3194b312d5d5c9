"""parse_pod_networks_request: results, refusals, and robustness on arbitrary input."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podnet.domain.findings import ValidationFailed
from podnet.domain.models import PodNetworkRequest
from podnet.domain.validation import MAX_REQUEST_BYTES, parse_pod_networks_request

BASE = "metadata.annotations[k8s.aliyun.com/pod-networks-request]"


def test_parses_the_user_document_example() -> None:
    raw = """[
        {"interfaceName":"eth0","network":"default","defaultRoute": true},
        {"interfaceName":"eth1","network":"secondary", "routes": [{"dst": "192.168.0.0/16"}]}
      ]"""
    reqs = parse_pod_networks_request(raw)
    assert reqs == [
        PodNetworkRequest(interface_name="eth0", network="default", default_route=True),
        PodNetworkRequest.from_k8s({"interfaceName": "eth1", "network": "secondary", "routes": [{"dst": "192.168.0.0/16"}]}),
    ]
    assert reqs[1].routes is not None and reqs[1].routes[0].dst == "192.168.0.0/16"


def test_refuses_with_every_error_and_its_field() -> None:
    raw = json.dumps([{"interfaceName": "eth1", "network": "a", "defaultRoute": True},
                      {"interfaceName": "eth1", "network": "b", "defaultroute": False}])
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request(raw)
    assert [(f.code, f.field) for f in exc.value.findings] == [
        ("UnknownField", f"{BASE}[1].defaultroute"),
        ("DuplicateInterfaceName", f"{BASE}[1].interfaceName"),
    ]


def test_invalid_json_names_line_column_and_char() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request('[{"interfaceName": "eth0",,}]')
    (f,) = exc.value.findings
    assert f.code == "InvalidJSON" and "line 1 column 27 (char 26)" in f.message


def test_the_limit_is_in_bytes_and_configurable() -> None:
    entry = '{"interfaceName":"eth0","network":"net"}'
    ok = "[" + entry + "]"
    assert parse_pod_networks_request(ok, max_bytes=len(ok))
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request(ok, max_bytes=len(ok) - 1)
    assert exc.value.codes == ["AnnotationTooLarge"]
    # multi-byte characters count as bytes
    wide = '[{"interfaceName":"eth0","network":"' + "\u7f51" * 6000 + '"}]'
    assert len(wide) < MAX_REQUEST_BYTES < len(wide.encode())
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request(wide)
    assert exc.value.codes == ["AnnotationTooLarge"]


def test_a_10_mb_annotation_is_refused_unparsed() -> None:
    raw = "[" + ",".join(['{"interfaceName":"eth0","network":"net"}'] * 250_000) + "]"
    assert len(raw) > 10_000_000
    start = time.perf_counter()
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request(raw)
    elapsed = time.perf_counter() - start
    (f,) = exc.value.findings
    assert f.code == "AnnotationTooLarge" and f.field == BASE
    assert "16384 bytes" in f.message and str(len(raw)) in f.message
    assert elapsed < 1.0  # generous: parsing 10 MB of JSON would be far slower than a length check


def test_a_10_mb_invalid_annotation_is_refused_the_same_way() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request("{" * 10_000_000)
    assert exc.value.codes == ["AnnotationTooLarge"]


def test_not_a_string_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_pod_networks_request(None)  # type: ignore[arg-type]
    assert exc.value.codes == ["InvalidFieldType"]


_KEYS = st.sampled_from(["interfaceName", "network", "defaultRoute", "routes", "dst", "x"]) | st.text(max_size=8)


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=5) | st.dictionaries(_KEYS, children, max_size=5)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    _containers,
    max_leaves=30,
)

entry_like = st.fixed_dictionaries(
    {},
    optional={
        "interfaceName": st.sampled_from(["eth0", "eth1", "", "lo", "a" * 16, "e:1"]) | st.text(max_size=17) | json_values,
        "network": st.sampled_from(["a", "b", ""]) | json_values,
        "defaultRoute": st.booleans() | json_values,
        "routes": st.lists(st.fixed_dictionaries({}, optional={"dst": st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "x", "0.0.0.0/0"]) | json_values}), max_size=3) | json_values,
    },
)


def _check(raw: str) -> None:
    try:
        result = parse_pod_networks_request(raw)
    except ValidationFailed as exc:
        assert exc.findings and all(f.code and f.field.startswith(BASE) for f in exc.findings)
        return
    assert isinstance(result, list) and result
    assert all(isinstance(r, PodNetworkRequest) for r in result)
    names = [r.interface_name for r in result]
    assert len(set(names)) == len(names)
    assert sum(bool(r.default_route) for r in result) <= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_values_give_a_result_or_validation_failed(value: object) -> None:
    _check(json.dumps(value))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry_like, max_size=10))
def test_entry_shaped_json_gives_a_result_or_validation_failed(entries: list) -> None:
    _check(json.dumps(entries))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_gives_a_result_or_validation_failed(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="[]{}\",:0123456789 \n\\tfalsenul", max_size=300))
def test_json_ish_text_gives_a_result_or_validation_failed(text: str) -> None:
    _check(text)
