"""pytest fixtures for the fake kube service (registered in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from podnet.clock import SimClock
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer, kube_client_config

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@pytest.fixture
def kube_clock() -> SimClock:
    """The simulated clock behind ``kube_backend`` (creation/deletion timestamps)."""
    return SimClock()


@pytest.fixture
def kube_backend(kube_clock: SimClock) -> KubeBackend:
    """A fresh in-memory kube state on a SimClock."""
    return KubeBackend(clock=kube_clock)


@pytest.fixture
def kube_server(kube_backend: KubeBackend) -> Iterator[FakeKubeServer]:
    """A started FakeKubeServer over ``kube_backend`` (bookmarks every 0.2 s to keep tests quick)."""
    server = FakeKubeServer(kube_backend, bookmark_interval_s=0.2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_api_client(kube_server: FakeKubeServer) -> Iterator[ApiClient]:
    """A real ``kubernetes.client.ApiClient`` pointed at ``kube_server``."""
    from kubernetes import client

    api = client.ApiClient(kube_client_config(kube_server.url))
    try:
        yield api
    finally:
        api.close()
