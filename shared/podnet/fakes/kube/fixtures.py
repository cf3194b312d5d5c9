"""pytest fixtures for the fake kube service (registered in tests/conftest.py)."""
