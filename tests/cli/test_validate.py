"""``podnet validate``: the command-line contract of product spec section 6."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from podnet.cli import main
from podnet.commands.validate import validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

NET = """\
apiVersion: network.alibabacloud.com/v1beta1
kind: PodNetworking
metadata:
  name: net-a
spec:
  securityGroupIDs: [sg-bp1aaaa]
  vSwitchOptions: [vsw-bp1aaaa]
"""
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  annotations:
    k8s.aliyun.com/pod-networks-request: '{request}'
spec:
  containers: [{{name: c, image: nginx}}]
"""
DUP = '[{"interfaceName":"eth1","network":"net-a","defaultRoute":true},{"interfaceName":"eth1","network":"net-a"}]'
GOOD = '[{"interfaceName":"eth0","network":"net-a"}]'


def run(*args: str, input: str | None = None):  # noqa: A002 - mirrors CliRunner
    return CliRunner().invoke(main, ["validate", *args], input=input)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_clean_input_exits_0_silently(tmp_path: Path) -> None:
    f = write(tmp_path, "ok.yaml", NET + "---\n" + POD.format(request=GOOD))
    result = run(f)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_one_line_per_problem_in_the_spec_format(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.yaml", NET + "---\n" + POD.format(request=DUP))
    result = run(f)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{f}: Pod default/web-0: metadata.annotations[k8s.aliyun.com/pod-networks-request][1].interfaceName: "
        'duplicate interface name "eth1" (DuplicateInterfaceName)'
    ]


def test_warnings_are_prefixed_and_do_not_fail(tmp_path: Path) -> None:
    f = write(tmp_path, "w.yaml", NET.replace("spec:\n", "spec:\n  allocationType: {releaseAfter: 1h}\n"))
    result = run(f)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"warning: {f}: PodNetworking net-a: spec.allocationType.releaseAfter: has no effect with type Elastic "
        "(IPs are released with the pod); set type: Fixed with releaseStrategy: TTL, or remove it (ReleaseAfterWithElastic)"
    ]


def test_json_output(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.yaml", NET.replace("[vsw-bp1aaaa]", "[]") + "---\n" + POD.format(request=DUP))
    result = run("--output", "json", f)
    assert result.exit_code == 1
    items = json.loads(result.stdout)
    assert items == [
        {"file": f, "kind": "PodNetworking", "namespace": None, "name": "net-a", "field": "spec.vSwitchOptions",
         "code": "MissingVSwitchOptions", "message": items[0]["message"], "severity": "error"},
        {"file": f, "kind": "Pod", "namespace": "default", "name": "web-0",
         "field": "metadata.annotations[k8s.aliyun.com/pod-networks-request][1].interfaceName",
         "code": "DuplicateInterfaceName", "message": 'duplicate interface name "eth1"', "severity": "error"},
        {"file": f, "kind": "Pod", "namespace": "default", "name": "web-0",
         "field": "metadata.annotations[k8s.aliyun.com/pod-networks-request][0].network",
         "code": "NetworkInvalid", "message": items[2]["message"], "severity": "error"},
        {"file": f, "kind": "Pod", "namespace": "default", "name": "web-0",
         "field": "metadata.annotations[k8s.aliyun.com/pod-networks-request][1].network",
         "code": "NetworkInvalid", "message": items[3]["message"], "severity": "error"},
    ]
    assert run("-o", "json", write(tmp_path, "ok.yaml", NET)).stdout.strip() == "[]"


def test_pods_see_networks_from_other_files_and_networks_option(tmp_path: Path) -> None:
    nets = write(tmp_path, "nets.yaml", NET)
    pods = write(tmp_path, "pods.yaml", POD.format(request=GOOD))
    assert run(pods).exit_code == 1  # NetworkNotFound on its own
    assert "(NetworkNotFound)" in run(pods).stdout
    assert run(pods, "--networks", nets).exit_code == 0
    assert run(nets, pods).exit_code == 0
    # --networks files are context: their own problems are not reported
    bad_nets = write(tmp_path, "bad-nets.yaml", NET.replace("spec:\n", "spec:\n  allocationType: {releaseAfter: 1h}\n"))
    assert run(pods, "--networks", bad_nets).stdout == ""


def test_stdin_is_dash() -> None:
    result = run("-", input=NET + "---\n" + POD.format(request=DUP))
    assert result.exit_code == 1
    assert result.stdout.startswith("<stdin>: Pod default/web-0: ")


def test_platform_acs(tmp_path: Path) -> None:
    f = write(tmp_path, "acs.yaml", NET.replace("spec:\n", "spec:\n  eniOptions: {eniType: Trunk}\n"))
    assert run(f).exit_code == 0
    result = run("--platform", "acs", f)
    assert result.exit_code == 1 and "(ENITypeNotSupportedOnACS)" in result.stdout


def test_workloads_and_other_kinds(tmp_path: Path) -> None:
    deploy = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        k8s.aliyun.com/pod-networks-request: '[{"interfaceName":"eth0","network":"missing"}]'
    spec: {containers: []}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
"""
    result = run(write(tmp_path, "d.yaml", deploy))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'd.yaml'}: Deployment shop/web: spec.template.metadata.annotations[k8s.aliyun.com/pod-networks-request]"
        '[0].network: no PodNetworking named "missing" (NetworkNotFound)'
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("kind: Pod\nmetadata:\n  name: [x\n", ":4:1: YAML syntax error"),
        ("- a\n- b\n", ":1: document 1 is not a Kubernetes object"),
    ],
)
def test_unreadable_input_exits_2_with_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    f = write(tmp_path, "broken.yaml", text)
    ok = write(tmp_path, "ok.yaml", NET)
    result = run(ok, f)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{f}{needle}" in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.parametrize("args", [[], ["--output", "yaml", "x"], ["--platform", "gke", "x"], ["--bogus", "x"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_the_command_object_is_named_validate() -> None:
    assert validate.name == "validate"


def test_installed_console_command_over_the_user_document_example() -> None:
    """The real ``podnet`` entry point, in a subprocess, on the complete example (clean) and a bad one."""
    exe = Path(sys.executable).with_name("podnet")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "podnet.cli"]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    ok = subprocess.run([*cmd, "validate", str(EXAMPLES / "user-doc" / "complete-example.yaml")],
                        capture_output=True, text=True, env=env, timeout=30)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    bad = subprocess.run([*cmd, "validate", "-o", "json", str(EXAMPLES / "invalid" / "duplicate-interface-name.yaml")],
                         capture_output=True, text=True, env=env, timeout=30)
    assert bad.returncode == 1
    assert [d["code"] for d in json.loads(bad.stdout)] == ["DuplicateInterfaceName"]


def test_validate_does_not_import_heavy_sdks() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from podnet.cli import main; "
        "CliRunner().invoke(main, ['validate', sys.argv[1]]); "
        "heavy = [m for m in ('kubernetes', 'mns', 'Tea', 'alibabacloud_tea_openapi') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "user-doc" / "complete-example.yaml")],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr
