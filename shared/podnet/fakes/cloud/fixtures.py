"""pytest fixtures for the fake cloud service (registered in tests/conftest.py).

``cloud_backend``: a fresh CloudBackend on a SimClock (start 2025-01-01T00:00:00Z) with
``vsw-g1`` (cn-hangzhou-g, 10.0.1.0/24), ``vsw-g2`` (cn-hangzhou-g, 10.0.2.0/24),
``vsw-h1`` (cn-hangzhou-h, 10.0.3.0/24) and one trunk node ``node-g1`` in cn-hangzhou-g
(the ``trunk_node`` fixture).
``cloud_server``: a started FakeCloudServer over it. ``ecs_client`` / ``vpc_client``: the real Tea
SDK clients pointed at it (imported lazily, so suites that never use them do not pay for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from podnet.clock import SimClock
from podnet.fakes.cloud.backend import CloudBackend, Instance
from podnet.fakes.cloud.server import FakeCloudServer

REGION = "cn-hangzhou"
ZONE_G = "cn-hangzhou-g"
ZONE_H = "cn-hangzhou-h"


def tea_config(server: FakeCloudServer, region: str = REGION) -> Any:
    """A Tea ``Config`` for the fake: plain http, short timeouts, fake credentials."""
    from alibabacloud_tea_openapi.utils_models import Config

    return Config(
        access_key_id="ak",
        access_key_secret="sk",
        region_id=region,
        endpoint=server.endpoint,
        protocol="http",
        read_timeout=5000,
        connect_timeout=2000,
    )


@pytest.fixture
def cloud_backend() -> CloudBackend:
    backend = CloudBackend(SimClock(), region=REGION)
    backend.add_vswitch("vsw-g1", ZONE_G, "10.0.1.0/24")
    backend.add_vswitch("vsw-g2", ZONE_G, "10.0.2.0/24")
    backend.add_vswitch("vsw-h1", ZONE_H, "10.0.3.0/24")
    backend.add_instance("node-g1", ZONE_G, trunk=True)
    return backend


@pytest.fixture
def trunk_node(cloud_backend: CloudBackend) -> Instance:
    """The seeded trunk node ``node-g1`` (add_instance is idempotent)."""
    return cloud_backend.add_instance("node-g1", ZONE_G, trunk=True)


@pytest.fixture
def cloud_server(cloud_backend: CloudBackend) -> Iterator[FakeCloudServer]:
    with FakeCloudServer(cloud_backend) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def ecs_client(cloud_server: FakeCloudServer) -> Any:
    from alibabacloud_ecs20140526.client import Client

    return Client(tea_config(cloud_server))


@pytest.fixture
def vpc_client(cloud_server: FakeCloudServer) -> Any:
    from alibabacloud_vpc20160428.client import Client

    return Client(tea_config(cloud_server))
