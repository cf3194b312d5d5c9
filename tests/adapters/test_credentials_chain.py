"""Credentials providers: OpenApiCloud (both transports) and MnsQueue sign every request with the
provider's current triple; ``default_credentials_provider`` is the alibabacloud-credentials chain;
``podnet.runloop`` falls back to it when the static variables are absent."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from podnet.adapters import acs3
from podnet.adapters import cloud as cloud_mod
from podnet.adapters.cloud import CloudCredentials, OpenApiCloud, default_credentials_provider
from podnet.adapters.mns_queue import MnsQueue
from podnet.adapters.retry import RetryPolicy
from podnet.clock import SimClock
from podnet.errors import PermanentError, RetryableError
from podnet.fakes.mns.server import FakeMNSServer
from podnet.metrics import Metrics
from podnet.runloop import build_step_context, step_queues
from podnet.steps.context import dead_letter_queue_name, queue_name
from podnet.steps.messages import STEP_NAMES

T1 = CloudCredentials("ak-1", "sk-1", None)
T2 = CloudCredentials("STS.ak-2", "sk-2", "token-2")
T3 = CloudCredentials("STS.ak-3", "sk-3", "token-3")
SECRETS = {c.access_key_id: c.access_key_secret for c in (T1, T2, T3)}
ACS3_AUTH = re.compile(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$")


class RotatingProvider:
    """A ``CredentialsProvider`` whose triple the test rotates; counts how often it is asked."""

    def __init__(self, *triples: CloudCredentials) -> None:
        self.triples, self.index, self.calls = list(triples), 0, 0

    def __call__(self) -> CloudCredentials:
        self.calls += 1
        return self.triples[self.index]

    def rotate(self) -> None:
        self.index += 1


def acs3_signature_ok(method: str, path: str, headers: Any, secret: str) -> bool:
    """Recompute the ACS3-HMAC-SHA256 signature of a received request with ``secret``."""
    m = ACS3_AUTH.match(headers["Authorization"])
    assert m, headers["Authorization"]
    _, signed, signature = m.groups()
    canon, names = acs3.canonical_headers({n: headers[n] for n in signed.split(";")})
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    canonical_request = (
        f"{method}\n{parts.path or '/'}\n{acs3.canonical_query_string(query)}\n{canon}\n{names}\n"
        f"{headers['x-acs-content-sha256']}"
    )
    to_sign = f"{acs3.ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@pytest.fixture
def seen_cloud(cloud_server: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """(AccessKeyId, security token, signature valid for that key's secret) of every API request."""
    seen: list[tuple[str, str, bool]] = []
    handler = type(cloud_server).handler_class
    original = handler._api

    def spy(self: Any) -> None:
        m = ACS3_AUTH.match(self.headers.get("Authorization") or "")
        ak = m.group(1) if m else ""
        ok = bool(m) and ak in SECRETS and acs3_signature_ok(self.command, self.path, self.headers, SECRETS[ak])
        seen.append((ak, self.headers.get("x-acs-security-token") or "", ok))
        original(self)

    monkeypatch.setattr(handler, "_api", spy)
    return seen


def make_cloud(server: Any, transport: str, **kw: Any) -> OpenApiCloud:
    return OpenApiCloud(
        region="cn-hangzhou",
        ecs_endpoint=server.endpoint,
        vpc_endpoint=server.endpoint,
        protocol="http",
        clock=SimClock(),
        retry=RetryPolicy(sleep=lambda s: None, jitter=0.0),
        metrics=Metrics(),
        timeout_s=5,
        transport=transport,
        **kw,
    )


# --- OpenApiCloud --------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["tea", "signed"])
def test_cloud_signs_each_call_with_the_providers_current_triple(
    transport: str, cloud_server: Any, seen_cloud: list[tuple[str, str, bool]]
) -> None:
    provider = RotatingProvider(T1, T2, T3)
    cloud = make_cloud(cloud_server, transport, credentials_provider=provider)
    assert provider.calls == 0  # not asked at construction
    cloud.describe_vswitches(["vsw-g1"])
    provider.rotate()
    cloud.describe_vswitches(["vsw-g1"])
    cloud.describe_vswitches(["vsw-h1"])  # unchanged triple: still the same
    provider.rotate()
    got = cloud.describe_vswitches(["vsw-g1"])
    assert [v.id for v in got] == ["vsw-g1"]
    assert seen_cloud == [
        ("ak-1", "", True),
        ("STS.ak-2", "token-2", True),
        ("STS.ak-2", "token-2", True),
        ("STS.ak-3", "token-3", True),
    ]
    assert cloud.credentials == T3
    assert provider.calls == 4  # once per request


@pytest.mark.parametrize("transport", ["tea", "signed"])
def test_cloud_provider_wins_over_initial_credentials_and_its_errors_propagate(
    transport: str, cloud_server: Any, seen_cloud: list[tuple[str, str, bool]]
) -> None:
    calls = {"n": 0}

    def flaky() -> CloudCredentials:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RetryableError("metadata service down", code="CredentialsUnavailable")
        return T2

    cloud = make_cloud(cloud_server, transport, credentials=T1, credentials_provider=flaky)
    cloud.describe_vswitches(["vsw-g1"])
    with pytest.raises(RetryableError) as ei:
        cloud.describe_vswitches(["vsw-g1"])
    assert ei.value.code == "CredentialsUnavailable"
    cloud.describe_vswitches(["vsw-g1"])
    assert seen_cloud == [("STS.ak-2", "token-2", True)] * 2  # nothing was sent without credentials


def test_signature_check_in_this_test_is_real(cloud_server: Any, seen_cloud: list[tuple[str, str, bool]]) -> None:
    # the spy flags a request signed with a secret that does not belong to its AccessKeyId
    cloud = make_cloud(cloud_server, "signed", credentials=CloudCredentials("ak-1", "wrong-secret"))
    cloud.describe_vswitches(["vsw-g1"])
    assert seen_cloud == [("ak-1", "", False)]


def test_cloud_needs_credentials_or_a_provider(cloud_server: Any) -> None:
    with pytest.raises(PermanentError) as ei:
        make_cloud(cloud_server, "signed")
    assert ei.value.code == "ConfigError"


# --- MnsQueue ------------------------------------------------------------------------------------------
@pytest.fixture
def signed_mns(mns_backend: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeMNSServer, list[dict[str, str]]]]:
    """A fake MNS that checks signatures against ``server.credentials``, and the auth headers it saw."""
    seen: list[dict[str, str]] = []
    with FakeMNSServer(mns_backend, credentials={"ak-1": "sk-1"}) as server:
        original = server.check_request

        def spy(method: str, resource: str, headers: Any, body: bytes) -> None:
            seen.append({"auth": headers.get("Authorization") or "", "token": headers.get("security-token") or ""})
            original(method, resource, headers, body)

        monkeypatch.setattr(server, "check_request", spy)
        mns_backend.create_queue("q", visibility_timeout=30)
        yield server, seen  # type: ignore[misc]


