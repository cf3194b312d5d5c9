"""functions/validate/index.py with the sample FC 3.0 HTTP trigger events in events/validate-http-*.json."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonpatch
import pytest

from podnet.admission import AdmissionConfig
from tests.admission.helpers import SNAP, ZONE, MemKube, pn

ROOT = Path(__file__).resolve().parents[2]
G, H, ZI = "cn-hangzhou-g", "cn-hangzhou-h", "cn-hangzhou-i"


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_index", ROOT / "functions" / "validate" / "index.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kube = MemKube(pn("primary-network", (G, H)), pn("secondary-network", (H, ZI)))
    # what initialize() would have built from the environment
    monkeypatch.setattr(module, "_state", {"kube": kube, "config": AdmissionConfig()})
    monkeypatch.delenv("PODNET_WEBHOOK_PATH_TOKEN", raising=False)
    return module


def event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def call(index: ModuleType, ev: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    raw = ev if isinstance(ev, bytes) else json.dumps(ev).encode()  # FC hands the handler bytes
    out = index.handler(raw, None)
    assert set(out) >= {"statusCode", "headers", "body"}
    assert out["headers"]["Content-Type"] == "application/json"
    return out["statusCode"], json.loads(out["body"])


@pytest.mark.parametrize("name", ["validate-http-pod-create.json", "validate-http-pod-create-base64.json"])
def test_pod_create_event_is_admitted_with_snapshot_and_zone(index: ModuleType, name: str) -> None:
    ev = event(name)
    status, answer = call(index, ev)
    assert status == 200
    body = base64.b64decode(ev["body"]) if ev["isBase64Encoded"] else ev["body"].encode()
    review = json.loads(body)
    resp = answer["response"]
    assert resp["uid"] == review["request"]["uid"] and resp["allowed"] is True
    pod = jsonpatch.apply_patch(review["request"]["object"], json.loads(base64.b64decode(resp["patch"])))
    nets = json.loads(pod["metadata"]["annotations"][SNAP])["podNetworks"]
    assert [(n["interface"], n["network"], n["defaultRoute"]) for n in nets] == [
        ("eth0", "primary-network", True), ("eth1", "secondary-network", False)]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": [H]}]}]


def test_invalid_podnetworking_event_is_denied_with_codes(index: ModuleType) -> None:
    status, answer = call(index, event("validate-http-podnetworking-create.json"))
    assert status == 200
    resp = answer["response"]
    assert resp["allowed"] is False and resp["status"]["code"] == 403
    assert set(resp["status"]["reason"].split(",")) == {"MissingVSwitchOptions", "MissingReleaseAfter"}
    assert resp["status"]["message"].startswith("PodNetworking example: spec.vSwitchOptions: ")


def test_malformed_review_is_a_clear_400(index: ModuleType) -> None:
    status, answer = call(index, event("validate-http-malformed.json"))
    assert status == 400
    assert answer["error"] == "malformed AdmissionReview"
    assert "not valid JSON" in answer["problem"] and "line 1" in answer["problem"]


@pytest.mark.parametrize("raw, problem", [
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"body": "{}", "isBase64Encoded": True, "rawPath": "/mutate"}).encode(), "not base64"),
    (json.dumps({"body": 7, "rawPath": "/mutate"}).encode(), "body is not a string"),
])
def test_broken_trigger_events_are_400_not_tracebacks(index: ModuleType, raw: bytes, problem: str) -> None:
    status, answer = call(index, raw)
    assert status == 400 and problem in answer["problem"]


def test_path_token_guards_the_public_url(index: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODNET_WEBHOOK_PATH_TOKEN", "s3cr3t-t0ken")
    ev = event("validate-http-pod-create.json")
    assert call(index, ev)[0] == 404
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/s3cr3t-t0ken/mutate"
    status, answer = call(index, ev)
    assert status == 200 and answer["response"]["allowed"] is True


def test_get_is_refused(index: ModuleType) -> None:
    ev = event("validate-http-pod-create.json")
    ev["requestContext"]["http"]["method"] = "GET"
    assert call(index, ev)[0] == 405
