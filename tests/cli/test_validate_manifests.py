"""podnet.manifests: multi-document YAML/JSON, stdin, Lists, and errors with file and line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from podnet.manifests import (
    ManifestError,
    iter_pod_networkings,
    iter_pods,
    iter_workloads,
    load_file,
    load_manifests,
    load_text,
    pod_template_of,
)

MULTI = """\
# leading comment
apiVersion: v1
kind: Pod
metadata: {name: a}
---
---
apiVersion: network.alibabacloud.com/v1beta1
kind: PodNetworking
metadata: {name: n}
status:
  updateAt: 2025-03-24T06:10:00Z
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    metadata: {labels: {app: d}}
    spec: {containers: []}
"""


def test_multi_document_yaml_with_lines_and_empty_documents(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    docs = load_file(str(f))
    assert [(d.kind, d.name, d.line, d.file) for d in docs] == [
        ("Pod", "a", 2, str(f)),
        ("PodNetworking", "n", 7, str(f)),
        ("Deployment", "d", 13, str(f)),
    ]
    assert [d.name for d in iter_pods(docs)] == ["a"]
    assert [d.name for d in iter_pod_networkings(docs)] == ["n"]
    ((wl, template),) = list(iter_workloads(docs))
    assert wl.name == "d" and template == pod_template_of(wl.doc) == {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": []}}
    # timestamps stay strings, as Kubernetes reads them
    assert docs[1].doc["status"]["updateAt"] == "2025-03-24T06:10:00Z"


def test_json_files_and_lists(tmp_path: Path) -> None:
    f = tmp_path / "l.json"
    f.write_text('{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "x"}},'
                 ' {"kind": "PodNetworking", "metadata": {"name": "y"}}]}')
    assert [(d.kind, d.name) for d in load_file(str(f))] == [("Pod", "x"), ("PodNetworking", "y")]


def test_stdin() -> None:
    docs = load_manifests(["-"], stdin=io.StringIO("kind: Pod\nmetadata: {name: s}\n"))
    assert [(d.file, d.name) for d in docs] == [("<stdin>", "s")]


@pytest.mark.parametrize(
    ("name", "text", "where", "what"),
    [
        ("bad.yaml", "kind: Pod\nmetadata:\n  name: [a\n", ":4:1", "YAML syntax error"),
        ("bad.yaml", "kind: Pod\n  x: y\n", ":2:4", "YAML syntax error"),
        ("tab.yaml", "kind: Pod\nmetadata:\n\tname: a\n", ":3:", "YAML syntax error"),
        ("bad.json", '{"kind": "Pod",\n "x": }', ":2:7", "JSON syntax error"),
        ("scalar.yaml", "just text\n", ":1", "not a Kubernetes object"),
        ("nokind.yaml", "kind: Pod\n---\nmetadata: {}\n", ":3", "document 2 has no kind"),
    ],
)
def test_unreadable_input_names_file_and_line(tmp_path: Path, name: str, text: str, where: str, what: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(ManifestError) as exc:
        load_file(str(f))
    assert str(exc.value).startswith(f"{f}{where}") and what in str(exc.value)
    assert exc.value.file == str(f)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        load_file(str(tmp_path / "nope.yaml"))
    with pytest.raises(ManifestError, match="is a directory"):
        load_file(str(tmp_path))


def test_load_text_defaults_to_yaml() -> None:
    assert load_text('{"kind": "Pod", "metadata": {"name": "j"}}')[0].name == "j"