def test_mns_queue_reconnects_with_the_providers_new_triple(signed_mns: tuple[FakeMNSServer, list[dict[str, str]]]) -> None:
    server, seen = signed_mns
    provider = RotatingProvider(T1, T2)
    q = MnsQueue(server.url, "q", credentials_provider=provider, retry=RetryPolicy(attempts=1, sleep=lambda s: None))
    static = MnsQueue(server.url, "q", access_key_id="ak-1", access_key_secret="sk-1",
                      retry=RetryPolicy(attempts=1, sleep=lambda s: None))
    q.send(["one"])
    assert seen[-1]["auth"].startswith("MNS ak-1:") and seen[-1]["token"] == ""
    # the old key is revoked and the provider hands out an STS triple
    server.credentials = {"STS.ak-2": "sk-2"}
    provider.rotate()
    q.send(["two"])
    assert seen[-1]["auth"].startswith("MNS STS.ak-2:") and seen[-1]["token"] == "token-2"
    got = q.receive(16)
    assert sorted(m.body for m in got) == ["one", "two"]
    for m in got:
        q.delete(m.receipt_handle)
    assert all(s["auth"].startswith("MNS STS.ak-2:") for s in seen[2:])
    # control: a queue still on the revoked key is refused by the fake
    with pytest.raises((PermanentError, RetryableError)) as ei:
        static.send(["three"])
    assert ei.value.code == "InvalidAccessKeyId"


