"""Every step is idempotent: duplicated delivery and a crash after any side effect end in the clean run's state.

For each scenario: run it clean and count the side effects (Kubernetes writes, cloud writes, queue
sends); run it with every message handled twice; then run it once per side effect N, with the
function dying right after the N-th. The final state (PodENI phases and allocations, the cloud's
ENIs, every vSwitch's free-IP count) must equal the clean run's: no extra ENI, no IP lost.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from podnet.local.runner import LocalSystem
from tests.control.crash_helpers import Counter, instrument, replay_twice
from tests.control.scenario_helpers import fixed, iface, pod, podnetworking, state_digest, system


def elastic(s: LocalSystem) -> None:
    s.apply([podnetworking("a", ["vsw-g1"]), podnetworking("b", ["vsw-g2"])])
    s.apply([pod("keep", [iface("eth0", "a")]), pod("app", [iface("eth0", "a"), iface("eth1", "b")])])
    s.delete_pod("app")


def fixed_ttl(s: LocalSystem) -> None:
    s.apply([podnetworking("f", ["vsw-g1"], **fixed("TTL", "1h")), podnetworking("e", ["vsw-g2"])])
    s.apply([pod("web-0", [iface("eth0", "f"), iface("eth1", "e")]), pod("web-1", [iface("eth0", "f")])])
    s.delete_pod("web-0")
    s.delete_pod("web-1")
    s.apply([pod("web-0", [iface("eth0", "f"), iface("eth1", "e")])])
    s.advance("2h")


SCENARIOS: dict[str, Callable[[LocalSystem], None]] = {"elastic": elastic, "fixed_ttl": fixed_ttl}


def run(scenario: Callable[[LocalSystem], None], counter: Counter | None = None, twice: bool = False) -> dict:
    with system() as s:
        if counter is not None:
            instrument(s, counter)
        if twice:
            replay_twice(s)
        scenario(s)
        s.run_until_quiescent()
        assert not s.dead_letters(), "a message was dead-lettered"
        return state_digest(s)


@pytest.fixture(scope="module")
def clean() -> dict[str, tuple[dict, int]]:
    out = {}
    for name, scenario in SCENARIOS.items():
        counter = Counter()
        out[name] = (run(scenario, counter), counter.count)
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_clean_runs_do_what_they_should(name, clean):
    digest, side_effects = clean[name]
    assert side_effects > 10
    if name == "elastic":
        assert set(digest["podENIs"]) == {"keep"} and digest["podENIs"]["keep"]["phase"] == "Bind"
        assert len(digest["enis"]) == 1 and digest["free"]["vsw-g1"] == 251 and digest["free"]["vsw-g2"] == 252
    else:
        assert set(digest["podENIs"]) == {"web-0"} and digest["podENIs"]["web-0"]["phase"] == "Bind"
        assert len(digest["enis"]) == 2


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_message_delivered_twice(name, clean):
    assert run(SCENARIOS[name], twice=True) == clean[name][0]


@pytest.mark.parametrize("name", SCENARIOS)
def test_crash_after_every_side_effect(name, clean):
    expected, total = clean[name]
    failures = []
    for n in range(1, total + 1):
        counter = Counter(crash_after=n)
        got = run(SCENARIOS[name], counter)
        if got != expected:
            failures.append((n, counter.crashed_at, got))
    assert not failures, f"{len(failures)} of {total} crash points diverged; first: {failures[0]}"
