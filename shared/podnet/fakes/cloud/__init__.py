"""Fake cloud service: state model (backend.py) apart from the HTTP layer (server.py)."""

from podnet.fakes.cloud.backend import CloudApiError, CloudBackend, Eni, Instance, VSwitch
from podnet.fakes.cloud.server import FakeCloudServer, serve

__all__ = ["CloudApiError", "CloudBackend", "Eni", "FakeCloudServer", "Instance", "VSwitch", "serve"]
