"""Finding formatting and ValidationFailed."""

from __future__ import annotations

from podnet.domain.findings import Finding, ValidationFailed, format_finding, has_errors
from podnet.errors import PermanentError


def test_namespaced_one_line_form_matches_the_spec_example() -> None:
    f = Finding(
        severity="error",
        code="DuplicateInterfaceName",
        field="metadata.annotations[k8s.aliyun.com/pod-networks-request][1].interfaceName",
        message='duplicate interface name "eth1"',
        kind="Pod",
        namespace="default",
        name="web-0",
    )
    assert f.line() == (
        "Pod default/web-0: metadata.annotations[k8s.aliyun.com/pod-networks-request][1].interfaceName: "
        'duplicate interface name "eth1" (DuplicateInterfaceName)'
    )
    assert format_finding(f, file="a.yaml").startswith("a.yaml: Pod default/web-0: ")


def test_cluster_scoped_objects_print_without_a_namespace_and_warnings_are_prefixed() -> None:
    f = Finding("warning", "ReleaseAfterWithElastic", "spec.allocationType.releaseAfter", "has no effect", "PodNetworking", "", "n")
    assert format_finding(f, file="x.yaml") == (
        "warning: x.yaml: PodNetworking n: spec.allocationType.releaseAfter: has no effect (ReleaseAfterWithElastic)"
    )
    assert f.to_dict()["namespace"] is None


def test_about_reattributes_and_prefixes_the_field() -> None:
    f = Finding("error", "X", "metadata.name", "m").about("Deployment", "ns", "web", field_prefix="spec.template.")
    assert (f.kind, f.namespace, f.name, f.field) == ("Deployment", "ns", "web", "spec.template.metadata.name")


def test_validation_failed_carries_every_finding() -> None:
    findings = [Finding("warning", "W", "a", "w"), Finding("error", "E1", "b", "e1"), Finding("error", "E2", "c", "e2")]
    exc = ValidationFailed(findings)
    assert isinstance(exc, PermanentError)
    assert exc.findings == findings and exc.codes == ["E1", "E2"] and exc.code == "E1"
    assert [w.code for w in exc.warnings] == ["W"]
    assert "e1 (E1)" in str(exc) and "e2 (E2)" in str(exc)
    assert has_errors(findings) and not has_errors(findings[:1])
