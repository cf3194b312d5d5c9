"""pytest fixtures for the fake mns service (registered in tests/conftest.py).

``mns_clock`` is the SimClock the backend runs on; override it to share one clock across fakes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mns.account import Account

from podnet.clock import SimClock
from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.server import FakeMNSServer


@pytest.fixture
def mns_clock() -> SimClock:
    """The simulated clock of the fake MNS (delays, visibility, retention)."""
    return SimClock()


@pytest.fixture
def mns_backend(mns_clock: SimClock) -> Iterator[MNSBackend]:
    """A fresh fake MNS state on ``mns_clock``."""
    backend = MNSBackend(clock=mns_clock, seed=0)
    yield backend
    backend.close()


@pytest.fixture
def mns_server(mns_backend: MNSBackend) -> Iterator[FakeMNSServer]:
    """A running fake MNS endpoint over ``mns_backend`` (no signature checks)."""
    with FakeMNSServer(mns_backend) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def mns_account(mns_server: FakeMNSServer) -> Iterator[Account]:
    """The real SDK's ``mns.account.Account`` pointed at ``mns_server``."""
    account = Account(mns_server.url, "ak", "sk")
    yield account
    account.mns_client.close_connection()