def test_mns_queue_needs_credentials_or_a_provider() -> None:
    with pytest.raises(PermanentError):
        MnsQueue("http://127.0.0.1:1", "q")
    env = {"PODNET_MNS_ENDPOINT": "http://127.0.0.1:1"}
    with pytest.raises(PermanentError):
        MnsQueue.from_env("q", env)
    provider = RotatingProvider(T1)
    q = MnsQueue.from_env("q", env, credentials_provider=provider)
    assert q.endpoint == "http://127.0.0.1:1" and provider.calls == 0


# --- default_credentials_provider: the alibabacloud-credentials chain -----------------------------------
@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Callable[..., None]]:
    """Set the environment the SDK's chain sees. alibabacloud_credentials reads its variables once, at
    import (``utils.auth_util``), so reload that module after changing them (and again afterwards)."""
    from alibabacloud_credentials.utils import auth_util

    def apply(**env: str) -> None:
        import os

        for name in list(os.environ):
            if name.startswith("ALIBABA_CLOUD_"):
                monkeypatch.delenv(name)
        # keep the chain on this host: no metadata service, no CLI profile, no ~/.alibabacloud file
        monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
        monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", str(tmp_path / "no-credentials.ini"))
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        importlib.reload(auth_util)

    yield apply
    monkeypatch.undo()
    importlib.reload(auth_util)


def test_default_provider_reads_the_env_pair(sdk_env: Callable[..., None]) -> None:
    sdk_env(ALIBABA_CLOUD_ACCESS_KEY_ID="env-ak", ALIBABA_CLOUD_ACCESS_KEY_SECRET="env-sk")
    provider = default_credentials_provider()
    assert provider() == CloudCredentials("env-ak", "env-sk", None)
    assert provider() == CloudCredentials("env-ak", "env-sk", None)  # the cached client answers again


def test_default_provider_reads_a_credentials_file(sdk_env: Callable[..., None], tmp_path: Any) -> None:
    sdk_env()
    path = tmp_path / "creds.ini"
    path.write_text("[default]\ntype = access_key\naccess_key_id = file-ak\naccess_key_secret = file-sk\n")
    sdk_env(ALIBABA_CLOUD_CREDENTIALS_FILE=str(path))
    assert default_credentials_provider()() == CloudCredentials("file-ak", "file-sk", None)


def test_default_provider_names_what_it_tried_when_nothing_is_found(sdk_env: Callable[..., None]) -> None:
    sdk_env()
    with pytest.raises(PermanentError) as ei:
        default_credentials_provider()()
    msg = str(ei.value)
    assert ei.value.code == "ConfigError"
    for part in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "OIDC", "credentials.ini", "ECS instance RAM role", "Environment variable"):
        assert part in msg, part


def test_default_provider_refresh_failure_after_success_is_retryable() -> None:
    class Model:
        access_key_id, access_key_secret, security_token = "STS.a", "s", "t"

    class FakeClient:
        def __init__(self) -> None:
            self.fail = False

        def get_credential(self) -> Model:
            if self.fail:
                raise RuntimeError("STS unreachable")
            return Model()

    provider = default_credentials_provider()
    client = FakeClient()
    provider._client = client  # type: ignore[attr-defined]
    assert provider() == CloudCredentials("STS.a", "s", "t")
    client.fail = True
    with pytest.raises(RetryableError) as ei:
        provider()
    assert ei.value.code == "CredentialsUnavailable" and "STS unreachable" in str(ei.value)


