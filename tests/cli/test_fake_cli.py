"""`podnet fake kube|cloud|mns --port N`: each fake runs on its own, prints its URL, and serves the real SDKs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = """
kind: Scenario
cloud:
  region: cn-beijing
  vSwitches:
  - {id: vsw-a, zone: cn-beijing-g, cidr: 10.0.1.0/24, availableIPs: 3}
nodes:
- {name: node-g1, zone: cn-beijing-g, trunk: true}
steps: []
"""


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "podnet.cli", "fake", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("fake did not stop on SIGINT")


def test_fake_kube_serves_the_kubernetes_client():
    from kubernetes import client

    from podnet.fakes.kube.server import kube_client_config

    proc, url = start("kube")
    try:
        with client.ApiClient(kube_client_config(url)) as api:
            core = client.CoreV1Api(api)
            core.create_namespaced_config_map("default", {"metadata": {"name": "x"}, "data": {"a": "1"}})
            assert core.read_namespaced_config_map("x", "default").data == {"a": "1"}
    finally:
        stop(proc)


def test_fake_cloud_seeded_from_a_scenario(tmp_path: Path):
    from alibabacloud_tea_openapi.utils_models import Config
    from alibabacloud_vpc20160428 import models as vm
    from alibabacloud_vpc20160428.client import Client

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    proc, url = start("cloud", "--scenario", str(scenario))
    try:
        vpc = Client(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-beijing",
                            endpoint=url.removeprefix("http://"), protocol="http"))
        got = vpc.describe_vswitches(vm.DescribeVSwitchesRequest(region_id="cn-beijing", v_switch_id="vsw-a"))
        (vsw,) = got.body.v_switches.v_switch
        assert (vsw.zone_id, vsw.available_ip_address_count) == ("cn-beijing-g", 3)
    finally:
        stop(proc)


def test_fake_mns_serves_the_mns_sdk():
    from mns.account import Account
    from mns.queue import Message, QueueMeta

    proc, url = start("mns")
    try:
        q = Account(url, "ak", "sk").get_queue("q1")
        q.create(QueueMeta())
        q.set_encoding(False)
        q.send_message(Message("hello"))
        assert q.receive_message(wait_seconds=1).message_body == "hello"
    finally:
        stop(proc)


def test_scenario_only_for_the_cloud(tmp_path: Path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    r = subprocess.run([sys.executable, "-m", "podnet.cli", "fake", "kube", "--scenario", str(scenario)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "cloud fake only" in r.stderr
