"""Fake kube service: state model (backend.py) apart from the HTTP layer (server.py)."""
