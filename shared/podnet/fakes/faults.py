"""Seeded, deterministic fault injection shared by all fakes.

A rule says: for this service and action, with this probability (and at most ``count`` times),
do this to the call. Each (service, action) pair draws from its own RNG seeded from the injector's
seed, so one action's faults do not shift when another action is called more or less often.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "throttle",  # ECS/VPC: 400 Throttling.User; MNS: 503/Throttling; kube: 429
    "unavailable",  # 503 ServiceUnavailable
    "latency",  # sleep latency_s before answering (real seconds)
    "lose_response",  # do the side effect, then drop the connection without answering
    "error",  # answer with the given status and code without doing anything
    "duplicate",  # MNS: deliver a received message again (stays visible)
]


@dataclass
class FaultRule:
    """One fault: where it applies, how often, and what it does."""

    service: str  # "ecs", "vpc", "mns", "kube"
    kind: FaultKind
    action: str = "*"  # the action/verb name, "*" for all
    rate: float = 1.0  # probability per matching call
    count: int | None = None  # fire at most this many times (None: unlimited)
    latency_s: float = 0.0
    status: int = 400
    code: str = ""
    message: str = ""
    fired: int = field(default=0, compare=False)

    def matches(self, service: str, action: str) -> bool:
        return self.service == service and self.action in ("*", action)


class FaultInjector:
    """Decides, deterministically for a seed, which faults hit each call."""

    def __init__(self, seed: int = 0, rules: list[FaultRule] | None = None) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = list(rules or [])
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self._lock = threading.Lock()

    def add(self, rule: FaultRule | None = None, **kwargs: object) -> FaultRule:
        """Add a rule (a FaultRule, or its fields as keyword arguments)."""
        r = rule or FaultRule(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(r)
        return r

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _rng(self, service: str, action: str) -> random.Random:
        key = (service, action)
        if key not in self._rngs:
            digest = hashlib.sha256(f"{self.seed}/{service}/{action}".encode()).digest()
            self._rngs[key] = random.Random(int.from_bytes(digest[:8], "big"))
        return self._rngs[key]

    def decide(self, service: str, action: str) -> list[FaultRule]:
        """Return the rules that fire for this call, in the order they were added."""
        out: list[FaultRule] = []
        with self._lock:
            for rule in self.rules:
                if not rule.matches(service, action):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.rate < 1.0 and self._rng(service, action).random() >= rule.rate:
                    continue
                rule.fired += 1
                out.append(rule)
        return out
