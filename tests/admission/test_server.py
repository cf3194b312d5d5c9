"""``podnet webhook``'s server: AdmissionReview over real HTTP(S), malformed bodies, health, errors, TLS."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from podnet.admission import AdmissionConfig
from podnet.cli import main
from podnet.webhook import WebhookServer
from tests.admission.helpers import MemKube, pn, pod, review

G = "cn-hangzhou-g"


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer(MemKube(pn("primary", (G,))), host="127.0.0.1", port=0) as srv:
        yield srv


def post(srv: WebhookServer, path: str, body: bytes | str, *, method: str = "POST",
         context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any] | str]:
    if context is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=5,
                                                                       context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read().decode()
        ctype = resp.getheader("Content-Type") or ""
        return resp.status, (json.loads(raw) if ctype.startswith("application/json") else raw)
    finally:
        conn.close()


def test_admission_review_round_trip_over_http(server: WebhookServer) -> None:
    req = review(pod(request=[{"interfaceName": "eth0", "network": "primary"}]))
    status, answer = post(server, "/mutate", json.dumps(req))
    assert status == 200 and isinstance(answer, dict)
    resp = answer["response"]
    assert resp["uid"] == req["request"]["uid"] and resp["allowed"] is True and resp["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert {op["path"] for op in ops} >= {"/metadata/annotations/k8s.aliyun.com~1pod-networks", "/spec/affinity"}

    status, answer = post(server, "/validate", json.dumps(req))
    assert status == 200 and answer["response"] == {"uid": req["request"]["uid"], "allowed": True}  # type: ignore[index]


def test_denial_over_http(server: WebhookServer) -> None:
    req = review(pod(request=[{"interfaceName": "eth0", "network": "missing"}]))
    status, answer = post(server, "/mutate", json.dumps(req))
    assert status == 200 and isinstance(answer, dict)
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"] == {
        "code": 403, "reason": "NetworkNotFound",
        "message": answer["response"]["status"]["message"]}
    assert "(NetworkNotFound)" in answer["response"]["status"]["message"]


def _without(key: str) -> str:
    req = review(pod())
    del req["request"][key]
    return json.dumps(req)


@pytest.mark.parametrize("body, problem", [
    ("", "empty"),
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ("[]", "must be a JSON object, got list"),
    ('{"kind": "Pod", "apiVersion": "v1"}', "kind must be AdmissionReview, got 'Pod'"),
    ('{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2"}', "apiVersion must be one of"),
    ('{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', "request is missing"),
    ('{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": "x"}', "request is missing or not an object"),
    (_without("uid"), "request.uid is missing"),
    (_without("operation"), "request.operation is missing"),
    (_without("resource"), "request.resource is missing"),
    (_without("object"), "request.object is missing for a CREATE"),
    (json.dumps({**review(pod()), "request": {**review(pod())["request"], "operation": "PATCH"}}),
     "request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got 'PATCH'"),
    (json.dumps({**review(pod()), "request": {**review(pod())["request"], "object": {"metadata": []}}}),
     "request.object.metadata must be an object"),
    (json.dumps({**review(pod()), "request": {**review(pod())["request"],
                                              "object": {"metadata": {"annotations": "x"}}}}),
     "request.object.metadata.annotations must be an object"),
    (json.dumps({**review(pod()), "request": {**review(pod())["request"], "uid": 5}}),
     "request.uid must be a string"),
])
def test_malformed_reviews_are_400_with_a_json_error(server: WebhookServer, body: str, problem: str) -> None:
    status, answer = post(server, "/mutate", body)
    assert status == 400 and isinstance(answer, dict)
    assert answer["error"] == "malformed AdmissionReview"
    assert problem in answer["problem"]
    assert "Traceback" not in json.dumps(answer)


def test_unknown_paths_methods_and_health(server: WebhookServer) -> None:
    assert post(server, "/healthz", "", method="GET") == (200, "ok\n")
    assert post(server, "/nope", "{}")[0] == 404
    assert post(server, "/mutate", "", method="GET")[0] == 404


def test_unexpected_failure_is_a_clean_500() -> None:
    class Broken(MemKube):
        def get(self, res, name, namespace=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom: secret internals")

    with WebhookServer(Broken(), host="127.0.0.1", port=0) as srv:
        status, answer = post(srv, "/mutate", json.dumps(review(pod(request=[{"interfaceName": "eth0", "network": "x"}]))))
    assert status == 500 and isinstance(answer, dict)
    assert "boom" not in json.dumps(answer) and "Traceback" not in json.dumps(answer)


def test_oversized_body_is_refused(server: WebhookServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.putrequest("POST", "/mutate")
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


# --- TLS ---------------------------------------------------------------------------------------------
def _self_signed(tmp: Path, name: str) -> tuple[str, str]:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=podnet-webhook.kube-system.svc", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_https_with_certificate_rotation(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "one")
    srv = WebhookServer(MemKube(pn("primary", (G,))), host="127.0.0.1", port=0, cert_file=cert, key_file=key)
    assert srv._httpd.certs is not None
    srv._httpd.certs.check_every_s = 0.0  # check on every connection in this test
    with srv:
        trust_one = ssl.create_default_context(cafile=cert)
        req = review(pod(request=[{"interfaceName": "eth0", "network": "primary"}]))
        status, answer = post(srv, "/mutate", json.dumps(req), context=trust_one)
        assert status == 200 and answer["response"]["allowed"] is True  # type: ignore[index]

        # plain HTTP to a TLS port gets no answer
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            post(srv, "/healthz", "", method="GET")

        # rotate in place (as a Secret volume refresh does): new connections get the new certificate
        new_cert, new_key = _self_signed(tmp_path, "two")
        shutil.copy(new_key, key)
        shutil.copy(new_cert, cert)
        later = time.time() + 5
        os.utime(cert, (later, later))
        os.utime(key, (later, later))
        trust_two = ssl.create_default_context(cafile=new_cert)
        assert post(srv, "/healthz", "", method="GET", context=trust_two) == (200, "ok\n")
        with pytest.raises(ssl.SSLError):
            post(srv, "/healthz", "", method="GET", context=trust_one)


# --- the command -------------------------------------------------------------------------------------
def test_command_help_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["webhook", "--help"])
    assert out.exit_code == 0 and "--tls-cert" in out.output and "--system-user" in out.output
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    out = runner.invoke(main, ["webhook", "--tls-cert", str(cert)])
    assert out.exit_code == 2 and "--tls-cert and --tls-key go together" in out.output


def test_config_from_env() -> None:
    cfg = AdmissionConfig.from_env({"PODNET_SYSTEM_USER": "system:serviceaccount:x:y", "PODNET_PLATFORM": "acs",
                                    "PODNET_MAX_INTERFACES": "4"})
    assert cfg == AdmissionConfig(system_user="system:serviceaccount:x:y", platform="acs", max_interfaces=4)
    assert AdmissionConfig.from_env({}) == AdmissionConfig()
