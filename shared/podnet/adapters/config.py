"""Runtime settings from environment variables (one frozen dataclass; no pydantic, to stay cheap to import).

Every variable, its default and meaning:

=========================  ======================================  =====================================
variable                   default                                 meaning
=========================  ======================================  =====================================
PODNET_CLUSTER_ID          (required for cloud work)               tag ``ack.aliyun.com=<id>`` on ENIs
PODNET_REGION              ALIBABA_CLOUD_REGION_ID / FC_REGION     region of ECS/VPC/MNS
PODNET_PLATFORM            ack                                     ack | acs
PODNET_DEFAULT_ENI_TYPE    Trunk                                   what eniType ``Default`` means: Trunk|ENI
PODNET_MAX_INTERFACES      8                                       max extra interfaces per pod
PODNET_GC_GRACE            10m                                     leaked-ENI minimum age before GC
PODNET_SWEEP_PERIOD        1m                                      timer sweep period
PODNET_QUEUE_PREFIX        podnet                                  MNS queues <prefix>-<step>, <prefix>-dead-letter
PODNET_MAX_ATTEMPTS        12                                      tries of a failing message before dead-letter
PODNET_SYSTEM_NAMESPACE    kube-system                             where the GC/forwarder state ConfigMaps live
PODNET_MNS_ENDPOINT        ""                                      http(s)://<uid>.mns.<region>.aliyuncs.com
PODNET_ECS_ENDPOINT        ecs.<region>.aliyuncs.com               ECS OpenAPI endpoint (host[:port])
PODNET_VPC_ENDPOINT        vpc.<region>.aliyuncs.com               VPC OpenAPI endpoint
PODNET_CLOUD_PROTOCOL      https                                   http only for the local fakes
PODNET_CLOUD_TRANSPORT     tea                                     tea | signed (own ACS3 signer; FC uses it)
PODNET_MAX_INSTANCES       1                                       FC instance cap (rate-limit share)
PODNET_RATE_LIMITS         {}                                      JSON per-minute limit overrides
PODNET_KUBE_URL            ""                                      API server URL (else kubeconfig)
PODNET_KUBE_TOKEN[_FILE]   ""                                      bearer token or a file holding it
PODNET_KUBE_CA_FILE        ""                                      API server CA bundle
PODNET_KUBECONFIG          KUBECONFIG                              kubeconfig path
ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN            static/STS credentials; FC uses the
                                                                   function role (context); without them
                                                                   podnet run uses the standard chain
                                                                   (OIDC/RRSA, ECS RAM role, file)
=========================  ======================================  =====================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from podnet.domain.duration import parse_go_duration
from podnet.errors import PermanentError

__all__ = ["Settings", "parse_duration"]

def parse_duration(text: str | float | int) -> float:
    """Seconds from a number (``90``, ``"90"``) or a Go duration (``"1m30s"``, ``"10m"``, ``"500ms"``)."""
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    return parse_go_duration(s).total_seconds()


def _bad(name: str, value: str, why: str) -> PermanentError:
    return PermanentError(f"{name}={value!r}: {why}", code="ConfigError")


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about its deployment."""

    cluster_id: str = ""
    region: str = ""
    platform: str = "ack"
    default_eni_type: str = "Trunk"
    max_interfaces: int = 8
    gc_grace_s: float = 600.0
    sweep_period_s: float = 60.0
    queue_prefix: str = "podnet"
    max_attempts: int = 12
    system_namespace: str = "kube-system"
    mns_endpoint: str = ""
    ecs_endpoint: str = ""
    vpc_endpoint: str = ""
    cloud_protocol: str = "https"
    cloud_transport: str = "tea"
    max_instances: int = 1
    rate_limits: Mapping[str, float] = field(default_factory=dict)
    access_key_id: str = ""
    access_key_secret: str = field(default="", repr=False)
    security_token: str = field(default="", repr=False)
    kube_url: str = ""
    kube_token: str = field(default="", repr=False)
    kube_token_file: str = ""
    kube_ca_file: str = ""
    kubeconfig: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; a bad value raises ``PermanentError(code="ConfigError")``."""
        e = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return (e.get(name) or default).strip()

        region = get("PODNET_REGION") or get("ALIBABA_CLOUD_REGION_ID") or get("FC_REGION")
        platform = get("PODNET_PLATFORM", "ack").lower()
        if platform not in ("ack", "acs"):
            raise _bad("PODNET_PLATFORM", platform, "must be ack or acs")
        eni_type = get("PODNET_DEFAULT_ENI_TYPE", "Trunk")
        eni_type = {"trunk": "Trunk", "eni": "ENI"}.get(eni_type.lower(), eni_type)
        if eni_type not in ("Trunk", "ENI"):
            raise _bad("PODNET_DEFAULT_ENI_TYPE", eni_type, "must be Trunk or ENI")
        ints: dict[str, int] = {}
        for name, default in (("PODNET_MAX_INTERFACES", "8"), ("PODNET_MAX_INSTANCES", "1"), ("PODNET_MAX_ATTEMPTS", "12")):
            raw = get(name, default)
            try:
                ints[name] = int(raw)
            except ValueError:
                raise _bad(name, raw, "must be an integer") from None
            if ints[name] < 1:
                raise _bad(name, raw, "must be >= 1")
        durations: dict[str, float] = {}
        for name, default in (("PODNET_GC_GRACE", "10m"), ("PODNET_SWEEP_PERIOD", "1m")):
            raw = get(name, default)
            try:
                durations[name] = parse_duration(raw)
            except ValueError:
                raise _bad(name, raw, "must be a duration like 90s, 10m, 1h") from None
        raw_limits = get("PODNET_RATE_LIMITS", "{}")
        try:
            limits = json.loads(raw_limits)
            if not isinstance(limits, dict):
                raise ValueError
            rate_limits = {str(k): float(v) for k, v in limits.items()}
        except (ValueError, TypeError):
            raise _bad("PODNET_RATE_LIMITS", raw_limits, 'must be a JSON object like {"DescribeVSwitches": 200}') from None
        protocol = get("PODNET_CLOUD_PROTOCOL", "https").lower()
        if protocol not in ("http", "https"):
            raise _bad("PODNET_CLOUD_PROTOCOL", protocol, "must be http or https")
        transport = get("PODNET_CLOUD_TRANSPORT", "tea").lower()
        if transport not in ("tea", "signed"):
            raise _bad("PODNET_CLOUD_TRANSPORT", transport, "must be tea or signed")
        return cls(
            cluster_id=get("PODNET_CLUSTER_ID"),
            region=region,
            platform=platform,
            default_eni_type=eni_type,
            max_interfaces=ints["PODNET_MAX_INTERFACES"],
            gc_grace_s=durations["PODNET_GC_GRACE"],
            sweep_period_s=durations["PODNET_SWEEP_PERIOD"],
            queue_prefix=get("PODNET_QUEUE_PREFIX", "podnet"),
            max_attempts=ints["PODNET_MAX_ATTEMPTS"],
            system_namespace=get("PODNET_SYSTEM_NAMESPACE", "kube-system"),
            mns_endpoint=get("PODNET_MNS_ENDPOINT") or get("MNS_ENDPOINT"),
            ecs_endpoint=get("PODNET_ECS_ENDPOINT") or (f"ecs.{region}.aliyuncs.com" if region else ""),
            vpc_endpoint=get("PODNET_VPC_ENDPOINT") or (f"vpc.{region}.aliyuncs.com" if region else ""),
            cloud_protocol=protocol,
            cloud_transport=transport,
            max_instances=ints["PODNET_MAX_INSTANCES"],
            rate_limits=rate_limits,
            access_key_id=get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            security_token=get("ALIBABA_CLOUD_SECURITY_TOKEN"),
            kube_url=get("PODNET_KUBE_URL"),
            kube_token=get("PODNET_KUBE_TOKEN"),
            kube_token_file=get("PODNET_KUBE_TOKEN_FILE"),
            kube_ca_file=get("PODNET_KUBE_CA_FILE"),
            kubeconfig=get("PODNET_KUBECONFIG") or get("KUBECONFIG"),
        )

    def require(self, *names: str) -> Settings:
        """Raise ``PermanentError`` naming every listed setting that is empty."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            raise PermanentError(f"missing settings: {', '.join(missing)}", code="ConfigError")
        return self
