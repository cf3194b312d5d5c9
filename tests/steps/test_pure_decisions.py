"""Pure domain decisions: vSwitch selection, release/TTL arithmetic, ClientTokens, envelopes, routing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from podnet.domain.release import ReleaseAction, decide_release, is_fixed, ttl_due_at
from podnet.domain.tokens import eni_client_token
from podnet.domain.vswitch import NoVSwitchAvailable, order_vswitches, select_vswitch
from podnet.ports import VSwitchInfo
from podnet.steps.messages import BadMessage, Envelope, parse_envelope
from podnet.steps.routing import route_event

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
INFOS = {
    "a": VSwitchInfo("a", "z1", "10.0.1.0/24", 10),
    "b": VSwitchInfo("b", "z1", "10.0.2.0/24", 50),
    "c": VSwitchInfo("c", "z2", "10.0.3.0/24", 99),
    "d": VSwitchInfo("d", "z1", "10.0.4.0/24", 0),
}


# --- vSwitch selection ---------------------------------------------------------------------------
def test_ordered_keeps_user_order_within_zone():
    assert order_vswitches(["a", "b", "c"], "ordered", INFOS, zone="z1")[0] == ["a", "b"]


def test_most_prefers_free_ips():
    assert order_vswitches(["a", "b"], "most", INFOS, zone="z1")[0] == ["b", "a"]


def test_random_is_deterministic_per_seed_and_varies_across_seeds():
    picks = {tuple(order_vswitches(["a", "b"], "random", INFOS, zone="z1", seed=str(i))[0]) for i in range(20)}
    assert picks == {("a", "b"), ("b", "a")}
    assert order_vswitches(["a", "b"], "random", INFOS, zone="z1", seed="x") == order_vswitches(
        ["a", "b"], "random", INFOS, zone="z1", seed="x"
    )


def test_exhausted_and_empty_vswitches_are_skipped():
    assert select_vswitch(["d", "a"], "ordered", INFOS, zone="z1").vswitch_id == "a"
    assert select_vswitch(["a", "b"], "ordered", INFOS, zone="z1", exhausted={"a"}).vswitch_id == "b"


def test_no_vswitch_names_every_reason():
    with pytest.raises(NoVSwitchAvailable) as e:
        select_vswitch(["c", "d", "zz"], "ordered", INFOS, zone="z1")
    msg = str(e.value)
    assert "c: in zone z2" in msg and "d: no IP left" in msg and "zz: not found" in msg and e.value.code == "NoAvailableVSwitch"


# --- release and TTL -----------------------------------------------------------------------------
ELASTIC = {"type": "Elastic"}
TTL_1H = {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "1h"}
NEVER = {"type": "Fixed", "releaseStrategy": "Never"}


def test_elastic_is_deleted_at_once():
    assert decide_release([ELASTIC], phase="Bind", pod_last_seen=None, now=T0).action is ReleaseAction.DELETE


def test_fixed_is_detached_first():
    assert decide_release([TTL_1H], phase="Bind", pod_last_seen=None, now=T0).action is ReleaseAction.DETACH
    assert is_fixed([ELASTIC, TTL_1H]) and not is_fixed([ELASTIC])


def test_ttl_never_early_and_due_exactly_at_deadline():
    d = decide_release([TTL_1H], phase="Unbind", pod_last_seen=T0, now=T0 + timedelta(minutes=59, seconds=59))
    assert d.action is ReleaseAction.KEEP and d.due_at == T0 + timedelta(hours=1)
    assert decide_release([TTL_1H], phase="Unbind", pod_last_seen=T0, now=T0 + timedelta(hours=1)).action is ReleaseAction.DELETE


def test_never_and_bad_ttl_keep_forever():
    for at in (NEVER, {"type": "Fixed", "releaseStrategy": "TTL", "releaseAfter": "soon"}, {"type": "Fixed"}):
        d = decide_release([at], phase="Unbind", pod_last_seen=T0, now=T0 + timedelta(days=400))
        assert d.action is ReleaseAction.KEEP and d.due_at is None


def test_latest_ttl_wins_and_never_dominates():
    two_h = {**TTL_1H, "releaseAfter": "2h"}
    assert ttl_due_at([TTL_1H, two_h], T0) == T0 + timedelta(hours=2)
    assert ttl_due_at([TTL_1H, NEVER], T0) is None


def test_user_deleting_the_podeni_releases_even_never():
    assert decide_release([NEVER], phase="Unbind", pod_last_seen=T0, now=T0, user_deleted=True).action is ReleaseAction.DELETE


# --- ClientToken ---------------------------------------------------------------------------------
def test_client_token_is_stable_ascii_and_changes_with_the_attempt():
    t = eni_client_token("c1", "uid-1", "eth0", 0, "vsw-a")
    assert t == eni_client_token("c1", "uid-1", "eth0", 0, "vsw-a") and len(t) <= 64 and t.isascii()
    assert len({t, eni_client_token("c1", "uid-1", "eth0", 1, "vsw-a"), eni_client_token("c1", "uid-1", "eth1", 0, "vsw-a"),
                eni_client_token("c1", "uid-2", "eth0", 0, "vsw-a"), eni_client_token("c2", "uid-1", "eth0", 0, "vsw-a")}) == 5


# --- envelopes -----------------------------------------------------------------------------------
def test_envelope_round_trip_and_helpers():
    env = Envelope(step="allocate", kind="Pod", key="ns/web-0", uid="u", eventType="ADDED")
    back = parse_envelope(env.to_body())
    assert back == env and back.namespace == "ns" and back.name == "web-0"
    assert back.retry().attempt == 1 and back.retry().next("bind").attempt == 0


@pytest.mark.parametrize(
    "body, reason",
    [
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v": 2, "step": "bind", "kind": "Pod", "key": "a/b"}', "version"),
        ('{"step": "fly", "kind": "Pod", "key": "a/b"}', "step"),
        ('{"step": "bind", "kind": "Pod", "key": "a/b", "extra": 1}', "extra"),
        ("x" * 5000, "too large"),
    ],
)
def test_bad_envelopes_say_why(body, reason):
    with pytest.raises(BadMessage) as e:
        parse_envelope(body)
    assert reason in e.value.reason


# --- routing -------------------------------------------------------------------------------------
def _pod(**kw):
    md = {"name": "p", "namespace": "ns", "uid": "u", "annotations": {"k8s.aliyun.com/pod-networks-request": "[]"}}
    return {"metadata": {**md, **kw.pop("metadata", {})}, "spec": kw.pop("spec", {}), "status": kw.pop("status", {})}


def test_routing_rules():
    assert route_event("Pod", "ADDED", _pod()) == []  # not scheduled yet
    assert [e.step for e in route_event("Pod", "MODIFIED", _pod(spec={"nodeName": "n"}))] == ["allocate"]
    assert [e.step for e in route_event("Pod", "DELETED", _pod(spec={"nodeName": "n"}))] == ["release"]
    assert [e.step for e in route_event("Pod", "MODIFIED", _pod(spec={"nodeName": "n"}, status={"phase": "Succeeded"}))] == ["release"]
    assert route_event("Pod", "MODIFIED", _pod(spec={"nodeName": "n"}, metadata={"deletionTimestamp": "x"})) == []
    plain = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n"}}
    assert route_event("Pod", "ADDED", plain) == []
    assert [e.step for e in route_event("PodNetworking", "ADDED", {"metadata": {"name": "a"}})] == ["reconcile"]
    assert route_event("PodNetworking", "DELETED", {"metadata": {"name": "a"}}) == []
    deleting = {"metadata": {"name": "p", "namespace": "ns", "deletionTimestamp": "x"}, "status": {"phase": "Unbind"}}
    assert [e.step for e in route_event("PodENI", "MODIFIED", deleting)] == ["release"]