def test_the_sdk_is_imported_only_when_the_provider_is_asked() -> None:
    code = (
        "import sys\n"
        "from podnet.adapters.cloud import default_credentials_provider\n"
        "p = default_credentials_provider()\n"
        "assert 'alibabacloud_credentials' not in sys.modules, 'imported too early'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


# --- podnet.runloop --------------------------------------------------------------------------------------
@pytest.fixture
def run_env(cloud_server: Any, signed_mns: tuple[FakeMNSServer, list[dict[str, str]]], mns_backend: Any) -> dict[str, str]:
    server, _ = signed_mns
    server.credentials = {"STS.ak-2": "sk-2"}
    for s in STEP_NAMES:
        mns_backend.create_queue(queue_name("podnet", s))
    mns_backend.create_queue(dead_letter_queue_name("podnet"))
    return {
        "PODNET_REGION": "cn-hangzhou",
        "PODNET_ECS_ENDPOINT": cloud_server.endpoint,
        "PODNET_VPC_ENDPOINT": cloud_server.endpoint,
        "PODNET_CLOUD_PROTOCOL": "http",
        "PODNET_CLOUD_TRANSPORT": "signed",
        "PODNET_MNS_ENDPOINT": server.url,
    }


def test_build_step_context_without_env_credentials_uses_the_chain(
    run_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    seen_cloud: list[tuple[str, str, bool]],
    signed_mns: tuple[FakeMNSServer, list[dict[str, str]]],
) -> None:
    made: list[RotatingProvider] = []

    def factory() -> RotatingProvider:
        made.append(RotatingProvider(T2, T3))
        return made[-1]

    monkeypatch.setattr(cloud_mod, "default_credentials_provider", factory)
    ctx = build_step_context(object(), env=run_env)  # type: ignore[arg-type]
    assert len(made) == 1  # one chain, shared by the cloud adapter and every queue
    provider = made[0]
    assert provider.calls >= 1  # checked once at startup
    ctx.cloud.describe_vswitches(["vsw-g1"])
    ctx.outbox.queues["allocate"].send(["x"])  # type: ignore[attr-defined]
    assert seen_cloud[-1] == ("STS.ak-2", "token-2", True)
    server, seen_mns = signed_mns
    assert seen_mns[-1]["auth"].startswith("MNS STS.ak-2:")
    # the chain refreshed the STS triple: the next calls use it
    provider.rotate()
    server.credentials = {"STS.ak-3": "sk-3"}
    ctx.cloud.describe_vswitches(["vsw-g1"])
    ctx.outbox.dlq.send(["y"])  # type: ignore[attr-defined]
    assert seen_cloud[-1] == ("STS.ak-3", "token-3", True)
    assert seen_mns[-1]["auth"].startswith("MNS STS.ak-3:") and seen_mns[-1]["token"] == "token-3"


def test_build_step_context_with_env_credentials_does_not_touch_the_chain(
    run_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def factory() -> Any:
        raise AssertionError("the chain must not be used when the static variables are set")

    monkeypatch.setattr(cloud_mod, "default_credentials_provider", factory)
    env = {**run_env, "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak-1", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-1"}
    ctx = build_step_context(object(), env=env)  # type: ignore[arg-type]
    assert ctx.cloud.credentials == T1
    queues, dlq = step_queues("podnet", env)
    assert dlq._creds == ("ak-1", "sk-1", "")  # noqa: SLF001 - the static pair, as before


def test_step_queues_without_env_credentials_use_one_chain(
    run_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    signed_mns: tuple[FakeMNSServer, list[dict[str, str]]],
) -> None:
    made: list[RotatingProvider] = []
    monkeypatch.setattr(cloud_mod, "default_credentials_provider", lambda: made.append(RotatingProvider(T2)) or made[-1])
    queues, dlq = step_queues("podnet", run_env)
    assert len(made) == 1 and made[0].calls == 1  # probed once at startup
    queues["bind"].send(["z"])
    assert signed_mns[1][-1]["auth"].startswith("MNS STS.ak-2:")


def test_build_step_context_fails_clearly_when_the_chain_finds_nothing(
    run_env: dict[str, str], sdk_env: Callable[..., None]
) -> None:
    sdk_env()
    with pytest.raises(PermanentError) as ei:
        build_step_context(object(), env=run_env)  # type: ignore[arg-type]
    assert ei.value.code == "ConfigError" and "credential chain tried" in str(ei.value)
