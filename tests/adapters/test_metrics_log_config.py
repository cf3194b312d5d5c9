"""The metrics registry, JSON logging, and Settings from the environment."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from podnet.adapters.config import Settings, parse_duration
from podnet.errors import PermanentError, RetryableError
from podnet.log import JsonFormatter, bind, bound, configure, fields, get_logger, unconfigure
from podnet.metrics import LatencyStats, Metrics, get_metrics


# --- metrics -----------------------------------------------------------------------------------------
def test_call_counts_errors_throttles_latency() -> None:
    m = Metrics()
    m.record_call("CreateNetworkInterface", 0.100)
    m.record_call("CreateNetworkInterface", 0.300, "Throttling.User", throttled=True)
    m.record_call("CreateNetworkInterface", 0.200, "InternalError")
    m.record_wait("CreateNetworkInterface", 0.5)
    api = m.snapshot()["apis"]["CreateNetworkInterface"]
    assert api["calls"] == 3 and api["throttles"] == 1
    assert api["errors"] == {"InternalError": 1, "Throttling.User": 1}
    lat = api["latency"]
    assert lat["count"] == 3 and lat["sum_ms"] == pytest.approx(600.0) and lat["max_ms"] == pytest.approx(300.0)
    assert lat["p50_ms"] == pytest.approx(200.0) and lat["p95_ms"] == pytest.approx(300.0)
    assert api["rate_limit_wait"]["count"] == 1
    assert m.calls("CreateNetworkInterface") == 3 and m.calls("Nope") == 0


def test_percentiles_use_a_bounded_recent_sample() -> None:
    s = LatencyStats(sample_size=100)
    for i in range(1, 1001):
        s.observe(i / 1000)
    assert len(s.sample) == 100 and s.count == 1000
    assert s.percentile(0.5) == pytest.approx(0.950)  # the last 100 values: 0.901..1.000
    assert s.percentile(0.95) == pytest.approx(0.995)
    assert LatencyStats().percentile(0.5) == 0.0


def test_step_timing_counts_errors_by_code() -> None:
    m = Metrics()
    with m.time_step("allocate"):
        pass
    with pytest.raises(RetryableError), m.time_step("allocate"):
        raise RetryableError("later", code="Throttling")
    with pytest.raises(ValueError), m.time_step("allocate"):
        raise ValueError("boom")
    step = m.snapshot()["steps"]["allocate"]
    assert step["runs"] == 3 and step["errors"] == {"Throttling": 1, "ValueError": 1}


def test_emit_writes_one_json_line_and_can_reset() -> None:
    m = Metrics()
    m.record_call("DescribeVSwitches", 0.01)
    out = io.StringIO()
    line = m.emit(out, reset=True, request_id="r-1")
    text = out.getvalue()
    assert text.count("\n") == 1
    parsed = json.loads(text)
    assert parsed == line and parsed["metric"] == "podnet" and parsed["request_id"] == "r-1"
    assert parsed["apis"]["DescribeVSwitches"]["calls"] == 1
    assert m.snapshot() == {"apis": {}, "steps": {}}


def test_metrics_are_thread_safe() -> None:
    m = Metrics()

    def work() -> None:
        for _ in range(1000):
            m.record_call("X", 0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.calls("X") == 8000
    assert get_metrics() is get_metrics()


# --- logging -------------------------------------------------------------------------------------------
def test_json_lines_carry_bound_and_per_record_fields() -> None:
    out = io.StringIO()
    configure("DEBUG", stream=out)
    try:
        log = get_logger("steps.allocate")
        assert log.name == "podnet.steps.allocate" and get_logger("podnet.x").name == "podnet.x"
        with bind(pod="default/web-0", step="allocate"):
            with bind(request_id="req-1"):
                log.info("created %s", "eni-1", extra=fields(eni="eni-1"))
                assert bound() == {"pod": "default/web-0", "step": "allocate", "request_id": "req-1"}
            log.warning("after inner bind")
        log.info("outside")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    finally:
        unconfigure()
    assert logging.getLogger("podnet").propagate and not logging.getLogger("podnet").handlers
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["msg"] == "created eni-1" and lines[0]["eni"] == "eni-1"
    assert lines[0]["pod"] == "default/web-0" and lines[0]["request_id"] == "req-1"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "podnet.steps.allocate" and lines[0]["ts"]
    assert "request_id" not in lines[1] and lines[1]["step"] == "allocate"
    assert "pod" not in lines[2]
    assert "ValueError: bad" in lines[3]["exc"]


def test_bound_fields_do_not_leak_across_threads() -> None:
    seen: dict[str, dict[str, object]] = {}

    def worker(name: str) -> None:
        with bind(pod=name):
            seen[name] = bound()

    with bind(pod="main"):
        t = threading.Thread(target=worker, args=("other",))
        t.start()
        t.join()
        assert bound() == {"pod": "main"}
    assert seen["other"] == {"pod": "other"}


def test_formatter_alone() -> None:
    rec = logging.LogRecord("podnet.x", logging.INFO, __file__, 1, "hi %d", (1,), None)
    assert json.loads(JsonFormatter().format(rec))["msg"] == "hi 1"


# --- settings --------------------------------------------------------------------------------------------
def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.queue_prefix, s.platform, s.default_eni_type) == ("podnet", "ack", "Trunk")
    assert (s.max_attempts, s.system_namespace) == (12, "kube-system")
    assert (s.max_interfaces, s.gc_grace_s, s.sweep_period_s, s.max_instances) == (8, 600.0, 60.0, 1)
    assert s.ecs_endpoint == "" and s.cloud_protocol == "https"


def test_everything_from_env() -> None:
    s = Settings.from_env(
        {
            "PODNET_CLUSTER_ID": "c-123",
            "PODNET_REGION": "cn-shanghai",
            "PODNET_PLATFORM": "ACS",
            "PODNET_DEFAULT_ENI_TYPE": "eni",
            "PODNET_MAX_INTERFACES": "4",
            "PODNET_GC_GRACE": "1h30m",
            "PODNET_SWEEP_PERIOD": "45s",
            "PODNET_QUEUE_PREFIX": "q",
            "PODNET_MAX_ATTEMPTS": "5",
            "PODNET_SYSTEM_NAMESPACE": "podnet-system",
            "PODNET_MNS_ENDPOINT": "http://1.mns.cn-shanghai.aliyuncs.com",
            "PODNET_MAX_INSTANCES": "20",
            "PODNET_RATE_LIMITS": '{"DescribeVSwitches": 100}',
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk-secret",
            "PODNET_KUBE_URL": "https://k:6443",
        }
    )
    assert s.cluster_id == "c-123" and s.region == "cn-shanghai" and s.platform == "acs"
    assert s.default_eni_type == "ENI" and s.max_interfaces == 4
    assert s.gc_grace_s == 5400 and s.sweep_period_s == 45
    assert (s.queue_prefix, s.max_attempts, s.system_namespace, s.max_instances) == ("q", 5, "podnet-system", 20)
    assert s.ecs_endpoint == "ecs.cn-shanghai.aliyuncs.com" and s.vpc_endpoint == "vpc.cn-shanghai.aliyuncs.com"
    assert s.rate_limits == {"DescribeVSwitches": 100.0}
    assert "sk-secret" not in repr(s)
    assert s.require("cluster_id", "region") is s
    with pytest.raises(PermanentError, match="kubeconfig"):
        s.require("kubeconfig")


@pytest.mark.parametrize(
    "env",
    [
        {"PODNET_PLATFORM": "gke"},
        {"PODNET_DEFAULT_ENI_TYPE": "Default"},
        {"PODNET_MAX_INTERFACES": "0"},
        {"PODNET_MAX_INSTANCES": "many"},
        {"PODNET_GC_GRACE": "soon"},
        {"PODNET_RATE_LIMITS": "[]"},
        {"PODNET_CLOUD_PROTOCOL": "ftp"},
    ],
)
def test_bad_values_are_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(PermanentError) as ei:
        Settings.from_env(env)
    assert ei.value.code == "ConfigError" and next(iter(env)) in str(ei.value)


def test_parse_duration() -> None:
    assert parse_duration("90") == 90 and parse_duration(5) == 5.0
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5 and parse_duration("48h") == 172800
    for bad in ("", "10x", "m", "1m 2s", "2d"):  # Go durations: no days
        with pytest.raises(ValueError):
            parse_duration(bad)
