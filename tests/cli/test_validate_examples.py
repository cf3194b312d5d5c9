"""Every example under examples/ run through ``podnet validate``.

examples/invalid/*.yaml state what they must report in a first-line comment, ``# expect: Code[, Code...]``
(each code once per expected finding, errors and warnings alike), optionally with ``# args: ...``.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from podnet.cli import main
from podnet.domain.validation import REASON_CODES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def check(*args: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["validate", "-o", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def header(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# expect: "), f"{path.name} must start with '# expect: Code, ...'"
    expected = [c.strip() for c in lines[0][len("# expect: "):].split(",") if c.strip()]
    args: list[str] = []
    for line in lines[1:3]:
        if line.startswith("# args: "):
            args = shlex.split(line[len("# args: "):])
    return expected, args


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_gallery_reports_exactly_the_expected_codes(path: Path) -> None:
    expected, args = header(path)
    code, items = check(*args, str(path))
    assert Counter(i["code"] for i in items) == Counter(expected)
    assert code == (1 if any(i["severity"] == "error" for i in items) else 0)
    assert all(i["file"] == str(path) and i["field"] for i in items)


def test_the_gallery_covers_every_reason_code() -> None:
    covered = {code for path in INVALID for code in header(path)[0]}
    assert covered == set(REASON_CODES)


@pytest.mark.parametrize(
    "name",
    ["complete-example.yaml", "podnetworking-example.yaml", "podnetworking-status.yaml"],
)
def test_user_document_examples_validate_clean(name: str) -> None:
    assert check(str(EXAMPLES / "user-doc" / name)) == (0, [])


def test_user_document_pod_needs_its_networks() -> None:
    pod = str(EXAMPLES / "user-doc" / "pod-multi-network.yaml")
    code, items = check(pod)
    assert code == 1 and [(i["code"], i["field"][-11:]) for i in items] == [
        ("NetworkNotFound", "[0].network"), ("NetworkNotFound", "[1].network")]
    code, items = check(pod, "--networks", str(EXAMPLES / "user-doc" / "podnetworking-status.yaml"))
    assert code == 1 and [i["code"] for i in items] == ["NetworkNotFound"] and '"secondary"' in items[0]["message"]


@pytest.mark.parametrize(
    ("name", "args"),
    [("statefulset-fixed-ttl.yaml", []), ("trunk-networks.yaml", []), ("acs-pod.yaml", ["--platform", "acs"])],
)
def test_realistic_examples_validate_clean(name: str, args: list[str]) -> None:
    assert check(*args, str(EXAMPLES / name)) == (0, [])
