"""Fake cloud service: state model (backend.py) apart from the HTTP layer (server.py)."""
