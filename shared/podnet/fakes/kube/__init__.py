"""Fake kube service: state model (backend.py) apart from the HTTP layer (server.py)."""

from podnet.fakes.kube.backend import AdmissionRequest, AdmissionResponse, KubeBackend, Watch, WatchEvent
from podnet.fakes.kube.server import FakeKubeServer, kube_client_config, serve

__all__ = [
    "AdmissionRequest",
    "AdmissionResponse",
    "FakeKubeServer",
    "KubeBackend",
    "Watch",
    "WatchEvent",
    "kube_client_config",
    "serve",
]
